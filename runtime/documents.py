"""The document store: content-addressed files, encrypted at rest, streamed in and out.

Bytes are streamed in and out (no size limit, never read whole into memory). A document's
id is the sha256 of its plaintext; the object `objects/<sha256>` holds its envelope
ciphertext (security/envelope.py), in a directory on this machine (`objects/ab/<sha256>`, the
default) or in an S3 bucket (`SMO_STORAGE_URL`): runtime/blobs.py and runtime/s3.py keep the
bytes, this module encrypts and names them. Workflow history only ever sees the id, the
record type and the size. Every way a document comes in ends here: the web edge's uploads,
the case service's files and the member's details sheet.

What a document was called when it came in, its media type and the case it came for are
kept beside it in `meta/<sha256>`, sealed with the same keys: a file name can hold a
patient's name, so it is never stored in clear, nor in the workflow, the case DB, a log or a
URL. The same bytes may come again for another case (ids are the content's): the name is
sealed once, by the upload that stored the document, and is that case's alone; a download is
named from it only for that case (runtime/web.py). A document stored without a name (a
details sheet, one stored before names were kept) has none.

Encrypting, decrypting and writing run on the store's own threads (`DocumentIO`), never on
the event loop's default pool that every other request needs. An upload is pushed in chunk by
chunk (`receive`): the wait for the network is the request's coroutine's, so an upload that
stalls holds no thread at all, and no client holds more than its share of the threads.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from models.case import SHA256_PATTERN
from models.intake import PatientIntake, stored_sheet
from runtime.blobs import Blobs, LocalBlobs
from security.envelope import DEFAULT_CHUNK_SIZE, Encryptor, IntegrityError, decrypt_stream
from security.keys import KeyRing

_SHA = re.compile(SHA256_PATTERN)
_log = logging.getLogger(__name__)
T = TypeVar("T")

OCTET_STREAM = "application/octet-stream"
# What a download may be served as, by its name's extension: the documents and images members
# and doctors send. Anything else is served as bytes; nothing is ever served inline, so even
# a type on this list never runs in a browser (runtime/web.py).
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "dcm": "application/dicom",
    "txt": "text/plain",
    "csv": "text/csv",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "zip": "application/zip",
}
_SERVED_TYPES = frozenset(MEDIA_TYPES.values())
# The extension a download served without its own name is given: the first one of its type.
_EXTENSIONS = {kind: extension for extension, kind in reversed(MEDIA_TYPES.items())}
# A sealed name is a few hundred bytes: anything much larger was not written by this store.
META_BYTES = 64 << 10

# Threads for document I/O, and how many of them one client may hold at once: enough for one
# client's upload to go at disk speed, while the others always find a free one.
WORKERS = max(4, 2 * (os.cpu_count() or 1))
SHARE = max(1, WORKERS // 4)


class StoredDocument(BaseModel):
    doc_id: str
    size: int
    created: bool  # False when the same bytes were stored already: removing them is not ours to do


class DocumentNotFound(LookupError):
    pass


class DocumentMeta(BaseModel):
    """What a document was called when it came in, and what kind of file it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: str  # sealed with the name: a sealed name moved beside another document is ignored
    name: str
    media_type: str
    # The case the document came for: its name is shown to that case only. None (a name sealed
    # before cases were, or a file stored for no case) matches no case.
    case_id: str | None = None


def _checked(doc_id: str) -> str:
    # The id is the only part of a key that comes from outside: allow hex only (all of it: `$`
    # alone would let a trailing newline through).
    if not _SHA.fullmatch(doc_id):
        raise ValueError(f"not a document id: {doc_id!r}")
    return doc_id


def media_type_for(name: str) -> str:
    """The media type a file of this name is served as: the allow-list's, else bytes."""
    stem, dot, extension = name.rpartition(".")
    return MEDIA_TYPES.get(extension.lower(), OCTET_STREAM) if dot and stem else OCTET_STREAM


def served_type(media_type: str) -> str:
    """A stored media type, if the allow-list still has it; else bytes."""
    return media_type if media_type in _SERVED_TYPES else OCTET_STREAM


def extension_for(media_type: str) -> str:
    """The extension (without its dot) a file of this served type is saved with; "" for bytes."""
    return _EXTENSIONS.get(media_type, "")


@dataclass
class _Gate:
    slots: asyncio.Semaphore
    users: int = 0


class DocumentIO:
    """The store's own bounded pool of threads, shared fairly between clients.

    `client` is whatever names a caller (the web edge passes the client's address): each one
    runs at most `share` jobs at once, and waits on the event loop, holding no thread, for more.
    """

    def __init__(self, workers: int = WORKERS, share: int = SHARE) -> None:
        # Threads start on first use: a process that never serves a document starts none.
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smo-documents")
        self.share = share
        self._gates: dict[str, _Gate] = {}

    async def run(self, client: str, fn: Callable[..., T], *args: Any) -> T:
        gate = self._gates.get(client)
        if gate is None:
            gate = self._gates[client] = _Gate(asyncio.Semaphore(self.share))
        gate.users += 1
        try:
            async with gate.slots:
                return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            gate.users -= 1
            if gate.users == 0:  # a client that has gone leaves nothing behind
                del self._gates[client]


class DocumentWriter:
    """One document on its way in: its plaintext pushed in by `write`, then `commit`.

    Only ciphertext leaves the writer, into a sink of the store's backend (runtime/blobs.py)
    that `commit` places under the document's key and `abort` (or a failed commit) drops.
    `name` is what the sender called the file and `case_id` the case it came for: sealed
    beside a document this writer creates. The same bytes stored already (by this case or
    another) keep the name and the case they came with: an upload never renames a document,
    nor gives one case's name to another.
    """

    def __init__(self, store: DocumentStore, name: str | None = None, case_id: str | None = None) -> None:
        self.store = store
        self.name = name or None
        self.case_id = case_id
        self.sink = store.blobs.sink()
        try:
            # The encryptor only ever writes to what it is given.
            self.encryptor = Encryptor(cast(BinaryIO, self.sink), store.keyring)
        except BaseException:
            self.abort()
            raise

    def write(self, data: bytes) -> None:
        self.encryptor.write(data)

    def commit(self) -> StoredDocument:
        try:
            result = self.encryptor.finish()
            key = self.store.key_for(result.sha256)
            if self.store.blobs.exists(key):
                return StoredDocument(doc_id=result.sha256, size=result.size, created=False)
            sealed = False
            if self.name is not None:
                # The name first: a document in place is never without the name it came with.
                # The same bytes on their way in for another case at this moment seal theirs
                # first or find this one sealed: either way each case sees only its own name.
                meta = DocumentMeta(
                    doc_id=result.sha256,
                    name=self.name,
                    media_type=media_type_for(self.name),
                    case_id=self.case_id,
                )
                sealed = self.store.seal_meta(meta)
            try:
                created = self.sink.commit(key)
            except BaseException:
                if sealed:
                    self.store.blobs.delete(self.store.meta_key(result.sha256))
                raise
            # Not created: the same bytes were placed a moment ago, by a call that removes them
            # again if its case refuses them; this one leaves them be.
            return StoredDocument(doc_id=result.sha256, size=result.size, created=created)
        finally:
            self.abort()

    def abort(self) -> None:
        self.sink.abort()


class DocumentStore:
    """Encrypted content-addressed files, in a directory on this machine or in an S3 bucket.

    `where` is the backend (runtime/blobs.py `open_blobs`), or a directory for the local one.
    """

    def __init__(self, where: Path | Blobs, keyring: KeyRing) -> None:
        self.blobs: Blobs = LocalBlobs(where) if isinstance(where, Path) else where
        self.keyring = keyring
        self.io = DocumentIO()

    @property
    def root(self) -> Path:
        """The directory of a store on this machine (what tests and tools look into)."""
        if not isinstance(self.blobs, LocalBlobs):
            raise ValueError(f"the document store {self.blobs.url} is not a directory")
        return self.blobs.root

    def check(self) -> None:
        """At start-up: the store answers and takes the credentials given, else a StoreError."""
        self.blobs.check()

    def close(self) -> None:
        self.blobs.close()

    def key_for(self, doc_id: str) -> str:
        return f"objects/{_checked(doc_id)}"

    def meta_key(self, doc_id: str) -> str:
        return f"meta/{_checked(doc_id)}"

    def seal_meta(self, meta: DocumentMeta) -> bool:
        """Write a document's name and type, encrypted, where none is sealed yet: whether it was.

        Whole or not at all, and never over another: a sealed name stays the one its document
        came with, whoever stores the same bytes later.
        """
        sealed = io.BytesIO()
        encryptor = Encryptor(sealed, self.keyring)
        encryptor.write(meta.model_dump_json().encode())
        encryptor.finish()
        return self.blobs.put_new(self.meta_key(meta.doc_id), sealed.getvalue())

    def describe(self, doc_id: str) -> DocumentMeta | None:
        """The document's name and type as it came in, or None when it came without one."""
        try:
            raw = self.blobs.get_small(self.meta_key(doc_id), META_BYTES)
            if raw is None:
                return None
            meta = DocumentMeta.model_validate_json(b"".join(decrypt_stream(io.BytesIO(raw), self.keyring)))
        except (IntegrityError, ValidationError) as exc:
            # Served under the caller's name instead; what was wrong is said, never the name.
            _log.warning("document %s: its name cannot be read (%s)", doc_id[:12], type(exc).__name__)
            return None
        return meta if meta.doc_id == doc_id else None

    def put(self, src: BinaryIO, name: str | None = None, case_id: str | None = None) -> StoredDocument:
        writer = DocumentWriter(self, name, case_id)
        try:
            for block in iter(partial(src.read, DEFAULT_CHUNK_SIZE), b""):
                writer.write(block)
            return writer.commit()
        finally:
            writer.abort()

    async def receive(
        self,
        read: Callable[[], Awaitable[bytes]],
        *,
        client: str,
        name: str | None = None,
        case_id: str | None = None,
    ) -> StoredDocument:
        """Store what `read` returns until it returns b"" (an upload, read from the network).

        `read` is awaited on the event loop, so the wait for the next chunk holds no thread;
        only encrypting and writing a batch of DEFAULT_CHUNK_SIZE run in the pool, under the
        client's share. What was received is removed again if the upload fails or stops.
        `name` is the file's own name, as the edge checked it (web/uploads.py), and `case_id`
        the case it came for.
        """
        writer = await self.io.run(client, DocumentWriter, self, name, case_id)
        try:
            batch: list[bytes] = []
            batched = 0
            while chunk := await read():
                batch.append(chunk)
                batched += len(chunk)
                if batched >= DEFAULT_CHUNK_SIZE:
                    await self.io.run(client, writer.write, b"".join(batch))
                    batch, batched = [], 0
            if batch:
                await self.io.run(client, writer.write, b"".join(batch))
            return await self.io.run(client, writer.commit)
        finally:
            writer.abort()

    def put_file(self, path: Path, case_id: str | None = None) -> StoredDocument:
        with path.open("rb") as src:
            return self.put(src, path.name, case_id)

    def put_bytes(self, data: bytes) -> StoredDocument:
        return self.put(io.BytesIO(data))

    def exists(self, doc_id: str) -> bool:
        return self.blobs.exists(self.key_for(doc_id))

    def open(self, doc_id: str) -> Iterator[bytes]:
        """Plaintext chunks; raises IntegrityError at the end if the sha256 does not match."""
        src = self.blobs.reader(self.key_for(doc_id))
        if src is None:
            raise DocumentNotFound(doc_id)
        with src:
            yield from decrypt_stream(src, self.keyring, expected_sha256=doc_id)

    def read_small(self, doc_id: str, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        for chunk in self.open(doc_id):
            out += chunk
            if len(out) > limit:
                raise ValueError(f"document {doc_id[:12]} is larger than {limit} bytes")
        return bytes(out)

    def delete(self, doc_id: str) -> None:
        self.blobs.delete(self.key_for(doc_id))
        self.blobs.delete(self.meta_key(doc_id))

    def put_intake(self, intake: PatientIntake) -> StoredDocument:
        return self.put_bytes(intake.model_dump_json().encode())

    def load_intake(self, doc_id: str) -> PatientIntake:
        # As it was written: a sheet stored before today's phone rule still loads.
        return stored_sheet(json.loads(self.read_small(doc_id)))
