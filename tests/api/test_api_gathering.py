"""Releases and requests to providers through the API, and what an attacker would try instead.

A request needs a release in force for that provider; a release expires at most a year
away; a record's language is an ISO 639-1 code and its date is not in the future. Every
refusal is a 4xx that stores nothing, and the provider's link names one request: a forged
one is a 404, one whose request has ended a 410.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from models.users import Role
from tests.api.conftest import LiveApi
from tests.api.test_api_edges import stored
from tests.polling import eventually
from tests.portal.conftest import emailed

C = "/api/v1/cases/{}"
PROVIDER_LINK = re.compile(r"https?://\S+/portal/providers/\S+")
TODAY = datetime.now(UTC).date()


async def release(live_api: LiveApi, token: str, case_id: str, **query: Any) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 signed release", filename="release.pdf")
    params = {"provider": "Calmette Hospital", "expires": str(TODAY + timedelta(days=90)), **query}
    status, body, _ = await live_api.call(
        "POST", C.format(case_id) + "/releases", token, data=form, params=params
    )
    return status, body


async def ask(live_api: LiveApi, token: str, case_id: str, **body: Any) -> tuple[int, Any]:
    sent = {"provider": "Calmette Hospital", "email": "records@calmette.example.com", **body}
    status, answer, _ = await live_api.call("POST", C.format(case_id) + "/records/requests", token, json=sent)
    return status, answer


async def test_a_request_needs_a_release_for_that_provider_and_its_link_dies_with_the_request(
    live_api: LiveApi,
) -> None:
    desk = live_api.token("gather-desk")
    await live_api.open_case(desk, "GATHER-API-1")
    before = stored(live_api)
    status, body = await ask(live_api, desk, "GATHER-API-1")
    assert status == 409 and "no release in force for this provider" in body["error"], body
    assert stored(live_api) == before  # the provider's sheet went with the refusal
    assert (await release(live_api, desk, "GATHER-API-1", types="operative_report"))[0] == 200
    status, body = await ask(live_api, desk, "GATHER-API-1", provider="Khmer-Soviet Friendship Hospital")
    assert status == 409, body  # the release names another provider
    status, body = await ask(live_api, desk, "GATHER-API-1", types="imaging")
    assert status == 409, body  # outside the release's scope
    status, body = await ask(live_api, desk, "GATHER-API-1", types="operative_report")
    assert status == 200 and body["detail"] == "request 1 sent", body

    links = await eventually(
        lambda: _links(live_api, "GATHER-API-1"), bool, what=lambda _: "no provider link emailed"
    )
    # The emailed link names the service's public address; this test's server listens elsewhere.
    link = live_api.url + links[-1][links[-1].index("/portal/") :]
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as page:
            assert page.status == 200
        tampered = link[:-1] + ("0" if link[-1] != "0" else "1")
        async with http.get(tampered) as page:
            assert page.status == 404
        other = link.replace("/GATHER-API-1/1/", "/GATHER-API-1/2/")
        async with http.get(other) as page:
            assert page.status == 404  # the signature names request 1 alone
    code, body, _ = await live_api.call(
        "POST", C.format("GATHER-API-1") + "/releases/1/revoke", desk, json={}
    )
    assert code == 200 and body["detail"] == "1 request(s) stopped", body
    async with aiohttp.ClientSession() as http, http.get(link) as page:
        assert page.status == 410
    _, status_now, _ = await live_api.call("GET", C.format("GATHER-API-1"), desk)
    assert status_now["gathering"]["requests"][0]["state"] == "revoked"
    assert "Calmette" not in str(status_now)  # the provider's name is in the encrypted sheet only


async def _links(live_api: LiveApi, case_id: str) -> list[str]:
    return emailed(live_api.services, case_id, PROVIDER_LINK)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            {"expires": str(TODAY + timedelta(days=400))},
            "a release expires at most 1 year after it is signed",
        ),
        ({"expires": str(TODAY - timedelta(days=1))}, "the release's expiry must be after today"),
        ({"expires": "next year"}, "query.expires"),
        ({"types": "operative_report,x-rays"}, "query.types"),
        ({"provider": "x"}, "query.provider"),
        ({"provider": "Calmette\x00"}, "the query may not contain NUL characters"),
        (
            {"records_from": str(TODAY + timedelta(days=3))},
            "the release's records-from date is in the future",
        ),
    ],
    ids=["over-a-year", "expired", "not-a-date", "unknown-type", "short-name", "nul", "future-records"],
)
async def test_a_release_that_breaks_a_rule_is_refused_and_stores_nothing(
    live_api: LiveApi, query: dict[str, str], error: str
) -> None:
    desk = live_api.token("release-desk")
    await live_api.open_case(desk, "GATHER-API-2")
    before = stored(live_api)
    status, body = await release(live_api, desk, "GATHER-API-2", **query)
    assert status in (409, 422) and error in body["error"], body
    assert stored(live_api) == before


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"language": "xx"}, "query.language"),
        ({"language": "km-KH"}, "query.language"),
        ({"dated": str(TODAY + timedelta(days=2))}, "a document cannot be dated in the future"),
        ({"translation_of": "a" * 64}, "a translation names a record of this case"),
        ({"translation_of": "../../etc"}, "query.translation_of"),
    ],
    ids=["unknown-language", "tag", "future", "unknown-original", "path"],
)
async def test_a_record_s_facts_are_checked_at_the_edge_and_by_the_case(
    live_api: LiveApi, query: dict[str, str], error: str
) -> None:
    desk = live_api.token("facts-desk")
    await live_api.open_case(desk, "GATHER-API-3")
    before = stored(live_api)
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 a record", filename="record.pdf")
    params = {"record_type": "imaging", **query}
    status, body, _ = await live_api.call(
        "POST", C.format("GATHER-API-3") + "/records", desk, data=form, params=params
    )
    assert status in (409, 422) and error in body["error"], body
    assert stored(live_api) == before


async def test_only_a_coordinator_of_the_case_s_program_records_or_revokes_a_release_or_asks_a_provider(
    live_api: LiveApi,
) -> None:
    desk = live_api.token("scope-desk2")
    await live_api.open_case(desk, "GATHER-API-4")
    before = stored(live_api)
    supervisor = live_api.token("sup-gather", Role.SUPERVISOR)
    other = live_api.token("aa-gather", programs=["assist-america"])
    for token, refused in ((supervisor, 403), (other, 404)):
        assert (await release(live_api, token, "GATHER-API-4"))[0] == refused
        assert (await ask(live_api, token, "GATHER-API-4"))[0] == refused
        code, _, _ = await live_api.call(
            "POST", C.format("GATHER-API-4") + "/releases/1/revoke", token, json={}
        )
        assert code == refused
    assert stored(live_api) == before
    code, body, _ = await live_api.call(
        "POST", C.format("GATHER-API-4") + "/releases/1/revoke", desk, json={}
    )
    assert code == 409 and "the case has no release 1" in body["error"], body
    code, body, _ = await live_api.call(
        "POST", C.format("GATHER-API-4") + "/releases/x1/revoke", desk, json={}
    )
    assert code == 422, body
