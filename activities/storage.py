"""The document store's activities: check that documents are stored, register them against a case.

The store itself (encrypted, content-addressed, streamed) is `runtime.documents`; the
workflow hands these activities the ids it was given, never the bytes.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.case import workflow_id_for
from models.db import DocumentRow, insert_new, table, utcnow
from models.storage import CheckDocuments, RegisterDocuments, RegisteredDocuments
from runtime.documents import DocumentNotFound, DocumentStore, StoredDocument

# The request/result models live in models/ (the workflow imports them) and the store in
# runtime/; both are re-exported for the activities that take a store.
__all__ = [
    "CheckDocuments",
    "DocumentNotFound",
    "DocumentStore",
    "RegisterDocuments",
    "RegisteredDocuments",
    "StorageActivities",
    "StoredDocument",
]


def case_of(req: CheckDocuments) -> str:
    """The case a check is for: as given, else the calling case workflow's (`smo-<case>`)."""
    if req.case_id is not None:
        return req.case_id
    return str(activity.info().workflow_id).removeprefix(workflow_id_for(""))


class StorageActivities:
    def __init__(self, store: DocumentStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    @activity.defn(name="check_documents")
    async def check_documents(self, req: CheckDocuments) -> None:
        """Refuse (non-retryable) when any document is not in the store."""
        case_id = case_of(req)
        present = await asyncio.to_thread(lambda: {d for d in req.doc_ids if self.store.exists(case_id, d)})
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
        await self.check_documents(
            CheckDocuments(doc_ids=[d.doc_id for d in req.documents], case_id=req.case_id)
        )

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

    @activity.defn(name="discard_documents")
    async def discard_documents(self, req: CheckDocuments) -> None:
        """Remove the case's documents it never registered (a public request's that was refused
        or never confirmed). Idempotent; a document the case registered stays.
        """
        case_id = case_of(req)

        def remove() -> None:
            documents = table(DocumentRow)
            with self.engine.connect() as conn:
                held = set(
                    conn.scalars(
                        select(documents.c.doc_id).where(
                            documents.c.case_id == case_id, documents.c.doc_id.in_(req.doc_ids)
                        )
                    )
                )
            for doc_id in req.doc_ids:
                if doc_id not in held:
                    self.store.delete(case_id, doc_id)

        await asyncio.to_thread(remove)
