"""The case DB's side of retention: legal holds, which closed cases are due, and the erasure itself.

Erasing a case here is one transaction, run once the store has destroyed the case's key and
removed its objects (runtime/documents.py `erase_case`): the case's documents are forgotten
and so is every row that could identify its member (their consult hours, portal links and
sessions, public-form confirmations, held consult slots, the policy number and the keyed hash
on the case row). What stays is what the reports and the books need, none of it PHI: the case
row's program, stage and dates, its SLA rounds, assignments, charges, sent notices and the
append-only audit trail, and the stub (`case_erasures`) with the counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, or_, select, update

from models import db as tables
from models.intake_tables import IntakeConfirmation
from models.portal_tables import PortalLink, PortalSession
from models.retention import DueCase, ErasureResult, HoldState, HowErased
from models.retention_tables import CaseErasureRow, CaseHoldRow, CaseKeyRow
from runtime.case_keys import CaseKeys

# Every table keyed by case whose rows could tell who the member is, or reach them.
MEMBER_TABLES = (
    tables.DocumentRow,
    tables.MemberConsultHours,
    tables.ConsultHold,
    PortalLink,
    PortalSession,
    IntakeConfirmation,
    CaseHoldRow,  # a hold's reason is free text a person typed
)


def aware(value: datetime | None) -> datetime | None:
    # SQLite hands a stored instant back without its offset; every instant stored is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def case_row(engine: Engine, case_id: str) -> tables.CaseRow | None:
    cases = tables.table(tables.CaseRow)
    with engine.connect() as conn:
        found = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
    return None if found is None else tables.CaseRow.model_validate(dict(found))


# ---- holds ------------------------------------------------------------------------------


def _hold_state(row: CaseHoldRow | None, case_id: str, detail: str = "") -> HoldState:
    if row is None:
        return HoldState(case_id=case_id, held=False, detail=detail)
    return HoldState(
        case_id=row.case_id,
        held=True,
        reason=row.reason,
        held_by=row.held_by,
        held_at=aware(row.held_at),
        detail=detail,
    )


def _hold_row(conn: Connection, case_id: str) -> CaseHoldRow | None:
    holds = tables.table(CaseHoldRow)
    found = conn.execute(select(holds).where(holds.c.case_id == case_id)).mappings().first()
    return None if found is None else CaseHoldRow.model_validate(dict(found))


def hold_of(engine: Engine, case_id: str) -> HoldState | None:
    """The case's legal hold, or None when it has none."""
    with engine.connect() as conn:
        row = _hold_row(conn, case_id)
    return None if row is None else _hold_state(row, case_id)


def place_hold(engine: Engine, case_id: str, reason: str, by: str) -> tuple[HoldState, bool]:
    """Put the case under legal hold; (the hold, whether this call placed it). A case held already
    keeps the hold it has: its reason and who placed it."""
    row = {"case_id": case_id, "reason": reason, "held_by": by, "held_at": datetime.now(UTC)}
    with engine.begin() as conn:
        placed = tables.insert_new(conn, CaseHoldRow, [row], ["case_id"]) == 1
        held = _hold_row(conn, case_id)
    detail = "held" if placed else "already held"
    return _hold_state(held, case_id, detail), placed


def release_hold(engine: Engine, case_id: str) -> HoldState | None:
    """Lift the case's legal hold; the hold it had, or None when it had none."""
    holds = tables.table(CaseHoldRow)
    with engine.begin() as conn:
        held = _hold_row(conn, case_id)
        conn.execute(delete(holds).where(holds.c.case_id == case_id))
    return None if held is None else _hold_state(held, case_id)


# ---- erasures ---------------------------------------------------------------------------


def _erasure(conn: Connection, case_id: str) -> ErasureResult | None:
    erasures = tables.table(CaseErasureRow)
    found = conn.execute(select(erasures).where(erasures.c.case_id == case_id)).mappings().first()
    if found is None:
        return None
    row = dict(found)
    for key in ("opened_at", "closed_at", "erased_at"):
        row[key] = aware(row[key])
    return ErasureResult.model_validate(row)


def erasure_of(engine: Engine, case_id: str) -> ErasureResult | None:
    """The stub the case left when it was erased, or None when it was not."""
    with engine.connect() as conn:
        return _erasure(conn, case_id)


def retention_of(engine: Engine, case_id: str) -> tuple[HoldState | None, ErasureResult | None]:
    """The case's legal hold and its erasure's stub (either None), in one visit to the case DB:
    every case status the API answers shows both."""
    holds, erasures = tables.table(CaseHoldRow), tables.table(CaseErasureRow)
    either = select(exists().where(holds.c.case_id == case_id), exists().where(erasures.c.case_id == case_id))
    with engine.connect() as conn:
        # One statement says whether there is either (almost every case has neither); the rows
        # are read only when they are there.
        is_held, is_erased = conn.execute(either).one()
        held = _hold_row(conn, case_id) if is_held else None
        erased = _erasure(conn, case_id) if is_erased else None
    return (None if held is None else _hold_state(held, case_id)), erased


def key_destroyed(engine: Engine, case_id: str) -> bool:
    """Whether the case's document key was destroyed: an erasure of it has begun."""
    keys = tables.table(CaseKeyRow)
    with engine.connect() as conn:
        found = conn.execute(select(keys.c.destroyed_at).where(keys.c.case_id == case_id)).first()
    return found is not None and found.destroyed_at is not None


def when_utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "an unknown time"


@dataclass(frozen=True)
class Refusal:
    kind: str  # the activity's error type: CaseNotClosed, CaseHeld, LegacyCase
    message: str  # in words a supervisor acts on (never a hold's reason: free text)


def erasure_refusal(engine: Engine, case_keys: CaseKeys, case_id: str) -> Refusal | None:
    """Why the case cannot be erased now (the edge asks before it starts the erasure, the erase
    activity again before it begins); None when it can."""
    case = case_row(engine, case_id)
    if case is None or case.closed_at is None:
        return Refusal("CaseNotClosed", f"case {case_id} is not closed: only a closed case can be erased")
    if key_destroyed(engine, case_id):
        # An erasure was under way (stopped after the key went): what it began is finished,
        # whatever was placed on the case since, for its documents are unreadable already.
        return None
    hold = hold_of(engine, case_id)
    if hold is not None:
        return Refusal(
            "CaseHeld",
            f"case {case_id} is under legal hold since {when_utc(hold.held_at)} (by {hold.held_by}); "
            "release the hold first (smo case release)",
        )
    if case_keys.is_legacy(case_id):
        return Refusal(
            "LegacyCase",
            f"case {case_id} was opened before per-case keys and may still have documents in the "
            "shared store: run `smo storage rekey` first, then erase it",
        )
    return None


def forget_case(
    engine: Engine, case: tables.CaseRow, *, how: HowErased, reason: str, by: str, objects: int
) -> tuple[ErasureResult, bool]:
    """The case DB's part of an erasure, in one transaction: (the stub, whether this call wrote it).

    Idempotent: a case erased already is left as it is, and its stub returned. The audit event
    is written with the stub, so the trail says the case was erased exactly when it was.
    """
    case_id = case.case_id
    with engine.begin() as conn:
        done = _erasure(conn, case_id)
        if done is not None:
            return done, False
        documents = tables.table(tables.DocumentRow)
        count = conn.execute(
            select(func.count()).select_from(documents).where(documents.c.case_id == case_id)
        ).scalar_one()
        for model in MEMBER_TABLES:
            rows = tables.table(model)
            conn.execute(delete(rows).where(rows.c.case_id == case_id))
        cases = tables.table(tables.CaseRow)
        conn.execute(
            update(cases).where(cases.c.case_id == case_id).values(policy_number="", life_assured_ref="")
        )
        stub = CaseErasureRow(
            case_id=case_id,
            how=how,
            reason=reason,
            erased_by=by,
            program=case.program,
            opened_at=case.opened_at,
            closed_at=case.closed_at,
            erased_at=datetime.now(UTC),
            documents=count,
            objects=objects,
        )
        wrote = tables.insert_new(conn, CaseErasureRow, [tables.values_of(stub)], ["case_id"]) == 1
        if wrote:
            event = tables.AuditEvent(
                actor=by,
                action=f"case.{how}",
                outcome=how,
                case_id=case_id,
                detail=f"{count} documents, {objects} objects removed; {reason}"[:500],
            )
            conn.execute(insert(tables.table(tables.AuditEvent)), tables.values_of(event))
        result = _erasure(conn, case_id)
    assert result is not None
    return result, wrote


# ---- the purge's list -------------------------------------------------------------------


def due_cases(
    engine: Engine, cutoffs: Mapping[str, datetime], reasons: Mapping[str, str], *, after: str, limit: int
) -> list[DueCase]:
    """Closed cases of each program closed before its cut-off, neither held, erased nor legacy,
    and every erasure left half-done (its key destroyed, no stub), whatever its dates or hold:
    its documents are unreadable already, and its member's rows must go too. In case id order
    from after `after`, at most `limit`."""
    if not cutoffs:
        return []
    cases = tables.table(tables.CaseRow)
    holds = tables.table(CaseHoldRow)
    erasures = tables.table(CaseErasureRow)
    keys = tables.table(CaseKeyRow)
    closed_long_ago = [
        (cases.c.program == program) & (cases.c.closed_at < cutoff) for program, cutoff in cutoffs.items()
    ]
    legacy = select(keys.c.case_id).where(keys.c.legacy.is_(True), keys.c.destroyed_at.is_(None))
    half_done = select(keys.c.case_id).where(keys.c.destroyed_at.is_not(None))
    due = and_(
        or_(*closed_long_ago), cases.c.case_id.not_in(select(holds.c.case_id)), cases.c.case_id.not_in(legacy)
    )
    query = (
        select(cases.c.case_id, cases.c.program)
        .where(
            cases.c.closed_at.is_not(None),
            cases.c.case_id > after,
            cases.c.case_id.not_in(select(erasures.c.case_id)),
            or_(due, cases.c.case_id.in_(half_done)),
        )
        .order_by(cases.c.case_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [DueCase(case_id=r.case_id, program=r.program, reason=reasons[r.program]) for r in rows]
