"""`smo storage rekey`: a case from before case keys gets its documents rewritten under its own
key, checked against their ids, with their names; a running case waits; once no old case is
left the shared objects can be removed, and never before."""

from __future__ import annotations

import pytest

from models.db import DocumentRow, insert_new, utcnow
from runtime.documents import DocumentNotFound, DocumentStore
from runtime.store_rekey import rekey
from tests.legacy_store import legacy_document
from tests.stores import raw, replace


@pytest.fixture
def store(document_store: DocumentStore) -> DocumentStore:
    return document_store


def register(store: DocumentStore, case_id: str, *doc_ids: str) -> None:
    rows = [
        {"case_id": case_id, "doc_id": d, "record_type": "lab_result", "size": 1, "registered_at": utcnow()}
        for d in doc_ids
    ]
    with store.case_keys.engine.begin() as conn:
        insert_new(conn, DocumentRow, rows, ["case_id", "doc_id"])


def test_an_old_closed_case_is_rewritten_under_its_own_key_with_its_names(store: DocumentStore) -> None:
    record = legacy_document(store, "OLD-1", b"%PDF a biopsy report", "biopsy.pdf")
    sheet = legacy_document(store, "OLD-1", b'{"patient_name": "the details sheet"}')
    register(store, "OLD-1", record)
    done = rekey(store, sheets={"OLD-1": sheet}.get, is_running=lambda _: False, prune=True)
    assert (done.cases, done.copied, done.failed, done.pruned) == (1, 2, 0, 2)
    assert not store.case_keys.is_legacy("OLD-1")
    assert list(store.blobs.keys("objects/")) == [] and list(store.blobs.keys("meta/")) == []
    assert store.read_small("OLD-1", record) == b"%PDF a biopsy report"
    assert store.read_small("OLD-1", sheet) == b'{"patient_name": "the details sheet"}'
    meta = store.describe("OLD-1", record)
    assert meta is not None and meta.name == "biopsy.pdf"
    # Now erasure is real: nothing of the case is left anywhere.
    store.erase_case("OLD-1")
    assert list(store.blobs.keys("")) == []


def test_a_running_case_waits_and_its_shared_copy_goes_once_it_is_rekeyed(store: DocumentStore) -> None:
    running = legacy_document(store, "OLD-RUN", b"a record of a case still open")
    register(store, "OLD-RUN", running)
    done = rekey(store, sheets=lambda _: None, is_running=lambda case: case == "OLD-RUN", prune=True)
    assert (done.cases, done.running, done.pruned, done.kept) == (0, 1, 0, 1)
    assert store.read_small("OLD-RUN", running) == b"a record of a case still open"
    closed = rekey(store, sheets=lambda _: None, is_running=lambda _: False)
    assert (closed.cases, closed.pruned) == (1, 1) and list(store.blobs.keys("objects/")) == []
    assert store.read_small("OLD-RUN", running) == b"a record of a case still open"


def test_a_shared_copy_another_old_case_still_reads_stays_until_that_case_is_rekeyed_too(
    store: DocumentStore,
) -> None:
    """Two members sent the same bytes before case keys: erasing one leaves the other's."""
    scan = legacy_document(store, "OLD-A", b"the same scan, sent by two members")
    register(store, "OLD-A", scan)
    register(store, "OLD-B", scan)
    done = rekey(store, sheets=lambda _: None, is_running=lambda case: case == "OLD-B")
    assert (done.cases, done.pruned) == (1, 0)
    store.erase_case("OLD-A")
    assert store.read_small("OLD-B", scan) == b"the same scan, sent by two members"
    assert rekey(store, sheets=lambda _: None, is_running=lambda _: False).pruned == 1
    assert list(store.blobs.keys("objects/")) == [] and list(store.blobs.keys("meta/")) == []


def test_prune_against_a_case_db_that_registers_nothing_removes_nothing(store: DocumentStore) -> None:
    """The wrong case DB (or a fresh one) names no document: every shared object is kept."""
    legacy_document(store, "OLD-1", b"a record only the right case DB knows")
    store.case_keys.mark_rekeyed("OLD-1")  # as if nothing were legacy here
    done = rekey(store, sheets=lambda _: None, is_running=lambda _: False, prune=True)
    assert (done.pruned, done.kept) == (0, 1)


def test_a_document_that_fails_its_check_keeps_its_case_old_and_is_not_rewritten(
    store: DocumentStore,
) -> None:
    doc = legacy_document(store, "OLD-1", b"the real record")
    register(store, "OLD-1", doc)
    sealed = bytearray(raw(store, f"objects/{doc}"))
    sealed[-1] ^= 1
    replace(store, f"objects/{doc}", bytes(sealed))
    said: list[str] = []
    done = rekey(store, sheets=lambda _: None, is_running=lambda _: False, say=said.append, prune=True)
    assert (done.cases, done.failed, done.pruned) == (0, 1, 0)
    assert said == [f"failed: case OLD-1, document {doc[:12]} (IntegrityError)"]
    assert store.case_keys.is_legacy("OLD-1") and list(store.blobs.keys("cases/")) == []
    with pytest.raises(DocumentNotFound):
        store.read_small("NEW-1", doc)
