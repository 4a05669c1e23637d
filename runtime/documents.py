"""The document store: content-addressed files, encrypted at rest, streamed in and out.

Bytes are streamed in and out (no size limit, never read whole into memory). A document's
id is the sha256 of its plaintext; the file at `objects/ab/<sha256>` holds its envelope
ciphertext (security/envelope.py). Workflow history only ever sees the id, the record type
and the size. Every way a document comes in ends here: the web edge's uploads, the case
service's files and the member's details sheet.

Encrypting, decrypting and writing run on the store's own threads (`DocumentIO`), never on
the event loop's default pool that every other request needs. An upload is pushed in chunk by
chunk (`receive`): the wait for the network is the request's coroutine's, so an upload that
stalls holds no thread at all, and no client holds more than its share of the threads.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from pydantic import BaseModel

from models.case import SHA256_PATTERN
from models.intake import PatientIntake
from security.envelope import DEFAULT_CHUNK_SIZE, Encryptor, decrypt_stream
from security.keys import KeyRing

_SHA = re.compile(SHA256_PATTERN)
T = TypeVar("T")

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

    Only ciphertext reaches the disk, in a private temporary file that `commit` moves to the
    document's place and `abort` (or a failed commit) removes.
    """

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        fd, name = tempfile.mkstemp(dir=store.root / "tmp")
        self.tmp = Path(name)
        self.file = os.fdopen(fd, "wb")
        try:
            self.encryptor = Encryptor(self.file, store.keyring)
        except BaseException:
            self.abort()
            raise

    def write(self, data: bytes) -> None:
        self.encryptor.write(data)

    def commit(self) -> StoredDocument:
        try:
            result = self.encryptor.finish()
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            final = self.store.path_for(result.sha256)
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                return StoredDocument(doc_id=result.sha256, size=result.size, created=False)
            os.replace(self.tmp, final)
            return StoredDocument(doc_id=result.sha256, size=result.size, created=True)
        finally:
            self.abort()

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class DocumentStore:
    """Encrypted content-addressed files under one root directory."""

    def __init__(self, root: Path, keyring: KeyRing) -> None:
        self.root = root
        self.keyring = keyring
        self.io = DocumentIO()
        (root / "objects").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def path_for(self, doc_id: str) -> Path:
        # The id is the only part of the path that comes from outside: allow hex only (all of
        # it: `$` alone would let a trailing newline through).
        if not _SHA.fullmatch(doc_id):
            raise ValueError(f"not a document id: {doc_id!r}")
        return self.root / "objects" / doc_id[:2] / doc_id

    def put(self, src: BinaryIO) -> StoredDocument:
        writer = DocumentWriter(self)
        try:
            for block in iter(partial(src.read, DEFAULT_CHUNK_SIZE), b""):
                writer.write(block)
            return writer.commit()
        finally:
            writer.abort()

    async def receive(self, read: Callable[[], Awaitable[bytes]], *, client: str) -> StoredDocument:
        """Store what `read` returns until it returns b"" (an upload, read from the network).

        `read` is awaited on the event loop, so the wait for the next chunk holds no thread;
        only encrypting and writing a batch of DEFAULT_CHUNK_SIZE run in the pool, under the
        client's share. What was received is removed again if the upload fails or stops.
        """
        writer = await self.io.run(client, DocumentWriter, self)
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

    def put_file(self, path: Path) -> StoredDocument:
        with path.open("rb") as src:
            return self.put(src)

    def put_bytes(self, data: bytes) -> StoredDocument:
        return self.put(io.BytesIO(data))

    def exists(self, doc_id: str) -> bool:
        return self.path_for(doc_id).exists()

    def open(self, doc_id: str) -> Iterator[bytes]:
        """Plaintext chunks; raises IntegrityError at the end if the sha256 does not match."""
        path = self.path_for(doc_id)
        if not path.exists():
            raise DocumentNotFound(doc_id)
        with path.open("rb") as src:
            yield from decrypt_stream(src, self.keyring, expected_sha256=doc_id)

    def read_small(self, doc_id: str, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        for chunk in self.open(doc_id):
            out += chunk
            if len(out) > limit:
                raise ValueError(f"document {doc_id[:12]} is larger than {limit} bytes")
        return bytes(out)

    def delete(self, doc_id: str) -> None:
        self.path_for(doc_id).unlink(missing_ok=True)

    def put_intake(self, intake: PatientIntake) -> StoredDocument:
        return self.put_bytes(intake.model_dump_json().encode())

    def load_intake(self, doc_id: str) -> PatientIntake:
        return PatientIntake.model_validate(json.loads(self.read_small(doc_id)))
