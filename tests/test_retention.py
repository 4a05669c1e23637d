"""Erasing a closed case and finding those due, as the activities do it, on a directory and on S3,
on SQLite and PostgreSQL: what goes, what stays, what is refused, and a run killed halfway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.retention import RetentionActivities, years_before
from models.retention import EraseCase, ErasureResult, PurgeDue
from models.retention_tables import CaseKeyRow
from runtime.blobs import open_blobs
from runtime.case_keys import CaseErased
from runtime.documents import DocumentStore
from security.keys import KeyRing
from tests.retention_seed import (
    NOW,
    POLICY,
    audit_actions,
    case_row,
    hold,
    make_legacy,
    member_rows,
    objects_of,
    seed_case,
    years_ago,
)
from tests.test_programs import MINIMAL, broken, load_error
from worker import Services

ERASE = {"how": "erased", "reason": "the member asked (ticket 4411)", "by": "supervisor-ana"}


@pytest.fixture
def store(services: Services, store_url: str) -> Iterator[DocumentStore]:
    """The case DB's own store on a directory, or one in SeaweedFS (its keys in the same case DB)."""
    found = DocumentStore(
        open_blobs(store_url),
        KeyRing.parse(services.settings.document_keys.get_secret_value()),
        services.engine,
    )
    found.check()
    yield found
    found.close()


@pytest.fixture
def retention(services: Services, store: DocumentStore) -> RetentionActivities:
    return RetentionActivities(store, services.engine, services.programs)


async def erase(retention: RetentionActivities, case_id: str, **changes: str) -> ErasureResult:
    req = EraseCase.model_validate({**ERASE, **changes, "case_id": case_id})
    return await ActivityEnvironment().run(retention.erase_case, req)


async def refused(retention: RetentionActivities, case_id: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await erase(retention, case_id)
    assert info.value.non_retryable
    return info.value


def kept(documents: int) -> dict[str, int]:
    """A seeded case's member rows, all there (it is under no legal hold)."""
    return {"documents": documents, "member_consult_hours": 1, "consult_holds": 1, "portal_links": 1,
            "portal_sessions": 1, "intake_confirmations": 1, "case_holds": 0}  # fmt: skip


def key_row(services: Services, case_id: str) -> CaseKeyRow:
    from sqlmodel import Session

    with Session(services.engine) as session:
        row = session.get(CaseKeyRow, case_id)
    assert row is not None
    return row


async def test_erasing_a_closed_case_removes_its_objects_key_and_member_rows_and_leaves_a_stub(
    services: Services, store: DocumentStore, retention: RetentionActivities, tmp_path: Path
) -> None:
    named = tmp_path / "Sokha Chan biopsy.pdf"
    named.write_bytes(b"%PDF synthetic biopsy of a named member\n" * 100)
    closed = years_ago(1)
    case = seed_case(services.engine, store, "ERASE-1", closed=closed, named=named)
    other = seed_case(services.engine, store, "KEEP-1", closed=closed)
    assert len(objects_of(store, "ERASE-1")) == 4  # three documents and the sealed name of one

    stub = await erase(retention, "ERASE-1")

    assert objects_of(store, "ERASE-1") == []
    key = key_row(services, "ERASE-1")
    assert key.wrapped is None and key.destroyed_at is not None
    with pytest.raises(CaseErased):
        list(store.open("ERASE-1", case.doc_ids[0]))
    assert set(member_rows(services.engine, "ERASE-1").values()) == {0}
    row = case_row(services.engine, "ERASE-1")
    assert (row.policy_number, row.life_assured_ref) == ("", "")
    assert (row.program, row.stage, row.icd10) == ("prudential-kh", "CLOSED", "C50.912")  # the reports'
    assert stub.model_dump(exclude={"erased_at", "opened_at", "closed_at"}) == {
        "case_id": "ERASE-1",
        "how": "erased",
        "reason": "the member asked (ticket 4411)",
        "erased_by": "supervisor-ana",
        "program": "prudential-kh",
        "documents": 3,
        "objects": 3,
    }
    assert stub.closed_at is not None and abs(stub.closed_at - closed) < timedelta(seconds=1)
    assert "Sokha" not in stub.model_dump_json()
    assert audit_actions(services.engine, "ERASE-1") == [("supervisor-ana", "case.erased", "erased")]
    # Nothing of another case moved.
    assert len(objects_of(store, "KEEP-1")) == 2
    assert store.read_small("KEEP-1", other.doc_ids[0]).startswith(b"KEEP-1 record 0")
    assert case_row(services.engine, "KEEP-1").policy_number == POLICY
    assert member_rows(services.engine, "KEEP-1") == kept(documents=2)


async def test_erasing_an_erased_case_again_changes_nothing_and_answers_the_same_stub(
    services: Services, store: DocumentStore, retention: RetentionActivities
) -> None:
    seed_case(services.engine, store, "TWICE-1", closed=years_ago(2))
    first = await erase(retention, "TWICE-1")
    again = await erase(retention, "TWICE-1", how="purged", by="retention", reason="another reason")
    assert again == first
    assert audit_actions(services.engine, "TWICE-1") == [("supervisor-ana", "case.erased", "erased")]


async def test_a_case_open_unknown_held_or_legacy_is_refused_for_good_and_keeps_everything(
    services: Services, store: DocumentStore, retention: RetentionActivities
) -> None:
    engine = services.engine
    seed_case(engine, store, "OPEN-1", closed=None)
    seed_case(engine, store, "HELD-1", closed=years_ago(20))
    hold(engine, "HELD-1")
    legacy = seed_case(engine, store, "LEGACY-1", closed=years_ago(20))
    make_legacy(engine, "LEGACY-1")

    assert (await refused(retention, "OPEN-1")).type == "CaseNotClosed"
    assert (await refused(retention, "NEVER-1")).type == "CaseNotClosed"
    held = await refused(retention, "HELD-1")
    assert held.type == "CaseHeld" and "legal hold" in held.message and "a claim dispute" not in held.message
    old = await refused(retention, "LEGACY-1")
    assert old.type == "LegacyCase" and "smo storage rekey" in old.message

    for case_id in ("OPEN-1", "HELD-1", "LEGACY-1"):
        assert len(objects_of(store, case_id)) == 2
        assert case_row(engine, case_id).policy_number == POLICY
        held_rows = {"case_holds": int(case_id == "HELD-1")}
        assert member_rows(engine, case_id) == kept(documents=2) | held_rows
        assert audit_actions(engine, case_id) == []
    assert store.read_small("LEGACY-1", legacy.doc_ids[1]).startswith(b"LEGACY-1 record 1")


async def test_an_erasure_killed_halfway_through_the_store_finishes_on_its_next_run(
    services: Services, store: DocumentStore, retention: RetentionActivities
) -> None:
    seed_case(services.engine, store, "KILLED-1", closed=years_ago(11), documents=4)
    # The run got as far as the key and one object, then died; a hold placed since does not stop
    # the rest: the documents are unreadable already.
    store.case_keys.destroy("KILLED-1")
    store.blobs.delete(objects_of(store, "KILLED-1")[0])
    hold(services.engine, "KILLED-1")

    stub = await erase(retention, "KILLED-1", how="purged", by="retention", reason="kept 10 years")

    assert objects_of(store, "KILLED-1") == []
    assert (stub.documents, stub.objects) == (4, 3)
    assert set(member_rows(services.engine, "KILLED-1").values()) == {0}
    assert audit_actions(services.engine, "KILLED-1") == [("retention", "case.purged", "purged")]


async def test_the_purge_list_holds_only_closed_cases_past_their_programs_retention_not_held_erased_or_legacy(
    services: Services, store: DocumentStore, retention: RetentionActivities
) -> None:
    engine = services.engine
    for case_id, program, closed in [
        ("DUE-A", "prudential-kh", years_ago(10.1)),
        ("DUE-B", "assist-america", years_ago(12)),
        ("DUE-C", "prudential-kh", years_ago(30)),
        ("EARLY-1", "prudential-kh", years_ago(9.9)),
        ("OPEN-2", "prudential-kh", None),
        ("HELD-2", "prudential-kh", years_ago(11)),
        ("GONE-1", "prudential-kh", years_ago(11)),
        ("LEGACY-2", "prudential-kh", years_ago(11)),
        ("RETIRED-1", "no-such-program", years_ago(40)),
        ("HALF-1", "prudential-kh", years_ago(1)),
    ]:
        seed_case(engine, store, case_id, program=program, closed=closed, documents=1)
    hold(engine, "HELD-2")
    make_legacy(engine, "LEGACY-2")
    await erase(retention, "GONE-1")
    # An erasure on request that stopped after the key went (the store down an hour), then held:
    # its documents are unreadable already, and its member's rows must go, so it is due at once.
    store.case_keys.destroy("HALF-1")
    hold(engine, "HALF-1")

    async def due(after: str = "", limit: int = 50) -> tuple[list[str], bool]:
        found = await ActivityEnvironment().run(
            retention.due_for_purge, PurgeDue(now=NOW, after=after, limit=limit)
        )
        return [c.case_id for c in found.cases], found.more

    assert await due() == (["DUE-A", "DUE-B", "DUE-C", "HALF-1"], False)
    assert await due(limit=2) == (["DUE-A", "DUE-B"], True)
    assert await due(after="DUE-B", limit=3) == (["DUE-C", "HALF-1"], False)
    listed = await ActivityEnvironment().run(retention.due_for_purge, PurgeDue(now=NOW))
    reasons = {c.case_id: c.reason for c in listed.cases}
    assert reasons["DUE-B"] == services.programs["assist-america"].retention.reason


def test_retention_counts_calendar_years_back_from_a_leap_day() -> None:
    from datetime import UTC, datetime

    assert years_before(datetime(2036, 2, 29, 12, tzinfo=UTC), 10) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert years_before(datetime(2036, 3, 1, tzinfo=UTC), 10) == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"years_after_close": 0, "reason": "Kept a while."},
            "retention.years_after_close: Input should be greater",
        ),
        (
            {"years_after_close": 51, "reason": "Kept a while."},
            "retention.years_after_close: Input should be less",
        ),
        ({"years_after_close": 10}, "retention.reason: Field required"),
        ({"years_after_close": 10, "reason": "x" * 501}, "retention.reason: String should have at most 500"),
        ({"years_after_close": 10, "reason": "Kept.", "until": "never"}, "retention.until: Extra inputs"),
    ],
)
def test_a_program_states_its_retention_from_1_to_50_years_with_a_reason(
    tmp_path: Path, section: dict[str, object], message: str
) -> None:
    assert message in load_error(tmp_path, broken(retention=section))


def test_a_program_without_its_retention_does_not_load(tmp_path: Path) -> None:
    unstated = {k: v for k, v in MINIMAL.items() if k != "retention"}
    assert "demo.yaml: retention: Field required" in load_error(tmp_path, unstated)
