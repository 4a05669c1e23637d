"""The case DB's tables for the life of a case's documents after the case: keys, holds, erasures.

`case_keys` holds each case's document key, wrapped by the master key ring (SMO_DOCUMENT_KEYS)
and bound to its case id: destroying the row's key is what makes an erased case's documents
unreadable anywhere they might still be copied. `case_holds` is a legal hold (the purge skips
it, and erasure is refused). `case_erasures` is what is left of an erased case: its id, dates
and counts, and no PHI.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field as Column
from sqlmodel import SQLModel

from models.portal_tables import utcnow


class CaseKeyRow(SQLModel, table=True):
    __tablename__ = "case_keys"

    case_id: str = Column(primary_key=True, max_length=64)
    # `<master key id>:<urlsafe b64 of nonce + AES-GCM(case key)>`; None until first needed (a
    # case older than case keys) and again once destroyed.
    wrapped: str | None = Column(default=None, max_length=200)
    # A case opened before documents were kept per case: its documents may still be the
    # store's shared `objects/<sha256>`, readable with the master ring.
    legacy: bool = False
    created_at: datetime = Column(default_factory=utcnow)
    destroyed_at: datetime | None = None


class CaseHoldRow(SQLModel, table=True):
    __tablename__ = "case_holds"

    case_id: str = Column(primary_key=True, max_length=64)
    reason: str = Column(max_length=500)
    held_by: str = Column(max_length=64)
    held_at: datetime = Column(default_factory=utcnow)


class CaseErasureRow(SQLModel, table=True):
    __tablename__ = "case_erasures"

    case_id: str = Column(primary_key=True, max_length=64)
    how: str = Column(max_length=16)  # "erased" (on request) or "purged" (retention)
    reason: str = Column(max_length=500)
    erased_by: str = Column(max_length=64)
    program: str = Column(max_length=40)
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    erased_at: datetime = Column(default_factory=utcnow)
    documents: int = 0  # the case's registered documents
    objects: int = 0  # the store's objects removed
