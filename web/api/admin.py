"""The API's reads from the case DB and the dev outbox: audit trails, the roster, sent messages.

These touch no workflow: the audit trail and the roster are tables of the case DB, the
outbox a folder that exists only under `smo dev`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.api import AuditEntry, AuditTrail, Outbox, OutboxMessage, Roster, SpecialistEntry
from models.db import Specialist
from models.input_text import NO_NUL_PATTERN
from runtime.db import audit_trail
from runtime.outbox import read_outbox
from web.api.call import Call
from web.errors import WebError


class AuditQuery(BaseModel):
    action: str | None = Field(default=None, max_length=64, pattern=NO_NUL_PATTERN)
    limit: int = Field(default=200, ge=1, le=100_000)


class SpecialistQuery(BaseModel):
    specialty: str | None = Field(default=None, max_length=40, pattern=NO_NUL_PATTERN)


class OutboxQuery(BaseModel):
    case_id: str | None = Field(default=None, max_length=64, pattern=NO_NUL_PATTERN)


def _trail(engine: Engine, case_id: str | None, action: str | None, limit: int) -> AuditTrail:
    rows = audit_trail(engine, case_id, action=action, limit=limit)
    return AuditTrail(
        events=[
            AuditEntry(
                at=r.at.replace(tzinfo=UTC) if r.at.tzinfo is None else r.at,
                case_id=r.case_id,
                actor=r.actor,
                action=r.action,
                outcome=r.outcome,
                detail=r.detail,
            )
            for r in rows
        ]
    )


async def case_audit(call: Call) -> AuditTrail:
    return await asyncio.to_thread(_trail, call.backends.engine, call.case_id, None, 1000)


async def audit_all(call: Call) -> AuditTrail:
    if call.who.programs:
        raise WebError(403, "the audit trail across cases needs a token for every program")
    q: AuditQuery = call.query
    return await asyncio.to_thread(_trail, call.backends.engine, None, q.action, q.limit)


async def list_specialists(call: Call) -> Roster:
    q: SpecialistQuery = call.query

    def rows() -> list[Specialist]:
        with Session(call.backends.engine) as session:
            query = select(Specialist)
            if q.specialty:
                query = query.where(Specialist.specialty == q.specialty)
            return list(session.exec(query))

    fields = set(SpecialistEntry.model_fields)
    return Roster(
        specialists=[SpecialistEntry(**r.model_dump(include=fields)) for r in await asyncio.to_thread(rows)]
    )


async def outbox(call: Call) -> Outbox:
    directory = call.backends.outbox_dir
    if directory is None:
        raise WebError(404, "the outbox exists only in development (smo dev)")
    if call.who.programs:
        raise WebError(403, "the outbox needs a token for every program")
    q: OutboxQuery = call.query
    messages = [
        OutboxMessage(to=str(m["To"]), subject=str(m["Subject"]), case_id=m.get("X-SMO-Case-Id"))
        for m in await asyncio.to_thread(read_outbox, directory)
    ]
    if q.case_id:
        messages = [m for m in messages if m.case_id == q.case_id]
    return Outbox(messages=messages, directory=str(directory))
