"""The document store: each case's files, encrypted at rest under the case's key, streamed in and out.

Bytes are streamed in and out (no size limit, never read whole into memory). Every document
belongs to one case, and is stored, read and removed for that case only. A document's id
within its case is the sha256 of its plaintext (what the case checks it against); in the
store it is `cases/<case>/objects/<name>`, where the name is an HMAC of the id under the
case's own key (runtime/case_keys.py), and its envelope's data key (security/envelope.py) is
wrapped by that case key. So the same file in two cases is two objects, the store cannot tell
they are the same, and destroying the case key makes every copy unreadable: that, with the
removal of `cases/<case>/`, is erasure (`erase_case`). The bytes live in a directory on this
machine (the default) or in an S3 bucket (`SMO_STORAGE_URL`): runtime/blobs.py and
runtime/s3.py keep them, this module encrypts and names them. Workflow history only ever sees
the id, the record type and the size. Every way a document comes in ends here: the web
edge's uploads, the case service's files and the member's details sheet.

What a document was called when it came in and its media type are kept beside it in
`cases/<case>/meta/<name>`, sealed with the same key: a file name can hold a patient's name,
so it is never stored in clear, nor in the workflow, the case DB, a log or a URL. A document
stored without a name (a details sheet) has none.

A case opened before case keys existed (`legacy`) may still hold documents stored once for
every case, `objects/<sha256>` under the master ring; they are read for that case only, until
`smo storage rekey` rewrites them under its key.

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
import re
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine

from models.case import SHA256_PATTERN, is_case_id
from models.intake import PatientIntake, stored_sheet
from runtime.blobs import Blobs, LocalBlobs
from runtime.case_keys import CaseErased, CaseKey, CaseKeys
from runtime.document_io import DocumentIO
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


class StoredDocument(BaseModel):
    case_id: str  # the case it is stored for, and only for
    doc_id: str
    size: int
    created: bool  # False when the case held the same bytes already: removing them is not ours to do


class DocumentNotFound(LookupError):
    pass


class DocumentMeta(BaseModel):
    """What a document was called when it came in, and what kind of file it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: str  # sealed with the name: a sealed name moved beside another document is ignored
    name: str
    media_type: str
    # The case the document came for: its name is shown to that case only. None (a name sealed
    # before cases were) matches no case.
    case_id: str | None = None


def _checked(doc_id: str) -> str:
    # The id is the only part of a key that comes from outside: allow hex only (all of it: `$`
    # alone would let a trailing newline through).
    if not _SHA.fullmatch(doc_id):
        raise ValueError(f"not a document id: {doc_id!r}")
    return doc_id


def case_prefix(case_id: str) -> str:
    """Where every object of the case is kept: `cases/<case>/`."""
    # A path segment of every key of the case: a case id never reads as a path (no "..", no "/").
    if not is_case_id(case_id):
        raise ValueError(f"not a case id: {case_id!r}")
    return f"cases/{case_id}/"


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


class DocumentWriter:
    """One document of a case on its way in: its plaintext pushed in by `write`, then `commit`.

    Only ciphertext leaves the writer, into a sink of the store's backend (runtime/blobs.py)
    that `commit` places under the document's key and `abort` (or a failed commit) drops.
    `name` is what the sender called the file: sealed beside a document this writer creates.
    The same bytes stored already for the case keep the name they came with.
    """

    def __init__(self, store: DocumentStore, case_id: str, name: str | None = None) -> None:
        self.store = store
        self.case_id = case_id
        self.name = name or None
        prefix = case_prefix(case_id)  # checked before anything is written for it
        self.key = store.case_keys.for_writing(case_id)  # CaseErased: an erased case takes nothing
        self.sink = store.blobs.sink(prefix)
        try:
            # The encryptor only ever writes to what it is given.
            self.encryptor = Encryptor(cast(BinaryIO, self.sink), self.key.ring)
        except BaseException:
            self.abort()
            raise

    def write(self, data: bytes) -> None:
        self.encryptor.write(data)

    def commit(self) -> StoredDocument:
        try:
            result = self.encryptor.finish()
            key = self.store.key_for(self.key, result.sha256)
            if self.store.blobs.exists(key):
                return StoredDocument(
                    case_id=self.case_id, doc_id=result.sha256, size=result.size, created=False
                )
            sealed = False
            if self.name is not None:
                # The name first: a document in place is never without the name it came with.
                meta = DocumentMeta(
                    doc_id=result.sha256,
                    name=self.name,
                    media_type=media_type_for(self.name),
                    case_id=self.case_id,
                )
                sealed = self.store.seal_meta(self.key, meta)
            try:
                created = self.sink.commit(key)
            except BaseException:
                if sealed:
                    self.store.blobs.delete(self.store.meta_key(self.key, result.sha256))
                raise
            # Not created: the same bytes were placed a moment ago for the case, by a call that
            # removes them again if the case refuses them; this one leaves them be.
            return StoredDocument(
                case_id=self.case_id, doc_id=result.sha256, size=result.size, created=created
            )
        finally:
            self.abort()

    def abort(self) -> None:
        self.sink.abort()


class DocumentStore:
    """Each case's encrypted files, in a directory on this machine or in an S3 bucket.

    `where` is the backend (runtime/blobs.py `open_blobs`), or a directory for the local one;
    `keyring` the master ring that wraps every case key, kept in the case DB at `engine`.
    """

    def __init__(self, where: Path | Blobs, keyring: KeyRing, engine: Engine) -> None:
        self.blobs: Blobs = LocalBlobs(where) if isinstance(where, Path) else where
        self.keyring = keyring
        self.case_keys = CaseKeys(engine, keyring)
        self.io = DocumentIO()

    @property
    def root(self) -> Path:
        """The directory of a store on this machine (what tests and tools look into)."""
        if not isinstance(self.blobs, LocalBlobs):
            raise ValueError(f"the document store {self.blobs.url} is not a directory")
        return self.blobs.root

    @property
    def local(self) -> bool:
        """Its objects and keys are on this machine (a directory, a SQLite case DB): `small_read`."""
        return isinstance(self.blobs, LocalBlobs) and self.case_keys.engine.dialect.name == "sqlite"

    def check(self) -> None:
        """At start-up: the store answers and takes the credentials given, else a StoreError."""
        self.blobs.check()

    def close(self) -> None:
        self.blobs.close()

    def key_for(self, key: CaseKey, doc_id: str) -> str:
        return f"{case_prefix(key.case_id)}objects/{key.object_name(_checked(doc_id))}"

    def meta_key(self, key: CaseKey, doc_id: str) -> str:
        return f"{case_prefix(key.case_id)}meta/{key.object_name(_checked(doc_id))}"

    def seal_meta(self, key: CaseKey, meta: DocumentMeta) -> bool:
        """Write a document's name and type, encrypted, where none is sealed yet: whether it was."""
        sealed = io.BytesIO()
        encryptor = Encryptor(sealed, key.ring)
        encryptor.write(meta.model_dump_json().encode())
        encryptor.finish()
        return self.blobs.put_new(self.meta_key(key, meta.doc_id), sealed.getvalue())

    def _places(self, case_id: str, doc_id: str, kind: str) -> Iterator[tuple[str, KeyRing]]:
        """Where the case's document (`objects`) or its name (`meta`) may be, in order, with the
        keys that open it: the case's own object, then, for a legacy case only, the shared one of
        the old store (asked for only when the case's own is not there)."""
        _checked(doc_id)
        key = self.case_keys.for_reading(case_id)  # CaseErased once erased
        if key is not None:
            yield (self.key_for(key, doc_id) if kind == "objects" else self.meta_key(key, doc_id)), key.ring
        if self.case_keys.is_legacy(case_id):
            yield f"{kind}/{doc_id}", self.keyring

    def _first(
        self, case_id: str, doc_id: str, kind: str, fetch: Callable[[str], T | None]
    ) -> tuple[T, KeyRing] | None:
        """What `fetch` finds at the first of the places that has it (one request each, no look-up
        before the read), and the keys that open it."""
        for where, ring in self._places(case_id, doc_id, kind):
            if (found := fetch(where)) is not None:
                return found, ring
        return None

    def describe(self, case_id: str, doc_id: str) -> DocumentMeta | None:
        """The document's name and type as it came in, or None when it came without one."""
        try:
            found = self._first(
                case_id, doc_id, "meta", lambda where: self.blobs.get_small(where, META_BYTES)
            )
            if found is None:
                return None
            raw, ring = found
            meta = DocumentMeta.model_validate_json(b"".join(decrypt_stream(io.BytesIO(raw), ring)))
        except (IntegrityError, ValidationError) as exc:
            # Served under the caller's name instead; what was wrong is said, never the name.
            _log.warning("document %s: its name cannot be read (%s)", doc_id[:12], type(exc).__name__)
            return None
        # A name sealed for another case (a legacy shared object's) is not this case's to show.
        return meta if meta.doc_id == doc_id and meta.case_id == case_id else None

    def put(self, src: BinaryIO, case_id: str, name: str | None = None) -> StoredDocument:
        writer = DocumentWriter(self, case_id, name)
        try:
            for block in iter(partial(src.read, DEFAULT_CHUNK_SIZE), b""):
                writer.write(block)
            return writer.commit()
        finally:
            writer.abort()

    async def receive(
        self, read: Callable[[], Awaitable[bytes]], *, client: str, case_id: str, name: str | None = None
    ) -> StoredDocument:
        """Store what `read` returns until it returns b"" (an upload, read from the network).

        `read` is awaited on the event loop, so the wait for the next chunk holds no thread;
        only encrypting and writing a batch of DEFAULT_CHUNK_SIZE run in the pool, under the
        client's share. What was received is removed again if the upload fails or stops.
        `name` is the file's own name, as the edge checked it (web/uploads.py), and `case_id`
        the case it came for.
        """
        writer = await self.io.run(client, DocumentWriter, self, case_id, name)
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

    def put_file(self, path: Path, case_id: str) -> StoredDocument:
        with path.open("rb") as src:
            return self.put(src, case_id, path.name)

    def put_bytes(self, data: bytes, case_id: str) -> StoredDocument:
        return self.put(io.BytesIO(data), case_id)

    def exists(self, case_id: str, doc_id: str) -> bool:
        try:
            return (
                self._first(case_id, doc_id, "objects", lambda where: self.blobs.exists(where) or None)
                is not None
            )
        except CaseErased:
            return False

    def open(self, case_id: str, doc_id: str) -> Iterator[bytes]:
        """Plaintext chunks; raises IntegrityError at the end if the sha256 does not match."""
        found = self._first(case_id, doc_id, "objects", self.blobs.reader)
        if found is None:
            raise DocumentNotFound(doc_id)
        src, ring = found
        with src:
            yield from decrypt_stream(src, ring, expected_sha256=doc_id)

    def read_small(self, case_id: str, doc_id: str, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        for chunk in self.open(case_id, doc_id):
            out += chunk
            if len(out) > limit:
                raise ValueError(f"document {doc_id[:12]} is larger than {limit} bytes")
        return bytes(out)

    def delete(self, case_id: str, doc_id: str) -> None:
        """Remove the case's own copy (a legacy shared object is left: another case may hold it)."""
        try:
            key = self.case_keys.for_reading(case_id)
        except CaseErased:
            return
        if key is not None:
            self.blobs.delete(self.key_for(key, doc_id))
            self.blobs.delete(self.meta_key(key, doc_id))

    def erase_case(self, case_id: str) -> int:
        """Destroy the case's key, then remove every object of the case: how many documents went.

        Run again after an interruption, it finishes: the objects are found by listing. (A
        legacy case's shared objects are not its alone: it is rekeyed before it is erased.)
        """
        prefix = case_prefix(case_id)
        self.case_keys.destroy(case_id)
        removed = 0
        for key in list(self.blobs.keys(prefix)):
            removed += key.startswith(f"{prefix}objects/")
            self.blobs.delete(key)
        self.blobs.forget(prefix)
        return removed

    def put_intake(self, intake: PatientIntake, case_id: str) -> StoredDocument:
        return self.put_bytes(intake.model_dump_json().encode(), case_id)

    def load_intake(self, case_id: str, doc_id: str) -> PatientIntake:
        # As it was written: a sheet stored before today's phone rule still loads.
        return stored_sheet(json.loads(self.read_small(case_id, doc_id)))


async def small_read(store: DocumentStore, read: Callable[..., T], *args: object) -> T:
    """A page's read of a few small sheets (an intake, an opinion): inline from a local store (less
    than a trip to a thread and back, as `runtime.db.quick_read`), on a thread over the network."""
    return read(*args) if store.local else await asyncio.to_thread(read, *args)
