"""Each case's documents under its own key: two cases never share an object, a case reads only its
own, and erasing a case (destroying its key, removing `cases/<case>/`) leaves nothing of it
readable or listed. On each backend: the directory and S3 (SeaweedFS)."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from models.db import table
from models.retention_tables import CaseKeyRow
from runtime.blobs import LocalBlobs
from runtime.case_keys import CaseErased, CaseKeys
from runtime.documents import DocumentNotFound, DocumentStore
from runtime.s3 import S3Blobs
from runtime.s3_stream import PART
from security.envelope import IntegrityError
from security.keys import KeyRing
from tests.legacy_store import legacy_document
from tests.stores import raw, unfinished

SCAN = b"%PDF the same biopsy report, sent for two members"


@pytest.fixture
def store(document_store: DocumentStore) -> DocumentStore:
    return document_store


def keys_of(store: DocumentStore, case_id: str) -> list[str]:
    return sorted(store.blobs.keys(f"cases/{case_id}/"))


def folders_named(store: DocumentStore, case_id: str) -> list[str]:
    """Folders named after the case: in the directory, or those a filer-backed S3 keeps."""
    if isinstance(store.blobs, LocalBlobs):
        return [str(p) for p in store.root.rglob(case_id)]
    assert isinstance(store.blobs, S3Blobs)
    blobs = store.blobs

    async def listed(client: Any) -> list[str]:
        answer = await client.list_objects_v2(Bucket=blobs.bucket, Prefix=blobs.prefix, Delimiter="/")
        found = [p["Prefix"] for p in answer.get("CommonPrefixes", [])]
        inner = await client.list_objects_v2(Bucket=blobs.bucket, Prefix=blobs.key("cases/"), Delimiter="/")
        return found + [p["Prefix"] for p in inner.get("CommonPrefixes", [])]

    return [p for p in blobs.run(listed, "listing folders") if case_id in p]


def test_the_same_file_in_two_cases_is_two_objects_the_store_cannot_match(store: DocumentStore) -> None:
    first = store.put(io.BytesIO(SCAN), "KH-1", "biopsy.pdf")
    second = store.put(io.BytesIO(SCAN), "KH-2", "biopsy.pdf")
    assert first.created and second.created and first.doc_id == second.doc_id
    one, two = keys_of(store, "KH-1"), keys_of(store, "KH-2")
    assert len(one) == len(two) == 2  # the document and its sealed name, each
    names = {key.rpartition("/")[2] for key in one} | {key.rpartition("/")[2] for key in two}
    # One name per case (its object's and its sealed name's), keyed per case, never the digest.
    assert len(names) == 2 and first.doc_id not in names
    ciphertexts = [raw(store, key) for key in one + two if "/objects/" in key]
    assert ciphertexts[0] != ciphertexts[1]
    assert store.read_small("KH-1", first.doc_id) == store.read_small("KH-2", first.doc_id) == SCAN


def test_a_case_reads_only_its_own_documents(store: DocumentStore) -> None:
    doc = store.put_bytes(b"the member's CT report", "KH-1")
    with pytest.raises(DocumentNotFound):
        b"".join(store.open("KH-2", doc.doc_id))
    assert not store.exists("KH-2", doc.doc_id) and store.exists("KH-1", doc.doc_id)
    assert store.describe("KH-2", doc.doc_id) is None
    for wrong in ("../KH-1", "KH-1/objects", "..", "KH 1", ""):
        with pytest.raises(ValueError, match="not a case id"):
            store.put_bytes(b"x", wrong)


def test_an_object_copied_into_another_case_does_not_open_there(store: DocumentStore) -> None:
    """Someone with write access to the bucket moves one case's object under another's name."""
    doc = store.put_bytes(b"KH-1's record", "KH-1")
    store.put_bytes(b"KH-2's own record", "KH-2")
    theirs = store.key_for(store.case_keys.for_writing("KH-2"), doc.doc_id)
    store.blobs.put_new(theirs, raw(store, store.key_for(store.case_keys.for_writing("KH-1"), doc.doc_id)))
    with pytest.raises(IntegrityError):
        b"".join(store.open("KH-2", doc.doc_id))


def test_a_case_key_moved_to_another_cases_row_does_not_unwrap(store: DocumentStore) -> None:
    store.put_bytes(b"one", "KH-1")
    store.put_bytes(b"two", "KH-2")
    engine = store.case_keys.engine
    keys = table(CaseKeyRow)
    with engine.begin() as conn:
        wrapped = conn.scalar(select(keys.c.wrapped).where(keys.c.case_id == "KH-1"))
        conn.execute(update(keys).where(keys.c.case_id == "KH-2").values(wrapped=wrapped))
    with pytest.raises(IntegrityError, match="KH-2"):
        store.case_keys.for_reading("KH-2")


def test_erasing_a_case_leaves_nothing_of_it_and_nothing_more_can_be_stored_for_it(
    store: DocumentStore,
) -> None:
    kept = store.put_bytes(SCAN, "KH-2")
    docs = [store.put(io.BytesIO(SCAN), "KH-1", "biopsy.pdf"), store.put_bytes(b"a details sheet", "KH-1")]
    assert store.erase_case("KH-1") == 2
    assert keys_of(store, "KH-1") == []
    assert folders_named(store, "KH-1") == []  # not even the case's folder is left
    for doc in docs:
        with pytest.raises(CaseErased):
            b"".join(store.open("KH-1", doc.doc_id))
        assert not store.exists("KH-1", doc.doc_id)
    with pytest.raises(CaseErased):
        store.put_bytes(b"anything", "KH-1")
    assert store.read_small("KH-2", kept.doc_id) == SCAN  # the other case's copy is its own
    assert store.erase_case("KH-1") == 0  # again: nothing left, nothing fails


def test_an_erasure_stopped_after_the_key_is_gone_is_finished_by_running_it_again(
    store: DocumentStore,
) -> None:
    store.put_bytes(b"a record", "KH-1")
    store.case_keys.destroy("KH-1")  # what a purge killed right after its first step leaves
    assert keys_of(store, "KH-1") != []
    assert store.erase_case("KH-1") == 1
    assert keys_of(store, "KH-1") == []


def test_a_legacy_cases_old_shared_documents_still_read_for_it_and_never_for_a_new_case(
    store: DocumentStore,
) -> None:
    old = legacy_document(store, "OLD-1", b"a report from before case keys", "report.pdf")
    assert store.read_small("OLD-1", old) == b"a report from before case keys"
    meta = store.describe("OLD-1", old)
    assert meta is not None and meta.name == "report.pdf"
    new = store.put_bytes(b"a record sent today", "OLD-1")  # new documents go under its own key
    assert store.read_small("OLD-1", new.doc_id) == b"a record sent today"
    assert store.read_small("OLD-1", old) == b"a report from before case keys"
    # A case opened since asking for the same id: not its own. (Between the old cases the old
    # store stays what it was, shared by id, until `smo storage rekey` rewrites them.)
    store.put_bytes(b"theirs", "NEW-1")
    with pytest.raises(DocumentNotFound):
        store.read_small("NEW-1", old)
    assert store.describe("NEW-1", old) is None


def test_after_a_master_key_rotation_rewrap_lets_the_old_key_leave_the_ring(
    store: DocumentStore, keys_db: Engine
) -> None:
    old_spec = KeyRing.generate_spec("k0")
    old_ring = KeyRing.parse(old_spec)
    before = DocumentStore(store.blobs, old_ring, keys_db)
    doc = before.put_bytes(b"a record stored under the old master key", "KH-1")
    store.case_keys.destroy("KH-GONE")  # an erased case has nothing to rewrap
    rotated = KeyRing.parse(f"{KeyRing.generate_spec('k1')},{old_spec}")
    assert CaseKeys(keys_db, rotated).rewrap() == (1, 0)
    assert CaseKeys(keys_db, rotated).rewrap() == (0, 1)  # again: nothing left to do
    new_only = KeyRing.parse(f"{KeyRing.generate_spec('k9')},{rotated_current(rotated)}")
    after = DocumentStore(store.blobs, new_only, keys_db)
    assert after.read_small("KH-1", doc.doc_id) == b"a record stored under the old master key"
    with pytest.raises(IntegrityError, match="KH-1"):
        DocumentStore(store.blobs, old_ring, keys_db).read_small("KH-1", doc.doc_id)


def rotated_current(ring: KeyRing) -> str:
    """The ring's current key alone, as a spec."""
    key = base64.urlsafe_b64encode(ring.current_key).decode()
    return f"{ring.current_id}:{key}"


def test_an_upload_cut_off_part_way_leaves_nothing_of_the_case_once_it_is_erased(
    store: DocumentStore,
) -> None:
    """The process storing a large upload died mid-way: on S3 its parts stay until aborted."""
    if isinstance(store.blobs, S3Blobs):
        sink = store.blobs.sink("cases/KH-1/")
        sink.write(os.urandom(PART + 1024))  # one part sent: a multipart upload under the case
        assert any("cases/KH-1/" in key for key in unfinished(store))
    store.put_bytes(b"a record", "KH-1")
    store.erase_case("KH-1")
    assert not [key for key in unfinished(store) if "KH-1" in key]
    assert keys_of(store, "KH-1") == [] and folders_named(store, "KH-1") == []
