"""Where the documents go: a content-addressed, encrypted-at-rest store and its activities.

Bytes are streamed in and out (no size limit, never read whole into memory). A document's
id is the sha256 of its plaintext; the file at `objects/ab/<sha256>` holds its envelope
ciphertext. Workflow history only ever sees the id, the record type and the size.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.case import SHA256_PATTERN
from models.db import DocumentRow, insert_new, utcnow
from models.intake import PatientIntake
from models.storage import CheckDocuments, RegisterDocuments, RegisteredDocuments
from security.envelope import IntegrityError, decrypt_stream, encrypt_stream
from security.keys import KeyRing

# The request/result models live in models/ (the workflow imports them); re-exported here.
__all__ = [
    "CheckDocuments",
    "DocumentNotFound",
    "DocumentStore",
    "RegisterDocuments",
    "RegisteredDocuments",
    "StorageActivities",
]

_SHA = re.compile(SHA256_PATTERN)


class StoredDocument(BaseModel):
    doc_id: str
    size: int
    created: bool


class DocumentNotFound(LookupError):
    pass


class DocumentStore:
    """Encrypted content-addressed files under one root directory."""

    def __init__(self, root: Path, keyring: KeyRing) -> None:
        self.root = root
        self.keyring = keyring
        (root / "objects").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def path_for(self, doc_id: str) -> Path:
        # The id is the only part of the path that comes from outside: allow hex only.
        if not _SHA.match(doc_id):
            raise ValueError(f"not a document id: {doc_id!r}")
        return self.root / "objects" / doc_id[:2] / doc_id

    def put(self, src: BinaryIO) -> StoredDocument:
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as dst:
                result = encrypt_stream(src, dst, self.keyring)
                dst.flush()
                os.fsync(dst.fileno())
            final = self.path_for(result.sha256)
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                return StoredDocument(doc_id=result.sha256, size=result.size, created=False)
            os.replace(tmp, final)
            return StoredDocument(doc_id=result.sha256, size=result.size, created=True)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, path: Path) -> StoredDocument:
        with path.open("rb") as src:
            return self.put(src)

    def put_bytes(self, data: bytes) -> StoredDocument:
        import io

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


class StorageActivities:
    def __init__(self, store: DocumentStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    @activity.defn(name="check_documents")
    async def check_documents(self, req: CheckDocuments) -> None:
        """Refuse (non-retryable) when any document is not in the store."""
        present = await asyncio.to_thread(lambda: {d for d in req.doc_ids if self.store.exists(d)})
        missing = [d[:12] for d in req.doc_ids if d not in present]
        if missing:
            raise ApplicationError(
                f"documents not in storage: {', '.join(missing)}",
                type="DocumentMissing",
                non_retryable=True,
            )

    @activity.defn(name="register_documents")
    async def register_documents(self, req: RegisterDocuments) -> RegisteredDocuments:
        """Check each document is in the store, then record it against the case (idempotent)."""
        await self.check_documents(CheckDocuments(doc_ids=[d.doc_id for d in req.documents]))

        def write() -> int:
            now = utcnow()
            rows = [
                {"case_id": req.case_id, "doc_id": d.doc_id, "record_type": d.record_type.value,
                 "size": d.size, "registered_at": now}
                for d in req.documents
            ]  # fmt: skip
            with self.engine.begin() as conn:
                insert_new(conn, DocumentRow, rows, ["case_id", "doc_id"])
            return len(req.documents)

        return RegisteredDocuments(registered=await asyncio.to_thread(write))


__all__ = [
    "DocumentNotFound",
    "DocumentStore",
    "IntegrityError",
    "RegisterDocuments",
    "RegisteredDocuments",
    "StorageActivities",
    "StoredDocument",
]
