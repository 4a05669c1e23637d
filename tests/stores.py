"""What a test sees of a document store's backend: its raw objects, whatever it keeps them in.

The document-store tests run on both backends (`document_store` in tests/conftest.py): the
directory on this machine and SeaweedFS's S3. These read and tamper with what is stored as an
attacker with access to the disk or the bucket would, and find what an upload left behind.
"""

from __future__ import annotations

from runtime.blobs import Blobs, LocalBlobs
from runtime.documents import DocumentStore
from runtime.s3 import S3Blobs
from runtime.s3_stream import BLOB_META


def raw(store: DocumentStore, key: str) -> bytes:
    """The bytes stored under `key` (a large S3 document's: its blob's)."""
    src = store.blobs.reader(key)
    assert src is not None, f"nothing stored under {key}"
    with src:
        return src.read()


def replace(store: DocumentStore, key: str, data: bytes) -> None:
    """Put other bytes under `key`, as someone with write access to the store could."""
    store.blobs.delete(key)
    assert store.blobs.put_new(key, data)


# Where a store keeps things: each case's `cases/<case>/`, and the folders of the store every
# case shared before documents were kept per case.
TOP = ("cases/", "objects/", "meta/", "blobs/")


def keys_of(blobs: Blobs, *folders: str) -> list[str]:
    """Every key whose last folder is one of `folders` (`objects`, `meta`, `blobs`), in any case's
    folder or the shared ones, sorted."""
    return sorted(key for top in TOP for key in blobs.keys(top) if key.split("/")[-2] in folders)


def stored_bytes(store: DocumentStore) -> list[bytes]:
    """Everything the store holds, objects, names and anything half-written."""
    if isinstance(store.blobs, LocalBlobs):
        return [p.read_bytes() for p in store.root.rglob("*") if p.is_file()]
    return [raw(store, key) for key in keys_of(store.blobs, "objects", "meta", "blobs")]


def unfinished(store: DocumentStore) -> list[str]:
    """What uploads left behind that no document holds: spool files, multipart uploads, blobs."""
    blobs = store.blobs
    if isinstance(blobs, LocalBlobs):
        return [p.name for p in (blobs.root / "tmp").iterdir()]
    assert isinstance(blobs, S3Blobs)
    # A large document's multipart blob is kept beside it: `cases/<case>/blobs/<uuid>`.
    held = {meta.get(BLOB_META) for key in keys_of(blobs, "objects") if (meta := blobs.head(key))}
    loose = [key for key in keys_of(blobs, "blobs") if key not in held]

    async def uploads(client: object) -> list[str]:
        answer = await client.list_multipart_uploads(Bucket=blobs.bucket, Prefix=blobs.prefix)  # type: ignore[attr-defined]
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    return loose + blobs.run(uploads, "listing uploads")
