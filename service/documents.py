"""Documents into a case: stored first (the claim check), then claimed by an update.

The bytes go into the encrypted store first and the workflow is told only their ids. When
the update is refused, a document this call added is removed again, so a refusal leaves
nothing stored; after a timeout (or Ctrl-C) the update may still be applied, so the
documents stay. The web edge streams its uploads in (web/uploads.py); files on this
machine (the demo's, the tests') come in through `store_files`. Either way a document keeps
the name it came with and the case it came for, sealed in the store beside it, and never in
the claim check: its downloads carry that name for that case only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from temporalio.client import Client

from models.case import AddRecords, DocumentRef, RecordType, UpdateAck
from models.consent import GiveConsent
from runtime.documents import DocumentStore, StoredDocument
from service.cases import RPC_TIMEOUT, ensure_running, handle_for
from service.errors import UserError, is_refusal
from workflows.smo_case import SmoCaseWorkflow

T = TypeVar("T")


def refs(stored: Iterable[StoredDocument], record_type: RecordType) -> list[DocumentRef]:
    """The claim checks the workflow gets for stored documents."""
    return typed_refs((s, record_type) for s in stored)


def typed_refs(stored: Iterable[tuple[StoredDocument, RecordType]]) -> list[DocumentRef]:
    """The claim checks for documents that each came with their own type (`store_typed_files`)."""
    return [DocumentRef(doc_id=s.doc_id, record_type=record_type, size=s.size) for s, record_type in stored]


async def discard(store: DocumentStore, stored: Iterable[StoredDocument]) -> None:
    """Remove what this call added (a document that was there before stays)."""
    for doc in stored:
        if doc.created:
            await asyncio.to_thread(store.delete, doc.case_id, doc.doc_id)


async def claim(
    store: DocumentStore, stored: Sequence[StoredDocument], send: Callable[[], Awaitable[T]]
) -> T:
    """Send the update that claims `stored`; a definite refusal removes what this call added."""
    try:
        return await send()
    except Exception as exc:
        if is_refusal(exc):
            await discard(store, stored)
        raise


async def store_files(
    store: DocumentStore, files: Sequence[Path], record_type: RecordType, *, case_id: str
) -> list[tuple[DocumentRef, StoredDocument]]:
    """Files on this machine into the store, for `case_id`: the case they belong to."""
    out = []
    for path in files:
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        stored = await asyncio.to_thread(store.put_file, path, case_id)
        out.append((refs([stored], record_type)[0], stored))
    return out


async def add_records(
    client: Client,
    store: DocumentStore,
    case_id: str,
    files: Sequence[Path],
    record_type: RecordType,
    by: str,
) -> UpdateAck:
    await ensure_running(client, case_id)
    stored = await store_files(store, files, record_type, case_id=case_id)
    arg = AddRecords(documents=[ref for ref, _ in stored], by=by)
    return await claim(
        store,
        [s for _, s in stored],
        lambda: handle_for(client, case_id).execute_update(
            SmoCaseWorkflow.add_record, arg, rpc_timeout=RPC_TIMEOUT
        ),
    )


async def attest_consent(client: Client, case_id: str, form: DocumentRef, by: str) -> UpdateAck:
    """Record the member's consent to the transfer with their signed form (already stored)."""
    arg = GiveConsent.signed_form(form.doc_id, form.size, by)
    return await handle_for(client, case_id).execute_update(
        SmoCaseWorkflow.give_consent, arg, rpc_timeout=RPC_TIMEOUT
    )
