"""The API's calls that gather records for the member: releases and requests to providers.

The provider's name and address are PHI: they go to the encrypted store as the request's
sheet, and the case gets its id and the name's hash (`models.records`). A refused request
removes the sheet it stored; a refused release, the file.
"""

from __future__ import annotations

import asyncio

from pydantic import ValidationError

import service
from models.api import ActionResult, Empty
from models.api_records import RecordsRequestBody, ReleaseNumber, ReleaseQuery
from models.case import DocumentRef, RecordType
from models.records import ProviderSheet, provider_key
from models.records_updates import RecordRelease, RequestRecords, RevokeRelease
from web.api.call import Call, update, with_files
from web.errors import WebError, validation_message
from web.spec import COORDINATORS, Route, Upload
from workflows.smo_case import SmoCaseWorkflow


async def record_release(call: Call) -> ActionResult:
    q: ReleaseQuery = call.query

    def arg(refs: list[DocumentRef]) -> RecordRelease:
        return RecordRelease(
            provider_key=provider_key(q.provider),
            document=refs[0],
            types=q.types,
            records_from=q.records_from,
            expires_on=q.expires,
            by=call.who.name,
        )

    return await with_files(call, RecordType.CONSENT, SmoCaseWorkflow.record_release, arg, "release.record")


async def revoke_release(call: Call) -> ActionResult:
    try:
        number = ReleaseNumber.model_validate({"number": call.request.match_info["number"]}).number
    except ValidationError as exc:
        raise WebError(422, validation_message(exc, "path")) from None
    arg = RevokeRelease(release_no=number, by=call.who.name)
    return await update(call, SmoCaseWorkflow.revoke_release, arg, "release.revoke")


async def request_records(call: Call) -> ActionResult:
    b: RecordsRequestBody = call.body
    call.check_running()
    store = call.backends.store
    sheet = ProviderSheet(name=b.provider, email=b.email, language=b.language)
    stored = await asyncio.to_thread(store.put_bytes, sheet.model_dump_json().encode(), call.case_id)
    arg = RequestRecords(
        provider_key=provider_key(b.provider),
        provider_doc_id=stored.doc_id,
        types=b.types,
        release_no=b.release,
        by=call.who.name,
    )
    return await service.claim(
        store, [stored], lambda: update(call, SmoCaseWorkflow.request_records, arg, "records.request")
    )


C = "/api/v1/cases/{case_id}"
ROUTES = [
    Route(
        "POST",
        f"{C}/releases",
        record_release,
        "Attest the member's signed paper release: a provider, a scope, an expiry (at most a year)",
        ActionResult,
        COORDINATORS,
        query=ReleaseQuery,
        upload=Upload(1, 1),
    ),
    Route(
        "POST",
        f"{C}/releases/{{number}}/revoke",
        revoke_release,
        "Revoke a release: every open request under it stops",
        ActionResult,
        COORDINATORS,
        body=Empty,
        params=ReleaseNumber,
    ),
    Route(
        "POST",
        f"{C}/records/requests",
        request_records,
        "Ask a provider for records under a release in force; it gets an upload link by email",
        ActionResult,
        COORDINATORS,
        body=RecordsRequestBody,
    ),
]
