"""Consent before records cross a border: the case waits, says why, and withdrawal stops transfers."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from sqlmodel import Session, select

from models import search
from models.case import workflow_id_for
from models.db import DocumentRow
from runtime.outbox import read_outbox
from tests.api.test_thin_cli import bare_env, smo
from tests.polling import holds
from tests.portal.conftest import Site
from tests.portal.test_portal_sign_in import jar, sign_in
from tests.portal.test_portal_specialist import csrf_of
from workflows.case.consent import WAITING


async def held_for_consent(site: Site, case_id: str) -> None:
    async def waiting() -> bool:
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        return bool(status["consent"]["waiting"])

    await holds(waiting)


def records_sent_to_specialists(site: Site, case_id: str) -> list[str]:
    """The notice ids of every records email the case has sent a specialist."""
    return [
        str(msg["X-SMO-Notice-Id"])
        for msg in read_outbox(site.services.settings.outbox_dir)
        if msg.get("X-SMO-Case-Id") == case_id and ":records_to_specialist:" in str(msg["X-SMO-Notice-Id"])
    ]


async def attention_of(site: Site, case_id: str) -> str | None:
    described = await site.env.client.get_workflow_handle(workflow_id_for(case_id)).describe()
    return described.typed_search_attributes.get(search.ATTENTION)


async def test_a_desk_opened_prudential_case_waits_for_consent_and_sends_no_records_until_the_desk_attests_it(
    site: Site, tmp_path: Path
) -> None:
    # Default settings: a case the desk opens needs consent, with nothing switched on for it.
    await site.ready_for_review("CONSENT-1", "prudential-kh", consent=False)
    await held_for_consent(site, "CONSENT-1")
    _, status = await site.api("GET", "/api/v1/cases/CONSENT-1")
    assert status["stage"] == "ASSIGNING_SPECIALIST" and status["specialist_id"] is None
    assert set(status["records"]["required"]) <= set(status["records"]["received"])
    assert status["consent"] == status["consent"] | {"required": True, "given": False, "waiting": True}
    assert status["timeline"][-1]["detail"] == WAITING
    assert await attention_of(site, "CONSENT-1") == WAITING
    assert records_sent_to_specialists(site, "CONSENT-1") == []

    form = tmp_path / "signed-consent.pdf"
    form.write_bytes(b"%PDF-1.4 synthetic signed consent form")
    code, out, err = await smo(
        "consent", "record", "CONSENT-1", str(form), env=bare_env(site.url, site.coordinator), cwd=tmp_path
    )
    assert code == 0, err
    assert "consent recorded" in out
    await site.assignment_link("CONSENT-1")
    assert records_sent_to_specialists(site, "CONSENT-1") == ["CONSENT-1:records_to_specialist:1"]
    _, status = await site.api("GET", "/api/v1/cases/CONSENT-1")
    assert status["consent"]["method"] == "signed_form" and status["consent"]["by"] == "desk"
    assert status["consent"]["waiting"] is False
    assert status["stage"] == "UNDER_REVIEW" and status["specialist_id"]
    assert await attention_of(site, "CONSENT-1") is None
    with Session(site.engine) as db:
        kinds = {
            r.record_type for r in db.exec(select(DocumentRow).where(DocumentRow.case_id == "CONSENT-1"))
        }
    assert "consent" in kinds
    _, trail = await site.api("GET", "/api/v1/cases/CONSENT-1/audit")
    assert ("desk", "consent.record", "accepted") in {
        (e["actor"], e["action"], e["outcome"]) for e in trail["events"]
    }


async def test_withdrawn_consent_stops_the_specialist_downloading_records(site: Site) -> None:
    await site.ready_for_review("CONSENT-2", consent=False)
    await held_for_consent(site, "CONSENT-2")
    async with jar() as http:
        assert (await sign_in(http, await site.sign_in_link("CONSENT-2"))).status == 303
        page = site.url + "/portal/cases/CONSENT-2"
        csrf = await csrf_of(http, page)
        resp = await http.post(page + "/consent", data={"csrf": csrf, "version": "1999-01-01"})
        assert resp.status == 409  # not the current consent text
        # The page's own version names the language the text was read in.
        async with http.get(page) as shown:
            version = re.search(r'name="version" value="([^"]+)"', await shown.text())
        assert version is not None and version.group(1) == "2026-12-01/en"
        resp = await http.post(page + "/consent", data={"csrf": csrf, "version": version.group(1)})
        assert resp.status == 200 and "consent is recorded" in await resp.text()
        _, status = await site.api("GET", "/api/v1/cases/CONSENT-2")
        assert status["consent"]["version"] == "2026-12-01/en"
        link = await site.assignment_link("CONSENT-2")
        async with aiohttp.ClientSession() as desk:
            async with desk.get(link) as got:
                doc = next(iter(re.findall(r"/records/([0-9a-f]{64})", await got.text())))
            async with desk.get(f"{link}/records/{doc}") as allowed:
                assert allowed.status == 200
            resp = await http.post(page + "/consent/withdraw", data={"csrf": csrf})
            assert resp.status == 200 and "withdrawn" in await resp.text()
            async with desk.get(f"{link}/records/{doc}") as refused:
                assert refused.status == 410
    _, trail = await site.api("GET", "/api/v1/cases/CONSENT-2/audit")
    done = {(e["actor"], e["action"]) for e in trail["events"] if e["outcome"] == "accepted"}
    assert {("member:CONSENT-2", "consent.give"), ("member:CONSENT-2", "consent.withdraw")} <= done


async def test_a_program_without_portal_intake_has_no_request_form(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(site.url + "/portal/request/prudential-kh") as resp:
            assert resp.status == 404
        async with http.get(site.url + "/portal/request/assist-america") as resp:
            assert resp.status == 200
