"""Document checks the case asks the store for: claim checks (sha256) only, never contents."""

from __future__ import annotations

from pydantic import BaseModel

from models.case import DocumentRef


class RegisterDocuments(BaseModel):
    case_id: str
    documents: list[DocumentRef]


class RegisteredDocuments(BaseModel):
    registered: int


class CheckDocuments(BaseModel):
    doc_ids: list[str]
    # The case they are for; None: the calling case's own (from its workflow id, which is how
    # the case workflow asks, so that no history of it changes).
    case_id: str | None = None
