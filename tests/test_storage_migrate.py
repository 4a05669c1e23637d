"""`smo storage migrate --from URL --to URL`: every document copied with its name and verified by
decrypting it in the target (and hashing, for the old shared store's); a run stopped half-way is
finished by running it again; a document that fails its check is counted, said by its object's
name, and not left in the target. Both stores share the case DB that holds the case keys.

From the directory to each backend (`store_url`: the directory and S3)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from runtime.blobs import open_blobs
from runtime.documents import DocumentStore, StoredDocument
from runtime.s3_stream import PART
from runtime.store_copy import copy_one
from security.keys import KeyRing
from starter.cli import app
from tests.legacy_store import legacy_document
from tests.stores import raw, replace

SPEC = KeyRing.generate_spec("k1")


@pytest.fixture
def source(tmp_path: Path, keys_db: Engine) -> Iterator[DocumentStore]:
    store = DocumentStore(tmp_path / "old-store", KeyRing.parse(SPEC), keys_db)
    yield store
    store.close()


@pytest.fixture
def target(store_url: str, keys_db: Engine) -> Iterator[DocumentStore]:
    store = DocumentStore(open_blobs(store_url), KeyRing.parse(SPEC), keys_db)
    store.check()
    yield store
    store.close()


def filled(source: DocumentStore) -> list[StoredDocument]:
    return [
        source.put(io.BytesIO(b"%PDF biopsy report"), "KH-1", "Sokha Chan - biopsy.pdf"),
        source.put(io.BytesIO(os.urandom(PART + 4096)), "KH-1", "ct.dcm"),  # more than one part
        source.put_bytes(b'{"patient_name": "a details sheet, stored without a name"}', "KH-2"),
    ]


def key_of(store: DocumentStore, doc: StoredDocument) -> str:
    return store.key_for(store.case_keys.for_writing(doc.case_id), doc.doc_id)


def meta_key_of(store: DocumentStore, doc: StoredDocument) -> str:
    return store.meta_key(store.case_keys.for_writing(doc.case_id), doc.doc_id)


def run(source: DocumentStore, target_url: str, tmp_path: Path) -> Result:
    env = {
        "SMO_DOCUMENT_KEYS": SPEC,
        "SMO_HOME": str(tmp_path / "home"),
        "DATABASE_URL": str(source.case_keys.engine.url),
    }
    args = ["storage", "migrate", "--from", str(source.root), "--to", target_url]
    return CliRunner().invoke(app, args, env=env)


def test_every_document_is_copied_with_its_name_and_verified(
    source: DocumentStore, target: DocumentStore, store_url: str, tmp_path: Path
) -> None:
    docs = filled(source)
    result = run(source, store_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "3 documents: copied 3, verified 3, failed 0"
    for doc in docs:
        assert b"".join(target.open(doc.case_id, doc.doc_id)) == b"".join(
            source.open(doc.case_id, doc.doc_id)
        )
        assert target.describe(doc.case_id, doc.doc_id) == source.describe(doc.case_id, doc.doc_id)
    again = run(source, store_url, tmp_path)  # nothing left to copy: each is verified again
    assert again.output.splitlines()[-1] == "3 documents: copied 0, verified 3, failed 0"


def test_a_migration_stopped_half_way_is_finished_by_running_it_again(
    source: DocumentStore, target: DocumentStore, store_url: str, tmp_path: Path
) -> None:
    first, large, _ = filled(source)
    # What a run killed after its first document leaves: that one copied, the next one's name.
    assert copy_one(source, target, key_of(source, first)) == 1
    target.blobs.put_new(meta_key_of(target, large), raw(source, meta_key_of(source, large)))
    result = run(source, store_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "3 documents: copied 2, verified 3, failed 0"
    meta = target.describe(large.case_id, large.doc_id)
    assert meta is not None and meta.name == "ct.dcm"


def test_a_document_that_fails_its_check_is_counted_and_not_left_in_the_target(
    source: DocumentStore, target: DocumentStore, store_url: str, tmp_path: Path
) -> None:
    docs = filled(source)
    broken = key_of(source, docs[0])
    sealed = bytearray(raw(source, broken))
    sealed[-1] ^= 1  # one bit of the ciphertext's last tag
    replace(source, broken, bytes(sealed))
    result = run(source, store_url, tmp_path)
    assert result.exit_code == 1
    assert f"failed: {broken.rpartition('/')[2][:12]} (IntegrityError)" in result.output
    assert "Sokha" not in result.output and docs[0].doc_id[:12] not in result.output
    assert result.output.splitlines()[-1] == "3 documents: copied 3, verified 2, failed 1"
    assert not target.exists(docs[0].case_id, docs[0].doc_id)


def test_the_old_shared_stores_documents_are_copied_and_checked_against_their_ids(
    source: DocumentStore, target: DocumentStore, store_url: str, tmp_path: Path
) -> None:
    """A store from before case keys: `objects/<sha256>` under the master ring, for a legacy case."""
    data = b"%PDF a report stored before documents were kept per case"
    shared = legacy_document(source, "OLD-1", data)
    result = run(source, store_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 documents: copied 1, verified 1, failed 0"
    assert target.read_small("OLD-1", shared) == data


def test_a_source_that_is_no_store_is_refused(tmp_path: Path) -> None:
    env = {"SMO_DOCUMENT_KEYS": SPEC, "SMO_HOME": str(tmp_path / "home")}
    args = ["storage", "migrate", "--from", str(tmp_path / "nothing"), "--to", str(tmp_path / "new")]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2
    assert "no document store there" in result.output


def test_what_is_left_of_an_erased_case_is_not_carried_over(
    source: DocumentStore, target: DocumentStore, store_url: str, tmp_path: Path
) -> None:
    """A store copied from a snapshot taken before an erasure: the case's key is gone already."""
    kept, erased = filled(source)[2], source.put_bytes(b"a record of a case erased since", "KH-GONE")
    copy_one(source, target, key_of(source, erased))  # a run before the erasure had copied it
    left = key_of(source, erased)
    source.case_keys.destroy("KH-GONE")  # the erasure's first step; the store not cleaned yet
    result = run(source, store_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "3 documents: copied 3, verified 3, failed 0; 1 left of erased cases, not copied"
    )
    assert not target.blobs.exists(left) and target.read_small(kept.case_id, kept.doc_id)
