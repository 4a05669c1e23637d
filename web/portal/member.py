"""What a signed-in member does, through the same workflow updates and validators as the API.

Each action is audited under `member:<case id>` and its refusal keeps the validator's
words. Uploads stream part by part into the encrypted store; the program's document cap
is checked before a part is stored, so a refused document leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError

from activities.storage import DocumentStore, StoredDocument
from models.case import AddRecords, BookConsult, CaseStatus, DocumentRef, RecordType, UpdateAck, UpdateDetails
from models.consent import ConsentMethod, GiveConsent, WithdrawConsent
from models.intake import PatientIntake
from models.portal import ConsultForm, ContactForm, DobForm, RecordsForm
from runtime.db import audit
from security.envelope import IntegrityError
from starter import ops
from web.api import ApiServices
from web.portal.links import Member
from web.portal.pages import ICT
from web.uploads import UploadRefused, check_file_name, store_stream
from workflows.smo_case import SmoCaseWorkflow

_ESCAPED_PATH = re.compile(r"%(2f|5c|00)", re.IGNORECASE)
MEMBER_RECORD_TYPES = [t for t in RecordType if t not in (RecordType.SMO_REPORT, RecordType.CONSENT)]
DONE = {
    "records": "Thank you: your documents are with us.",
    "contact": "Thank you: your contact details are updated and our team has been told.",
    "consult": "Your telephone consultation is booked. We have emailed you the time.",
    "consent": "Thank you: your consent is recorded. Your records can now go to the specialist.",
    "withdrawn": "Your consent is withdrawn: no further records will be sent.",
}


class Refused(Exception):
    """The case (or the upload) refused the action: shown to the member as a 409/422 page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _first(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def dob_from(form: MultiDictProxy[Any]) -> date:
    return DobForm.model_validate({"date_of_birth": _first(form, "date_of_birth")}).date_of_birth


def contact_from(form: MultiDictProxy[Any]) -> ContactForm:
    return ContactForm.model_validate({"email": _first(form, "email"), "phone": _first(form, "phone")})


def slot_from(form: MultiDictProxy[Any]) -> datetime:
    # The form's datetime-local field has no zone: the page says the time is ICT.
    parsed = ConsultForm.model_validate({"slot": _first(form, "slot")}).slot
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ICT)


async def act(services: ApiServices, who: Member, update: Any, arg: Any, action: str) -> UpdateAck:
    """One workflow update, audited with the member as the actor and the outcome."""
    client = await services.client()
    try:
        ack: UpdateAck = await ops.handle_for(client, who.case_id).execute_update(
            update, arg, rpc_timeout=ops.RPC_TIMEOUT
        )
    except WorkflowUpdateFailedError as exc:
        reason = ops.explain(exc) or "the case refused the change"
        await asyncio.to_thread(
            audit, services.engine, actor=who.actor, action=action, outcome="refused",
            case_id=who.case_id, detail=reason,
        )  # fmt: skip
        raise Refused(409, reason[:1].upper() + reason[1:] + ".") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Refused(503, "Your case did not answer in time. Please reload the page to check.") from None
    await asyncio.to_thread(
        audit, services.engine, actor=who.actor, action=action, outcome="accepted",
        case_id=who.case_id, detail=ack.detail,
    )  # fmt: skip
    return ack


async def discard(store: DocumentStore, stored: list[StoredDocument]) -> None:
    for doc in stored:
        if doc.created:
            await asyncio.to_thread(store.delete, doc.doc_id)


async def read_field(reader: Any, name: str) -> str:
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != name:
        raise Refused(422, "The form was sent incompletely. Reload the page and try again.")
    return (await part.read(decode=True))[:200].decode("utf-8", errors="replace")


async def upload_records(
    request: web.Request, services: ApiServices, who: Member, check_csrf: Callable[[str], None]
) -> None:
    """csrf, record_type, then the files: the form's order, so nothing is stored unchecked."""
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise Refused(422, "Send the documents with the upload form.") from None
    check_csrf(await read_field(reader, "csrf"))
    try:
        record_type = RecordsForm.model_validate(
            {"record_type": await read_field(reader, "record_type")}
        ).record_type
    except ValueError:
        raise Refused(422, "Choose what kind of document this is.") from None
    if record_type not in MEMBER_RECORD_TYPES:
        raise Refused(422, "Choose what kind of document this is.")
    client = await services.client()
    try:
        await ops.ensure_running(client, who.case_id)
    except ops.UserError:
        raise Refused(409, "Your case is finished and takes no more documents.") from None
    status = await ops.status(client, who.case_id)
    cap = status.records.cap
    stored: list[StoredDocument] = []
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                raise Refused(422, "The form was sent incompletely. Reload the page and try again.")
            if not part.filename:
                continue  # the browser sends an empty part when no file was chosen
            try:
                check_file_name(part.filename)
                if _ESCAPED_PATH.search(part.filename):  # a path hidden in %-escapes is a path too
                    raise UploadRefused("a file name may not contain '/', '\\' or NUL, escaped or not")
            except UploadRefused as exc:
                raise Refused(422, f"That file name cannot be used: {exc}.") from None
            if cap is not None and status.records.documents + len(stored) + 1 > cap:
                raise Refused(
                    422,
                    f"Your programme accepts up to {cap} documents and your case has"
                    f" {status.records.documents}; nothing from this upload was kept.",
                )
            stored.append(await store_stream(services.store, part))
        if not stored:
            raise Refused(422, "Choose at least one file to upload.")
        refs = [DocumentRef(doc_id=s.doc_id, record_type=record_type, size=s.size) for s in stored]
        await act(
            services, who, SmoCaseWorkflow.add_record, AddRecords(documents=refs, by=who.actor), "records.add"
        )
    except Refused as exc:
        if exc.status != 503:  # after a timeout the case may still take them: they stay
            await discard(services.store, stored)
        raise
    except (ValueError, HttpProcessingError):
        await discard(services.store, stored)
        raise Refused(422, "The upload was malformed. Please try again.") from None
    except BaseException:
        await discard(services.store, stored)
        raise


async def update_contact(
    services: ApiServices, who: Member, status: CaseStatus, contact: ContactForm
) -> None:
    """A new intake sheet with the changed email and phone; the case notifies the team."""
    current = await asyncio.to_thread(services.store.load_intake, status.intake_doc_id)
    changed = PatientIntake.model_validate(
        current.model_dump() | {"email": contact.email, "phone": contact.phone}
    )
    stored = await asyncio.to_thread(services.store.put_intake, changed)
    arg = UpdateDetails(intake_doc_id=stored.doc_id, by=who.actor)
    try:
        await act(services, who, SmoCaseWorkflow.update_details, arg, "case.update_details")
    except Refused as exc:
        if exc.status != 503 and stored.created:  # a refused change leaves no PHI behind
            await asyncio.to_thread(services.store.delete, stored.doc_id)
        raise


async def book_consult(services: ApiServices, who: Member, slot: datetime) -> None:
    await act(
        services, who, SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by=who.actor), "consult.book"
    )


async def stream_document(
    request: web.Request, store: DocumentStore, doc_id: str, filename: str
) -> web.StreamResponse:
    """Decrypt and stream one stored document; a broken one cuts the connection mid-body."""
    chunks: Iterator[bytes] = store.open(doc_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(request)
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            await response.write(chunk)
    except IntegrityError:
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


def consent_version_from(form: MultiDictProxy[Any]) -> str:
    version = _first(form, "version")
    if not version or len(version) > 20:
        raise Refused(422, "Reload the page to see the consent text, then agree to it.")
    return version


async def give_consent(services: ApiServices, who: Member, version: str) -> None:
    arg = GiveConsent(method=ConsentMethod.PORTAL, version=version, by=who.actor)
    await act(services, who, SmoCaseWorkflow.give_consent, arg, "consent.give")


async def withdraw_consent(services: ApiServices, who: Member) -> None:
    await act(
        services, who, SmoCaseWorkflow.withdraw_consent, WithdrawConsent(by=who.actor), "consent.withdraw"
    )
