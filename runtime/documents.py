"""The document store: content-addressed files, encrypted at rest, streamed in and out.

Bytes are streamed in and out (no size limit, never read whole into memory). A document's
id is the sha256 of its plaintext; the file at `objects/ab/<sha256>` holds its envelope
ciphertext (security/envelope.py). Workflow history only ever sees the id, the record type
and the size. Every way a document comes in ends here: the web edge's uploads, the case
service's files and the member's details sheet.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel

from models.case import SHA256_PATTERN
from models.intake import PatientIntake
from security.envelope import decrypt_stream, encrypt_stream
from security.keys import KeyRing

_SHA = re.compile(SHA256_PATTERN)


class StoredDocument(BaseModel):
    doc_id: str
    size: int
    created: bool  # False when the same bytes were stored already: removing them is not ours to do


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
