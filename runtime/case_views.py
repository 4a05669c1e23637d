"""The case read model's store: write a case's view if it is newer, read one, list them.

The case writes its own view (activities/case_views.py) whenever what it shows changes; a
write keeps the newer version, in one statement (INSERT ... ON CONFLICT DO UPDATE WHERE
the stored version is older), so a retried or replayed write never puts an older state over
a newer one, and two writers never race between a look-up and a write.

`smo db rebuild-read-model` writes views too, from the workflows themselves, marked as not
the case's own (`by_case` false): a running case's view that the case has not written since
is read from the case itself (service/views.py), because a run that started before the read
model existed never writes one.

Reads go through SQLAlchemy Core, not the ORM: they are the service's hottest path.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from sqlalchemy import ColumnElement, Engine, and_, bindparam, exists, func, or_, select

from models.api import CaseSummary
from models.case import CaseStatus, SlaState, Stage
from models.case_view import CaseViewWrite
from models.case_view_table import CaseViewRow
from models.db import table, upsert_insert
from models.retention_tables import CaseErasureRow, CaseHoldRow

VIEWS = table(CaseViewRow)
c = VIEWS.c
_HOLDS, _ERASURES = table(CaseHoldRow), table(CaseErasureRow)
# Built once: every API call and page reads a view (a statement built per call costs its cache key).
_VIEW = (c.program, c.stage, c.version, c.running, c.by_case, c.body)
_READ = select(*_VIEW).where(c.case_id == bindparam("case_id"))
_READ_RETENTION = select(
    *_VIEW,
    exists().where(_HOLDS.c.case_id == c.case_id).label("held"),
    exists().where(_ERASURES.c.case_id == c.case_id).label("erased"),
).where(c.case_id == bindparam("case_id"))
_SUMMARY = (
    VIEWS.c.case_id,
    VIEWS.c.stage,
    VIEWS.c.program,
    VIEWS.c.specialty,
    VIEWS.c.sla_state,
    VIEWS.c.due_at,
    VIEWS.c.attention,
    VIEWS.c.running,
)


@dataclass(frozen=True)
class StoredView:
    """A case's row: what the edges decide on, and its status (parsed when first asked)."""

    program: str
    stage: str
    version: int
    running: bool
    by_case: bool  # written by the case itself (not by a rebuild)
    body: str
    # Whether the case has a legal hold or an erasure stub: read with the row, so the status of
    # a case with neither (almost every one) needs no second look (web/api/retention.py).
    held: bool = True
    erased: bool = True

    @cached_property
    def status(self) -> CaseStatus:
        return CaseStatus.model_validate_json(self.body)

    @property
    def current(self) -> bool:
        """Whether the view is the case as it shows now: kept by the case, or of an ended case."""
        return self.by_case or not self.running


@dataclass(frozen=True, slots=True)
class ListFilter:
    stage: Stage | None = None
    program: str | None = None
    overdue: bool = False
    due_within: timedelta | None = None
    attention: bool = False
    scope: Collection[str] = ()  # a token's programs: none means every program


def utc(moment: datetime | None) -> datetime | None:
    """SQLite keeps no zone: every moment goes in as UTC and comes out marked as UTC."""
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class CaseViews:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, view: CaseViewWrite, *, by_case: bool = True) -> int:
        """Store `view` unless a newer (or the same) version is there; the version stored after."""
        status = view.status
        values = {
            "case_id": status.case_id,
            "version": view.version,
            "program": status.program,
            "stage": status.stage.value,
            "specialty": status.specialty,
            "sla_state": status.sla.state.value,
            # The deadline the list filters on is the one the case publishes (once it runs).
            "due_at": utc(status.sla.due_at) if status.sla.state is not SlaState.NOT_STARTED else None,
            # What the desk is asked to look at, or else what a case the desk gathers records
            # for (a release, a request, a translation) waits on.
            "attention": status.attention or (status.waiting_on if status.gathering else None),
            "running": view.running,
            "by_case": by_case,
            "opened_at": utc(status.opened_at),
            "updated_at": datetime.now(UTC),
            "body": status.model_dump_json(),
        }
        with self.engine.begin() as conn:
            insert = upsert_insert(conn)(VIEWS)
            changed = {k: insert.excluded[k] for k in values if k != "case_id"}
            conn.execute(
                insert.values(values).on_conflict_do_update(
                    index_elements=["case_id"], set_=changed, where=VIEWS.c.version < insert.excluded.version
                )
            )
            stored = conn.execute(
                select(VIEWS.c.version).where(VIEWS.c.case_id == status.case_id)
            ).scalar_one()
        return int(stored)

    def read(self, case_id: str, *, retention: bool = False) -> StoredView | None:
        """The case's row; with `retention`, whether it has a hold or an erasure too."""
        with self.engine.connect() as conn:
            row = conn.execute(_READ_RETENTION if retention else _READ, {"case_id": case_id}).first()
        if row is None:
            return None
        return StoredView(
            program=row.program,
            stage=row.stage,
            version=row.version,
            running=row.running,
            by_case=row.by_case,
            body=row.body,
            held=bool(row.held) if retention else True,
            erased=bool(row.erased) if retention else True,
        )

    def version(self, case_id: str) -> int | None:
        """The version of the case's own view; None when the case keeps none (yet)."""
        query = select(c.version).where(c.case_id == case_id, c.by_case.is_(True))
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else int(found)

    def list(self, where: ListFilter, limit: int, now: datetime | None = None) -> list[CaseSummary]:
        """The newest cases first (by when they were opened) that pass every filter."""
        query = (
            select(*_SUMMARY)
            .where(*_conditions(where, now or datetime.now(UTC)))
            .order_by(VIEWS.c.opened_at.desc(), VIEWS.c.case_id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            CaseSummary(
                case_id=r.case_id,
                stage=r.stage,
                program=r.program,
                specialty=r.specialty or "",
                sla_state=r.sla_state,
                due_at=utc(r.due_at),
                attention=r.attention,
                status="running" if r.running else "completed",
            )
            for r in rows
        ]

    def counts(self) -> dict[tuple[str, str], int]:
        """Open cases per (stage, program): the stage gauge."""
        query = (
            select(VIEWS.c.stage, VIEWS.c.program, func.count())
            .where(VIEWS.c.running.is_(True))
            .group_by(VIEWS.c.stage, VIEWS.c.program)
        )
        with self.engine.connect() as conn:
            return {(r[0], r[1]): int(r[2]) for r in conn.execute(query)}


def _conditions(where: ListFilter, now: datetime) -> list[ColumnElement[bool]]:
    c = VIEWS.c
    now = now.astimezone(UTC)
    found: list[ColumnElement[bool]] = []
    if where.stage is not None:
        found.append(c.stage == where.stage.value)
    if where.program is not None:
        found.append(c.program == where.program)
    if where.scope:
        found.append(c.program.in_(sorted(where.scope)))
    if where.overdue:
        found.append(
            or_(
                c.sla_state == SlaState.BREACHED.value,
                and_(
                    c.stage == Stage.UNDER_REVIEW.value,
                    c.sla_state != SlaState.PAUSED.value,
                    c.due_at < now,
                ),
            )
        )
    if where.due_within is not None:
        found.append(
            and_(
                c.stage == Stage.UNDER_REVIEW.value,
                c.sla_state.in_([SlaState.RUNNING.value, SlaState.WARNING.value]),
                c.due_at <= now + where.due_within,
            )
        )
    if where.attention:
        found.append(c.attention.is_not(None))
    return found
