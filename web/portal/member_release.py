"""The member signs a release of their records to a provider, and revokes one, on their case page.

A release is a versioned text in the member's language naming the provider, the records
(types, from a date) and an expiry of at most a year. The member types their full name as
it is on the case and ticks that they agree; what they signed (the text as they read it, the
name typed, the time and the signed-in identity) is kept encrypted as the release's document,
and the case records the release (`record_release`, source `portal`). Revoking stops every
open request under it (`revoke_release`). Both are audited under `member:<case id>`.

The member's page names each release's and request's provider from those encrypted documents
(the case itself holds only a hash of the name).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from models.case import CaseStatus, DocumentRef, RecordType
from models.records import RELEASE_LONGEST, ProviderSheet, ReleaseSource, RequestState, provider_key
from models.records_updates import RecordRelease, RequestRecords, RevokeRelease
from runtime import i18n
from runtime.documents import small_read
from runtime.i18n import ICT, N_, gettext
from web.errors import WebError
from web.portal.base import Portal, act, form_text
from web.portal.member_visit import Visit, form_of
from web.uploads import MEMBER_RECORD_TYPES
from workflows.smo_case import SmoCaseWorkflow

RELEASE_VERSION = "2026-12-07"
RELEASE_TEXT = N_(
    "I authorise %(provider)s to send my medical records (%(records)s, from %(since)s) to the"
    " Second Medical Opinion service of my insurer, for a second opinion by a specialist in the"
    " United States. This release is valid until %(until)s, and I can revoke it at any time on"
    " this page."
)
RELEASE_DONE = {
    "release": N_("Thank you: your release is recorded. We can now ask your hospital for your records."),
    "revoked": N_("Your release is revoked: we no longer ask that hospital for your records."),
    "asked": N_("Thank you: your release is recorded, and we have asked the hospital for your records."),
}
REFUSED = {
    "release.sign": N_("This release cannot be recorded. Check its dates, or contact us."),
    "release.revoke": N_("This release cannot be revoked now. Please contact us."),
    "records.request": N_("Your release is recorded, but we could not ask the hospital now. Our team will."),
}
WRONG_NAME = N_("Type your full name exactly as it is on your case.")
NOT_AGREED = N_("Tick the box to agree to the release.")
CHECK_RELEASE = N_(
    "Check the release: the hospital's name and email, the records and a date within one year."
)
NUMBER = re.compile(r"[0-9]{1,2}")
# A request's state as the member reads it.
STATE_WORDS = {
    RequestState.SENT: N_("asked"),
    RequestState.REMINDED: N_("asked again"),
    RequestState.PARTIAL: N_("some records received"),
    RequestState.RECEIVED: N_("received"),
    RequestState.REFUSED: N_("the hospital could not send them"),
    RequestState.EXPIRED: N_("no longer needed"),
    RequestState.REVOKED: N_("stopped: you revoked the release"),
}


class SignedRelease(BaseModel):
    """What the member signed, as kept (encrypted) for the release."""

    version: str
    language: str
    text: str
    provider: str
    types: list[RecordType]
    records_from: date | None
    expires_on: date
    typed_name: str
    signed_at: datetime
    signed_in_as: str


def _folded(name: str) -> str:
    return " ".join(name.casefold().split())


def _form(form: MultiDictProxy[Any]) -> dict[str, Any]:
    return {
        "provider": form_text(form, "provider").strip(),
        "types": [str(t) for t in form.getall("types", []) if isinstance(t, str)],
        "records_from": form_text(form, "records_from") or None,
        "expires": form_text(form, "expires"),
        "name": form_text(form, "full_name"),
        "email": form_text(form, "provider_email").strip(),
        "agree": form_text(form, "agree") == "yes",
        "version": form_text(form, "version"),
    }


def release_text(provider: str, types: list[RecordType], since: date | None, until: date) -> str:
    """The release as the member reads it, in the page's language."""
    from runtime.words import record_type

    language = i18n.current()
    records = ", ".join(record_type(t, language) for t in types) if types else gettext(N_("all my records"))
    return gettext(RELEASE_TEXT) % {
        "provider": provider,
        "records": records,
        "since": since.isoformat() if since else "—",
        "until": until.isoformat(),
    }


routes = web.RouteTableDef()


@routes.post("/cases/{case_id}/releases")
async def sign_release(request: web.Request) -> web.StreamResponse:
    visit, _, intake, fields = await form_of(request, _form)
    if not fields["agree"]:
        raise WebError(422, gettext(NOT_AGREED))
    if _folded(fields["name"]) != _folded(intake.patient_name):
        raise WebError(422, gettext(WRONG_NAME))
    today = datetime.now(ICT).date()
    try:
        types = [RecordType(t) for t in fields["types"] if RecordType(t) in MEMBER_RECORD_TYPES]
        expires = date.fromisoformat(fields["expires"])
        since = date.fromisoformat(fields["records_from"]) if fields["records_from"] else None
        sheet = ProviderSheet(name=fields["provider"], email=fields["email"] or None)
    except (ValueError, ValidationError):
        raise WebError(422, gettext(CHECK_RELEASE)) from None
    if not today < expires <= today + RELEASE_LONGEST or (since is not None and since > today):
        raise WebError(422, gettext(CHECK_RELEASE))
    signed = SignedRelease(
        version=RELEASE_VERSION,
        language=i18n.current().value,
        text=release_text(sheet.name, types, since, expires),
        provider=sheet.name,
        types=types,
        records_from=since,
        expires_on=expires,
        typed_name=fields["name"].strip(),
        signed_at=datetime.now(UTC),
        signed_in_as=visit.who.actor,
    )
    store = visit.portal.backends.store
    stored = await asyncio.to_thread(store.put_bytes, signed.model_dump_json().encode(), visit.case_id)
    document = DocumentRef(doc_id=stored.doc_id, record_type=RecordType.CONSENT, size=stored.size)
    arg = RecordRelease(
        provider_key=provider_key(sheet.name),
        document=document,
        types=types,
        records_from=since,
        expires_on=expires,
        source=ReleaseSource.PORTAL,
        by=visit.who.actor,
    )
    refused = REFUSED["release.sign"]
    await act(
        visit.portal,
        visit.who,
        SmoCaseWorkflow.record_release,
        arg,
        "release.sign",
        [stored],
        refused=refused,
    )
    if sheet.email is not None:
        await _ask_the_hospital(visit, sheet, types)
        raise visit.back("asked")
    raise visit.back("release")


async def _ask_the_hospital(visit: Visit, sheet: ProviderSheet, types: list[RecordType]) -> None:
    """The member gave the hospital's address: it is asked for the records under this release."""
    store = visit.portal.backends.store
    stored = await asyncio.to_thread(store.put_bytes, sheet.model_dump_json().encode(), visit.case_id)
    arg = RequestRecords(
        provider_key=provider_key(sheet.name), provider_doc_id=stored.doc_id, types=types, by=visit.who.actor
    )
    refused = REFUSED["records.request"]
    await act(
        visit.portal,
        visit.who,
        SmoCaseWorkflow.request_records,
        arg,
        "records.request",
        [stored],
        refused=refused,
    )


@routes.post("/cases/{case_id}/releases/{n}/revoke")
async def revoke_release(request: web.Request) -> web.StreamResponse:
    visit, status, _, _ = await form_of(request, lambda _form: None)
    n = request.match_info["n"]
    release = status.gathering.release(int(n)) if NUMBER.fullmatch(n) and status.gathering else None
    if release is None:
        raise WebError(404, gettext(N_("There is no such release.")))
    if release.revoked_at is not None:  # sent twice: it is revoked already
        raise visit.back("revoked")
    arg = RevokeRelease(release_no=release.release_no, by=visit.who.actor)
    refused = REFUSED["release.revoke"]
    await act(visit.portal, visit.who, SmoCaseWorkflow.revoke_release, arg, "release.revoke", refused=refused)
    raise visit.back("revoked")


async def providers_named(portal: Portal, status: CaseStatus) -> dict[str, str]:
    """Each release's and request's provider, by document id, from the encrypted documents."""
    g = status.gathering
    if g is None:
        return {}
    store, names = portal.backends.store, dict[str, str]()
    if not g.requests and not any(r.source is ReleaseSource.PORTAL for r in g.releases):
        return names  # nothing to read (every case page asks)

    def read() -> None:
        for doc_id in [r.document_id for r in g.releases if r.source is ReleaseSource.PORTAL]:
            names[doc_id] = str(json.loads(store.read_small(status.case_id, doc_id))["provider"])
        for request in g.requests:
            sheet = ProviderSheet.model_validate_json(
                store.read_small(status.case_id, request.provider_doc_id)
            )
            names[request.provider_doc_id] = sheet.name

    await small_read(store, read)
    return names


def release_defaults() -> dict[str, Any]:
    """The form's starting values: records from a year back, valid for six months."""
    today = datetime.now(ICT).date()
    return {
        "release_version": RELEASE_VERSION,
        "release_until": (today + timedelta(days=182)).isoformat(),
        "release_latest": (today + RELEASE_LONGEST).isoformat(),
        "release_types": sorted(MEMBER_RECORD_TYPES, key=lambda t: t.value),
        "release_preview": gettext(RELEASE_TEXT)
        % {
            "provider": gettext(N_("the hospital you name")),
            "records": gettext(N_("the records you tick")),
            "since": gettext(N_("the date you give")),
            "until": gettext(N_("the date you choose")),
        },
        "request_words": {state.value: gettext(words) for state, words in STATE_WORDS.items()},
    }
