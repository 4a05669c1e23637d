"""Each case's own document key: made on first use, wrapped by the master ring, destroyed on erasure.

A case key is 32 random bytes, kept in the case DB (`case_keys`) only wrapped: AES-256-GCM
under the master ring's current key (SMO_DOCUMENT_KEYS), with the case id in the associated
data, so a wrapped key copied to another case's row does not open. From it, HKDF derives two
keys: one that wraps the data key of every document of the case (the store's envelope,
security/envelope.py) and one that names them (an HMAC of the document's id: the same file in
two cases is two objects under two names, and the store cannot tell they are the same).

Destroying a case key (erasure, retention) empties its row: every copy of the case's
documents, in a backup or a store not yet cleaned, is unreadable from then on. A destroyed
key is never made again: writing to or reading from an erased case is refused (`CaseErased`).

A case opened before case keys existed is `legacy` (migration 0010): its documents may be
the store's shared `objects/<sha256>`, still read with the master ring until they are
rewritten (`smo storage rekey`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, bindparam, select, update

from models.db import DocumentRow, insert_new, table, utcnow
from models.retention_tables import CaseKeyRow
from security.envelope import IntegrityError
from security.keys import KEY_BYTES, KeyRing, UnknownKeyError

NONCE_BYTES = 12
CASE_KEK_ID = "case"  # the id a case-keyed envelope names its wrapping key by
# Built once: every document read looks its case's key up (a page reads a sheet or two).
_KEY_ROW = select(table(CaseKeyRow)).where(table(CaseKeyRow).c.case_id == bindparam("case_id"))


class CaseErased(LookupError):
    """The case's documents were erased: its key is gone, and nothing is written or read for it."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"the documents of case {case_id} were erased")
        self.case_id = case_id


@dataclass(frozen=True)
class CaseKey:
    case_id: str
    ring: KeyRing  # wraps each document's data key (one key, id "case")
    naming: bytes  # names the case's objects in the store
    legacy: bool

    def object_name(self, doc_id: str) -> str:
        return hmac.new(self.naming, doc_id.encode(), hashlib.sha256).hexdigest()


def _derive(case_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"smo-case/" + purpose).derive(
        case_key
    )


def _aad(case_id: str, kek_id: str) -> bytes:
    return f"smo-case-key\x00{case_id}\x00{kek_id}".encode()


class CaseKeys:
    """The case keys in the case DB, wrapped by `master`; every call reads the live row."""

    def __init__(self, engine: Engine, master: KeyRing) -> None:
        self.engine = engine
        self.master = master

    def _wrap(self, case_id: str, case_key: bytes) -> str:
        kek_id = self.master.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.master.get(kek_id)).encrypt(nonce, case_key, _aad(case_id, kek_id))
        return f"{kek_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def _unwrap(self, case_id: str, wrapped: str) -> bytes:
        kek_id, _, blob = wrapped.partition(":")
        try:
            raw = base64.urlsafe_b64decode(blob)
            return AESGCM(self.master.get(kek_id)).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(case_id, kek_id)
            )
        except (UnknownKeyError, InvalidTag, ValueError) as exc:
            raise IntegrityError(
                f"the key of case {case_id} cannot be unwrapped ({type(exc).__name__})"
            ) from None

    def _key(self, row: CaseKeyRow) -> CaseKey:
        assert row.wrapped is not None
        case_key = self._unwrap(row.case_id, row.wrapped)
        return CaseKey(
            case_id=row.case_id,
            ring=KeyRing([(CASE_KEK_ID, _derive(case_key, b"documents"))]),
            naming=_derive(case_key, b"names"),
            legacy=row.legacy,
        )

    def _row(self, case_id: str) -> CaseKeyRow | None:
        with self.engine.connect() as conn:
            found = conn.execute(_KEY_ROW, {"case_id": case_id}).mappings().first()
        return None if found is None else CaseKeyRow.model_validate(dict(found))

    def for_writing(self, case_id: str) -> CaseKey:
        """The case's key, made now if the case has none yet; CaseErased once it was destroyed."""
        row = self._row(case_id)
        if row is None or (row.wrapped is None and row.destroyed_at is None):
            keys = table(CaseKeyRow)
            wrapped = self._wrap(case_id, os.urandom(KEY_BYTES))
            legacy = row is None and self._predates(case_id)
            # Whoever comes first makes the key; a second host's attempt at the same moment
            # changes nothing and reads the first one's.
            with self.engine.begin() as conn:
                if row is None:
                    insert_new(conn, CaseKeyRow, [{"case_id": case_id, "wrapped": wrapped, "legacy": legacy,
                                                   "created_at": utcnow()}], ["case_id"])  # fmt: skip
                else:
                    conn.execute(
                        update(keys)
                        .where(
                            keys.c.case_id == case_id, keys.c.wrapped.is_(None), keys.c.destroyed_at.is_(None)
                        )
                        .values(wrapped=wrapped)
                    )
            row = self._row(case_id)
        assert row is not None
        if row.destroyed_at is not None or row.wrapped is None:
            raise CaseErased(case_id)
        return self._key(row)

    def for_reading(self, case_id: str) -> CaseKey | None:
        """The case's key; None when it never had one (nothing was stored for it, or it is a legacy
        case nothing new was stored for). CaseErased once it was destroyed."""
        row = self._row(case_id)
        if row is None:
            return None
        if row.destroyed_at is not None:
            raise CaseErased(case_id)
        if row.wrapped is None:
            return None
        return self._key(row)

    def _predates(self, case_id: str) -> bool:
        """A case the case DB registered documents for, with no key row: opened before case keys
        by a process of that time (during an upgrade), so as legacy as those 0010 marked."""
        documents = table(DocumentRow)
        with self.engine.connect() as conn:
            return (
                conn.scalar(select(documents.c.case_id).where(documents.c.case_id == case_id).limit(1))
                is not None
            )

    def is_legacy(self, case_id: str) -> bool:
        row = self._row(case_id)
        if row is None:
            return self._predates(case_id)
        return row.legacy and row.destroyed_at is None

    def destroy(self, case_id: str) -> None:
        """Forget the case's key for good (idempotent): what it wrapped can no longer be read."""
        keys = table(CaseKeyRow)
        now = utcnow()
        with self.engine.begin() as conn:
            insert_new(conn, CaseKeyRow, [{"case_id": case_id, "wrapped": None, "legacy": False,
                                           "created_at": now, "destroyed_at": now}], ["case_id"])  # fmt: skip
            conn.execute(
                update(keys)
                .where(keys.c.case_id == case_id, keys.c.destroyed_at.is_(None))
                .values(wrapped=None, destroyed_at=now)
            )

    def mark_rekeyed(self, case_id: str) -> None:
        """A legacy case whose documents were all rewritten under its key: no more shared objects."""
        keys = table(CaseKeyRow)
        with self.engine.begin() as conn:
            conn.execute(update(keys).where(keys.c.case_id == case_id).values(legacy=False))

    def rewrap(self) -> tuple[int, int]:
        """Every live case key wrapped again under the master ring's current key (after a new key
        is put first in SMO_DOCUMENT_KEYS): how many were rewrapped, and how many were already.

        Only the case keys change, never a document: once none is wrapped by an old master key,
        that key can leave the ring (unless legacy cases still have shared objects under it).
        """
        keys = table(CaseKeyRow)
        current = self.master.current_id
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(keys.c.case_id, keys.c.wrapped).where(keys.c.wrapped.is_not(None))
            ).all()
        rewrapped = 0
        for case_id, wrapped in rows:
            if wrapped.partition(":")[0] == current:
                continue
            again = self._wrap(case_id, self._unwrap(case_id, wrapped))
            with self.engine.begin() as conn:
                # Only over the very key read: one destroyed or rewrapped meanwhile is left be.
                done = conn.execute(
                    update(keys)
                    .where(keys.c.case_id == case_id, keys.c.wrapped == wrapped)
                    .values(wrapped=again)
                )
            rewrapped += done.rowcount
        return rewrapped, len(rows) - rewrapped

    def legacy_cases(self) -> list[str]:
        keys, documents = table(CaseKeyRow), table(DocumentRow)
        with self.engine.connect() as conn:
            query = select(keys.c.case_id).where(keys.c.legacy.is_(True), keys.c.destroyed_at.is_(None))
            unkeyed = select(documents.c.case_id).where(documents.c.case_id.not_in(select(keys.c.case_id)))
            return sorted(set(conn.scalars(query)) | set(conn.scalars(unkeyed)))
