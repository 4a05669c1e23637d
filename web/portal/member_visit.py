"""A signed-in member's request to their own case: the session, the case, its language, the form.

The case is the session's own (another case answers 404, exactly as a missing one does);
every POST carries the session's CSRF token. Every page is in the case's language, set once
the case is loaded (`Visit.case`). The member's pages (web.portal.member) and their consult's
(web.portal.member_consult) both start here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

import service
from models.case import CaseStatus
from models.intake import PatientIntake
from runtime import i18n
from runtime.db import quick_read
from runtime.documents import small_read
from runtime.i18n import N_, Language, language_of
from runtime.portal_links import Holder
from web.errors import WebError
from web.portal.base import LATE, Portal, answered, audit, check_csrf, form_text, parse_form, portal_of
from web.portal.signin import COOKIE

T = TypeVar("T")

NO_CASE = N_("There is no such case.")
SIGN_IN = N_("Please sign in with the link from your email.")


@dataclass(frozen=True, slots=True)
class Visit:
    """One signed-in member's request to their own case."""

    portal: Portal
    who: Holder
    sid: str
    case_id: str

    @property
    def csrf(self) -> str:
        return self.portal.links.csrf_token(self.sid)

    def check_csrf(self, presented: str) -> None:
        check_csrf(self.portal, self.sid, presented)

    def back(self, done: str) -> web.HTTPSeeOther:
        return web.HTTPSeeOther(f"/portal/cases/{self.case_id}?done={done}")

    async def case(self, chosen: Language | None = None) -> tuple[CaseStatus, PatientIntake]:
        """The case and its intake sheet; from here on the page is in the case's language
        (a finished case takes no change of language: there the reader's `chosen` one wins)."""
        try:
            status = await self.portal.backends.case_status(self.case_id)
        except service.NoCase:
            raise WebError(404, NO_CASE) from None
        store = self.portal.backends.store
        intake = await small_read(store, store.load_intake, self.case_id, status.intake_doc_id)
        wanted = chosen if chosen is not None and status.stage.terminal else None
        i18n.use(wanted or language_of(intake.language))
        return status, intake

    async def refuse(self, action: str, words: str, detail: str) -> NoReturn:
        """A refusal the page decides before the case is asked (or the case service's conflict):
        audited as the case's own would be, and said to the member as `words` (a 409)."""
        await audit(self.portal, self.who.actor, action, "refused", self.case_id, detail)
        raise WebError(409, words)


async def visit_of(request: web.Request) -> Visit:
    portal = portal_of(request)
    sid = request.cookies.get(COOKIE, "")
    who = await quick_read(portal.links.engine, portal.links.session, sid) if sid else None
    if who is None:
        raise WebError(401, SIGN_IN)
    case_id = request.match_info["case_id"]
    if case_id != who.case_id:
        # Someone else's case answers exactly as a case that does not exist.
        raise WebError(404, NO_CASE)
    return Visit(portal, who, sid, case_id)


async def form_of(
    request: web.Request, parse: Callable[[MultiDictProxy[Any]], T], plain: dict[str, str] | None = None
) -> tuple[Visit, CaseStatus, PatientIntake, T]:
    """A signed-in member's form POST: the session, the case (its language), the CSRF token,
    then the fields."""
    visit = await visit_of(request)
    status, intake = await visit.case()
    form = await request.post()
    visit.check_csrf(form_text(form, "csrf"))
    return visit, status, intake, parse_form(parse, form, plain)


async def change_details(
    visit: Visit, changes: dict[str, Any], action: str, refused: str, *, questions: bool = False
) -> None:
    """A new intake sheet with `changes`, sent to the case (service.change_details); the case's
    refusal is said as `refused`. A change that breaks a field's rule raises ValidationError
    before anything is stored."""
    backends = visit.portal.backends
    with answered(action, refused):
        ack = await service.change_details(
            await backends.client(),
            backends.engine,
            backends.store,
            case_id=visit.case_id,
            actor=visit.who.actor,
            changes=changes,
            action=action,
            questions=questions,
        )
    if ack is None:
        raise WebError(503, LATE)
