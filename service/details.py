"""A change to the member's details: a new intake sheet, sent to the case as `update_details`.

The portal's contact and language forms and the desk's commands all come here. The sheet is
PHI, so it lives in the encrypted store and the case holds only its id; a change the case
refuses removes the sheet this call stored, so a refusal leaves no PHI behind.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client

from models.case import CaseStatus, UpdateAck, UpdateDetails
from models.intake import PatientIntake, changed_sheet
from models.opinion import TranslatedInto
from runtime.documents import DocumentStore
from runtime.i18n import Language, language_of
from service.cases import RPC_TIMEOUT, status
from service.documents import claim
from service.updates import send_update
from workflows.smo_case import SmoCaseWorkflow


async def current_details(client: Client, store: DocumentStore, case_id: str) -> PatientIntake:
    """The member's details as the case holds them now."""
    doc_id = (await status(client, case_id)).intake_doc_id
    return await asyncio.to_thread(store.load_intake, case_id, doc_id)


async def summary_language(store: DocumentStore, case: CaseStatus) -> TranslatedInto | None:
    """The language an opinion's summary for the member is translated into: the member's, when
    it is not English (None: the English is theirs)."""
    intake = await asyncio.to_thread(store.load_intake, case.case_id, case.intake_doc_id)
    return "km" if language_of(intake.language) is Language.KM else None


async def change_details(
    client: Client,
    engine: Engine,
    store: DocumentStore,
    *,
    case_id: str,
    actor: str,
    changes: dict[str, Any],
    action: str = "case.update_details",
    wait: timedelta = RPC_TIMEOUT,
    questions: bool = False,
) -> UpdateAck | None:
    """Store the sheet with `changes` applied and send it to the case, audited as `action`.

    Only the named fields change: the rest of the sheet is the case's current one. The caller
    hears None when the case has not answered within `wait` (accepted, still running). A change
    that breaks a field's rule raises pydantic's ValidationError before anything is stored.
    """
    current = await current_details(client, store, case_id)
    changed = changed_sheet(current, changes)
    stored = await asyncio.to_thread(store.put_intake, changed, case_id)
    # With `questions`, the change rewrites the member's questions: the case counts them anew.
    count = len(changed.questions) if questions else None
    arg = UpdateDetails(intake_doc_id=stored.doc_id, by=actor, questions=count)

    def send() -> Any:
        return send_update(
            client,
            engine,
            case_id=case_id,
            actor=actor,
            action=action,
            update=SmoCaseWorkflow.update_details,
            arg=arg,
            wait=wait,
        )

    ack: UpdateAck | None = await claim(store, [stored], send)
    return ack
