"""The document store on S3 (SeaweedFS): large documents stream part by part with flat memory,
nothing is ever written over, an upload that stops leaves nothing, and a store that refuses the
credentials stops the service at start-up with one `error:` line."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from runtime.blobs import LocalBlobs, StoreError, StoreRefused, open_blobs
from runtime.documents import DocumentStore
from runtime.s3 import S3Blobs
from runtime.s3_stream import BLOB_META, PART
from runtime.secrets import ensure_dev_secrets
from security.keys import KeyRing
from tests.conftest import free_port
from tests.seaweed import ACCESS_KEY, SeaweedFS
from tests.stores import raw, stored_bytes, unfinished
from tests.streaming import PeakRss
from tests.test_document_io import reads_of

KEYS = KeyRing.parse(KeyRing.generate_spec("k1"))
RSS_BUDGET = 96 << 20  # as for a 1 GiB upload into the directory (tests/api/test_api_upload_memory.py)


def test_a_store_url_names_its_backend(tmp_path: Path) -> None:
    blobs = open_blobs("s3://smo-docs/cases?endpoint=http://127.0.0.1:8333&region=ap-southeast-1")
    assert isinstance(blobs, S3Blobs)
    assert (blobs.bucket, blobs.prefix, blobs.region) == ("smo-docs", "cases/", "ap-southeast-1")
    assert (blobs.endpoint, blobs.addressing) == ("http://127.0.0.1:8333", "path")
    assert isinstance(open_blobs(str(tmp_path / "a")), LocalBlobs)
    assert isinstance(open_blobs(f"file://{tmp_path / 'b'}"), LocalBlobs)
    for wrong in ("gs://bucket", "s3://?endpoint=http://x", "s3://bucket?endpont=http://x"):
        with pytest.raises(StoreError, match="SMO_STORAGE_URL"):
            open_blobs(wrong)


@pytest.fixture
def s3_store(seaweed: SeaweedFS, keys_db: Engine) -> Iterator[DocumentStore]:
    store = DocumentStore(open_blobs(seaweed.fresh_url()), KEYS, keys_db)
    store.check()
    yield store
    store.close()


@pytest.mark.s3
def test_a_large_document_is_one_object_naming_its_blob_beside_it_and_the_same_bytes_again_add_nothing(
    s3_store: DocumentStore,
) -> None:
    data = os.urandom(PART * 2 + 12345)  # three parts
    first = s3_store.put(io.BytesIO(data), "KH-1", "ct.dcm")
    assert first.created and first.doc_id == hashlib.sha256(data).hexdigest()
    blobs = s3_store.blobs
    assert isinstance(blobs, S3Blobs)
    key = s3_store.key_for(s3_store.case_keys.for_writing("KH-1"), first.doc_id)
    meta = blobs.head(key)
    assert meta is not None and meta[BLOB_META].startswith("cases/KH-1/blobs/")
    assert b"".join(s3_store.open("KH-1", first.doc_id)) == data
    again = s3_store.put(io.BytesIO(data), "KH-1", "other.dcm")
    assert not again.created and again.doc_id == first.doc_id
    assert unfinished(s3_store) == []  # the second upload's parts are gone again
    assert list(blobs.keys("cases/KH-1/blobs/")) == [meta[BLOB_META]]
    s3_store.delete("KH-1", first.doc_id)
    assert stored_bytes(s3_store) == []


@pytest.mark.s3
def test_nothing_is_written_over(s3_store: DocumentStore) -> None:
    doc = s3_store.put_bytes(b"the first record", "KH-1")
    key = s3_store.key_for(s3_store.case_keys.for_writing("KH-1"), doc.doc_id)
    before = raw(s3_store, key)
    assert not s3_store.blobs.put_new(key, b"something else")  # refused: If-None-Match
    assert raw(s3_store, key) == before
    assert s3_store.read_small("KH-1", doc.doc_id) == b"the first record"


@pytest.mark.s3
async def test_an_upload_that_stops_part_way_leaves_nothing(s3_store: DocumentStore) -> None:
    data = os.urandom(PART * 2)
    read = reads_of(data, 256 << 10)
    sent = 0

    async def stops() -> bytes:
        nonlocal sent
        chunk = await read()
        sent += len(chunk)
        if sent > PART + (1 << 20):  # a part is on its way to the bucket
            raise ConnectionResetError("the client went away")
        return chunk

    with pytest.raises(ConnectionResetError):
        await s3_store.receive(stops, client="10.0.0.1", name="scan.dcm", case_id="KH-1")
    assert unfinished(s3_store) == []
    assert stored_bytes(s3_store) == []


@pytest.mark.s3
async def test_a_large_upload_streams_into_the_bucket_with_flat_memory(s3_store: DocumentStore) -> None:
    size = 256 << 20
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    left = size

    async def read() -> bytes:
        nonlocal left
        await asyncio.sleep(0)
        if left == 0:
            return b""
        left -= len(block)
        digest.update(block)
        return block

    started = time.monotonic()
    async with PeakRss() as memory:
        stored = await s3_store.receive(read, client="10.0.0.1", case_id="KH-1", name="scan.dcm")
    elapsed = time.monotonic() - started
    print(f"\n256 MiB into S3: {elapsed:.1f}s, RSS growth {memory.growth / 1e6:.1f} MB")
    assert stored.doc_id == digest.hexdigest() and stored.size == size
    # Two parts (one filling, one on its way out), the encryptor's chunk, the client's first
    # connections and threads: the same for any size (about 20 to 50 MB here, up to 512 MiB).
    assert memory.growth < RSS_BUDGET, f"memory grew by {memory.growth / 1e6:.0f} MB for 256 MiB"
    assert unfinished(s3_store) == []


@pytest.mark.s3
def test_wrong_credentials_stop_the_service_at_start_up_with_one_error_line(
    seaweed: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys_db: Engine
) -> None:
    home = tmp_path / "smo"
    ensure_dev_secrets(home)
    env = {
        **os.environ,
        "SMO_HOME": str(home),
        "SMO_WEB_PORT": str(free_port()),
        "SMO_STORAGE_URL": seaweed.fresh_url(),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": "not-the-secret",
    }
    smo = Path(sys.executable).parent / "smo"
    done = subprocess.run([str(smo), "web"], env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "refused the credentials" in lines[0] and "not-the-secret" not in done.stderr
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = DocumentStore(open_blobs(env["SMO_STORAGE_URL"]), KEYS, keys_db)
    try:
        with pytest.raises(StoreRefused, match="refused the credentials"):
            store.check()
    finally:
        store.close()
