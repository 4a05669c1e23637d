"""The public request form turned against someone: a resubmitted form, someone else's address, parts
a browser would never send.

Anyone may send the form with any address and any words. What reaches that address is one
fixed message with a confirmation link, whatever the form said; nothing reaches the desk
before the link is followed; and the same form sent again (a double click, a reload of the
POST) is the same request: one case, one message. A document's type that the form does not
offer, a type without its file or a file without its type, a language or a sex the form does
not offer: each is refused, opens nothing and keeps nothing, and the page never repeats it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from sqlmodel import Session, select

from activities.notice_templates import render_notice
from models.db import EmailRow
from models.notices import NoticeKind
from runtime.outbox import read_outbox
from service import handle_for
from tests.polling import eventually, holds
from tests.portal.conftest import Site
from tests.portal.test_portal_intake import (
    MEMBER_FORM,
    audited,
    body_of,
    case_opens,
    confirmation,
    request_body,
    request_form,
)
from tests.portal.test_portal_sign_in import jar

VICTIM = "victim@example.com"
LURE = "customer. URGENT: your policy is suspended, pay at http://evil.example/pay today"


async def waiting_for_confirmation(site: Site, case_id: str) -> None:
    """Until the case waits for its link: all it sends before confirmation has been sent by then."""

    async def timer_started() -> bool:
        history = await handle_for(site.env.client, case_id).fetch_history()
        return any(e.HasField("timer_started_event_attributes") for e in history.events)

    await holds(timer_started)


async def test_the_same_post_sent_twice_opens_one_case_and_sends_one_email(site: Site) -> None:
    url = site.url + "/portal/request/assist-america"
    async with jar() as http:
        csrf, nonce = await request_form(http, site)

        def again() -> Any:
            return http.post(url, data=request_body(csrf, nonce, files=1), allow_redirects=False)

        # A double click: the same POST twice at once; then a reload of it once answered.
        first, second = await asyncio.gather(again(), again())
        third = await again()
        assert [r.status for r in (first, second, third)] == [303, 303, 303]
        assert {r.headers["Location"] for r in (first, second, third)} == {
            "/portal/request/assist-america/sent"
        }
    case_id, _ = await confirmation(site)
    await waiting_for_confirmation(site, case_id)

    messages = read_outbox(site.services.settings.outbox_dir)
    assert [(m["To"], m["X-SMO-Case-Id"]) for m in messages] == [("member@example.com", case_id)]
    with Session(site.engine) as db:
        assert [e.notice_id for e in db.exec(select(EmailRow))] == [f"{case_id}:confirm_request:1"]
    assert {e.case_id for e in audited(site, "case.open")} == {case_id}

    async def listed() -> list[str]:
        _, body = await site.api("GET", "/api/v1/cases")
        return [c["case_id"] for c in body["cases"]]

    # `smo case list`: the one case, once the visibility store has it.
    assert await eventually(listed, bool) == [case_id]


async def test_a_url_and_urgent_in_the_name_reach_nobody_but_the_fixed_confirmation(site: Site) -> None:
    async with jar() as http:
        csrf, nonce = await request_form(http, site)
        lure = request_body(
            csrf,
            nonce,
            1,
            patient_name=LURE,
            email=VICTIM,
            policy_number="AA-MADE-UP-77",  # no such policy: the desk would be told of a refusal
            diagnosis_text="URGENT http://evil.example/pay",
        )
        resp = await http.post(site.url + "/portal/request/assist-america", data=lure, allow_redirects=False)
        assert resp.status == 303, await resp.text()
    case_id, link = await confirmation(site, VICTIM)
    await waiting_for_confirmation(site, case_id)

    messages = read_outbox(site.services.settings.outbox_dir)
    assert [m["To"] for m in messages] == [VICTIM]  # nothing to the desk before confirmation
    subject, body = render_notice(NoticeKind.CONFIRM_REQUEST, {"portal": link})
    (msg,) = messages
    assert msg["Subject"] == subject
    assert body_of(msg).replace("\r\n", "\n") == body  # the fixed words; the link is the one value
    wire = msg.as_string()
    for word in ("URGENT", "evil.example", "customer", "Dear"):
        assert word not in wire


async def test_no_sign_in_link_goes_out_before_the_request_is_confirmed(site: Site) -> None:
    async with jar() as http:
        csrf, nonce = await request_form(http, site)
        data = request_body(csrf, nonce, email=VICTIM, policy_number="AA-MADE-UP-78")
        resp = await http.post(site.url + "/portal/request/assist-america", data=data, allow_redirects=False)
        assert resp.status == 303
    case_id, link = await confirmation(site, VICTIM)
    # Even the desk's request for a sign-in link waits: it would carry the form's name.
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/portal-link", json={})
    assert code == 409 and "not confirmed" in body["error"]
    await waiting_for_confirmation(site, case_id)
    assert [m["To"] for m in read_outbox(site.services.settings.outbox_dir)] == [VICTIM]
    async with jar() as http, http.get(link) as page:
        assert page.status == 200  # the link still works: the request waits for its member


async def test_documents_types_a_language_or_a_sex_the_form_does_not_offer_open_nothing(site: Site) -> None:
    before = {p for p in site.services.store.root.rglob("*") if p.is_file()}
    record = ("file", b"%PDF-1.4 synthetic record", "record.pdf")
    kind = ("record_type", b"discharge_summary", None)
    orders: list[list[Part]] = [
        [("record_type", b"smo_report", None), record],  # the specialist's, not the member's
        [("record_type", b"consent", None), record],
        [("record_type", b"../../objects", None), record],
        [("record_type", b"x" * 100_000, None), record],
        [kind],  # a type without a file
        [kind, kind, record],
        [kind, record, kind],
        [record],  # a file without a type
        [("record_type", b"", None), record],  # a file whose type was not chosen
        [kind, record, ("other_field", b"x", None)],
    ]
    sent: list[tuple[int, str, str]] = []
    async with jar() as http:
        for n, parts in enumerate(orders):
            sent.append(await post_parts(http, site, parts, n))
        for n, fields in enumerate(
            [{"language": "k" * 100_000}, {"language": "fr"}, {"language": "km-KH"}, {"language": " km"}],
            start=len(sent),
        ):
            sent.append(await post_parts(http, site, [kind, record], n, **fields))
        for n, sex in enumerate(["other", "FEMALE", "<b>female</b>", "f" * 100_000], start=len(sent)):
            sent.append(await post_parts(http, site, [kind, record], n, sex=sex))
    for status, page, words in sent:
        assert status == 422, page
        assert words not in page and "<b>" not in page and "kkkkk" not in page and "xxxxx" not in page
    languages = sent[len(orders) : len(orders) + 4]
    assert all("Please choose a language from the list" in page for _, page, _ in languages)
    assert all("Please choose female or male" in page for _, page, _ in sent[len(orders) + 4 :])
    assert case_opens(site) == 0
    assert read_outbox(site.services.settings.outbox_dir) == []
    assert {p for p in site.services.store.root.rglob("*") if p.is_file()} == before  # nothing kept


# A multipart part after the form's fields: its name, content and file name (None for a field).
Part = tuple[str, bytes, str | None]


async def post_parts(
    http: aiohttp.ClientSession, site: Site, parts: list[Part], n: int, **fields: str
) -> tuple[int, str, str]:
    """The form's fields (with `fields`), then `parts` in their order: (status, page, a word of ours
    the page must not repeat). Each post names its own address and policy, so no limit is reached."""
    csrf, nonce = await request_form(http, site)
    mark = f"marker{n:03d}"
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("form", nonce)
    values = MEMBER_FORM | {"email": f"{mark}@example.com", "policy_number": f"AA-{mark}"} | fields
    for name, value in values.items():
        form.add_field(name, value)
    for name, content, filename in parts:  # a field as text, a file as bytes
        form.add_field(name, content if filename else content.decode(), filename=filename)
    url = site.url + "/portal/request/assist-america"
    async with http.post(url, data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text(), mark
