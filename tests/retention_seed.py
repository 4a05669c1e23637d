"""Cases as the retention tests find them: closed (or not) some years ago, with documents in the store
and every row of the case DB that could tell who their member is.

A real case takes minutes of workflow to reach CLOSED; retention only reads the case DB and the
store, so these write what a closed case leaves there directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from models import db as tables
from models.intake_tables import IntakeConfirmation
from models.portal_tables import PortalLink, PortalSession
from models.retention_tables import CaseHoldRow, CaseKeyRow
from runtime.case_retention import MEMBER_TABLES
from runtime.documents import DocumentStore

POLICY = "KH-DEMO-0001"
NOW = datetime.now(UTC)


def years_ago(years: float) -> datetime:
    return NOW - timedelta(days=365.25 * years)


@dataclass
class SeededCase:
    case_id: str
    doc_ids: list[str]


def seed_case(
    engine: Engine,
    store: DocumentStore,
    case_id: str,
    *,
    program: str = "prudential-kh",
    closed: datetime | None = None,
    documents: int = 2,
    named: Path | None = None,
) -> SeededCase:
    """A case row closed at `closed` (None: still open), its documents stored and registered, and
    its member's rows: consult hours, a held slot, a portal link and session, a confirmation."""
    opened = (closed or NOW) - timedelta(days=40)
    row = tables.CaseRow(
        case_id=case_id,
        program=program,
        policy_number=POLICY,
        life_assured_ref=hashlib.sha256(case_id.encode()).hexdigest(),
        condition_key="C50",
        icd10="C50.912",
        stage="CLOSED" if closed else "UNDER_REVIEW",
        opened_at=opened,
        closed_at=closed,
    )
    stored = [store.put_bytes(f"{case_id} record {n}\n".encode() * 50, case_id) for n in range(documents)]
    if named is not None:
        stored.append(store.put_file(named, case_id))
    until = NOW + timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(insert(tables.table(tables.CaseRow)), tables.values_of(row))
        for doc in stored:
            conn.execute(
                insert(tables.table(tables.DocumentRow)),
                {"case_id": case_id, "doc_id": doc.doc_id, "record_type": "biopsy_report", "size": doc.size},
            )
        tag = hashlib.sha256(f"token:{case_id}".encode()).hexdigest()
        conn.execute(
            insert(tables.table(tables.MemberConsultHours)),
            {"case_id": case_id, "timezone": "Asia/Phnom_Penh", "hours": "08:00-21:00"},
        )
        conn.execute(
            insert(tables.table(tables.ConsultHold)),
            # A slot of its own: two seeded cases never hold the same one.
            {
                "specialist_id": "SP-ONC-001",
                "start": NOW + timedelta(minutes=int(tag[:6], 16)),
                "case_id": case_id,
            },
        )
        conn.execute(
            insert(tables.table(PortalLink)),
            {"token_hash": tag, "case_id": case_id, "dob_hash": tag, "expires_at": until},
        )
        conn.execute(
            insert(tables.table(PortalSession)),
            {"sid_hash": tag, "case_id": case_id, "actor": "member", "expires_at": until},
        )
        conn.execute(
            insert(tables.table(IntakeConfirmation)),
            {"token_hash": tag, "case_id": case_id, "expires_at": until},
        )
    return SeededCase(case_id, [d.doc_id for d in stored])


def hold(engine: Engine, case_id: str, by: str = "legal") -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(tables.table(CaseHoldRow)),
            {"case_id": case_id, "reason": "a claim dispute", "held_by": by},
        )


def make_legacy(engine: Engine, case_id: str) -> None:
    """The case as migration 0010 marks one opened before per-case keys."""
    keys = tables.table(CaseKeyRow)
    with engine.begin() as conn:
        conn.execute(keys.update().where(keys.c.case_id == case_id).values(legacy=True))


def member_rows(engine: Engine, case_id: str) -> dict[str, int]:
    """How many rows each member table holds for the case."""
    counts = {}
    with engine.connect() as conn:
        for model in MEMBER_TABLES:
            rows = tables.table(model)
            counts[rows.name] = conn.execute(
                select(func.count()).select_from(rows).where(rows.c.case_id == case_id)
            ).scalar_one()
    return counts


def case_row(engine: Engine, case_id: str) -> tables.CaseRow:
    cases = tables.table(tables.CaseRow)
    with engine.connect() as conn:
        found = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().one()
    return tables.CaseRow.model_validate(dict(found))


def objects_of(store: DocumentStore, case_id: str) -> list[str]:
    return list(store.blobs.keys(f"cases/{case_id}/"))


def audit_actions(engine: Engine, case_id: str) -> list[tuple[str, str, str]]:
    events = tables.table(tables.AuditEvent)
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.actor, events.c.action, events.c.outcome)
            .where(events.c.case_id == case_id)
            .order_by(events.c.id)
        ).all()
    return [(r.actor, r.action, r.outcome) for r in rows]
