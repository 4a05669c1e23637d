"""What every portal page shares: its backends, cookies, form tokens, the rate limit, the audited action.

A page refuses with a `WebError` (shown as a plain page by `web.portal.app.pages`), its
sentence marked for the catalog. Forms carry a CSRF token bound to the session, to the
sign-in link or, where no session exists yet (staff sign-in, self-service intake, a new
sign-in link), to a random cookie (double submit: `FormNonce`). Every action a member or a
specialist takes is the workflow update the API sends, audited under them; a member is told
a refusal in plain words (`answered`), never the case's own. Work whose duration must not
show in the answer runs after it (`Portal.later`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError

import service
from models.case import UpdateAck
from runtime import db
from runtime.clients import client_of
from runtime.documents import StoredDocument
from runtime.i18n import N_
from runtime.portal_links import SESSION_TTL, Holder, LinkCheck, LinkState, PortalLinks
from runtime.rate_limits import Rule, SharedCounters
from runtime.web import stream_document
from web.backends import Backends
from web.errors import WebError, validation_message
from web.portal.pages import render
from web.portal.ratelimit import FLOOD_WINDOW, LINK, SlidingWindow, TooManyRequests

T = TypeVar("T")

EXPIRED_FORM = N_("This form has expired. Reload the page and try again.")
# A contact detail typed wrong, in plain words: the request form and the contact form keep the
# same rules (`models.input_text`), so they say the same thing.
CONTACT_WORDS = {
    "email": N_("Please check the email address. It looks like name@example.com."),
    "phone": N_("Please write the phone number with digits, for example 012 345 678 or +855 12 345 678."),
}
LATE = N_("Your case did not answer in time. Please reload the page to check.")
CHECK_FORM = N_("Please check the form and try again.")
# Pieces of work after the answer (`Portal.later`) running at once in one web process. Each
# is a few lookups and an update; far more than a desk's members ask for at one time.
IN_FLIGHT = 32

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Desk:
    """How a member reaches the desk (SMO_DESK_EMAIL, SMO_DESK_PHONE): on help and error pages."""

    email: str
    phone: str


@dataclass
class Portal:
    backends: Backends
    links: PortalLinks
    secure_cookies: bool = True
    # The limits (web.portal.ratelimit): a coarse flood guard per client address in this
    # process, and the shared counters in the case DB that protect links, cases and addressees.
    flood: SlidingWindow = field(init=False)
    counters: SharedCounters = field(init=False)
    # Work a page does after it has answered (`later`), held until done: a task nobody holds
    # may be collected before it runs to its end. At most `IN_FLIGHT` at once.
    tasks: set[asyncio.Task[None]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        settings = self.backends.settings
        self.flood = SlidingWindow(settings.portal_flood_limit, FLOOD_WINDOW)
        self.counters = SharedCounters(self.backends.engine, self.links.key)

    @property
    def desk(self) -> Desk:
        settings = self.backends.settings
        return Desk(settings.desk_email, settings.desk_phone)

    def later(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work` once the page has answered, so how long it takes tells the sender nothing.

        False when `IN_FLIGHT` pieces of work are running already: `work` is dropped, not queued
        (a flood of requests must not grow without bound), and the page answers as it would.
        """
        if len(self.tasks) >= IN_FLIGHT:
            work.close()  # never started: closed, so it is not reported as never awaited
            return False
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("portal background work failed: %s", type(task.exception()).__name__)

    async def finish(self) -> None:
        """At shutdown: the work still running is given a moment, then cancelled."""
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=5)
            for task in pending:
                task.cancel()


PORTAL: web.AppKey[Portal] = web.AppKey("portal", Portal)


def portal_of(request: web.Request) -> Portal:
    return request.app[PORTAL]


def rate_limit(request: web.Request) -> None:
    """The flood guard per client address, on every form and link page that needs no session."""
    portal = portal_of(request)
    wait = portal.flood.wait(client_of(request))  # as the edge named it (web.transport)
    if wait is not None:
        raise TooManyRequests(timedelta(seconds=wait))


async def open_link(
    request: web.Request, check: Callable[[str], LinkCheck], scope: str, unknown: str
) -> tuple[str, LinkCheck]:
    """A link page's first checks: the flood guard, a known token (else 404 with `unknown`),
    then the link's own limit, counted in every web process: hammering one link stops that
    link alone, and members who share a carrier's address are not stopped by one another."""
    rate_limit(request)
    token = request.match_info["token"]
    found = await asyncio.to_thread(check, token)
    if found.state is LinkState.UNKNOWN:
        raise WebError(404, unknown)
    await limit(request, LINK, f"{scope}:{token}")
    return token, found


async def limit(request: web.Request, rule: Rule, subject: str) -> None:
    """One hit on `subject` under `rule`, counted across every web process; a 429 past the limit."""
    wait = await asyncio.to_thread(portal_of(request).counters.hit, rule, subject)
    if wait is not None:
        raise TooManyRequests(wait)


def set_session_cookie(response: web.StreamResponse, portal: Portal, name: str, sid: str, path: str) -> None:
    response.set_cookie(
        name,
        sid,
        max_age=int(SESSION_TTL.total_seconds()),
        path=path,
        httponly=True,
        secure=portal.secure_cookies,
        samesite="Lax",
    )


def check_csrf(portal: Portal, binding: str, presented: str, message: str = EXPIRED_FORM) -> None:
    if not portal.links.csrf_ok(binding, presented):
        raise WebError(403, message)


@dataclass(frozen=True)
class FormNonce:
    """The CSRF token of a form shown before any session exists, bound to a random cookie."""

    cookie: str
    path: str
    binding: str  # what the token is for, so one form's token opens no other form

    def render(self, request: web.Request, template: str, form: str = "", **context: Any) -> web.Response:
        """The form's page with its token, and the cookie the token is bound to.

        `form` names this one copy of the form (a hidden field), so that the token is good for
        it alone; the cookie stays the browser's, so two tabs each keep a working form.
        """
        portal = portal_of(request)
        nonce = request.cookies.get(self.cookie) or secrets.token_urlsafe(32)
        csrf = portal.links.csrf_token(self.binding + nonce + "|" + form)
        response = render(template, csrf=csrf, **context)
        response.set_cookie(
            self.cookie, nonce, path=self.path, httponly=True, secure=portal.secure_cookies, samesite="Strict"
        )
        return response

    def check(self, request: web.Request, presented: str, form: str = "") -> None:
        nonce = request.cookies.get(self.cookie, "")
        if not nonce:
            raise WebError(403, EXPIRED_FORM)
        check_csrf(portal_of(request), self.binding + nonce + "|" + form, presented)


def form_text(form: MultiDictProxy[Any], name: str) -> str:
    """A posted field's text ("" when it is missing or a file)."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def parse_form(parse: Callable[[Any], T], form: Any, plain: Mapping[str, str] | None = None) -> T:
    """A form's fields as their model; a mistake is a 422 page naming the field, never the value.

    With `plain` (a field's name to a sentence marked for the catalog), the page says that
    sentence for the first field in error, in the reader's words (else `CHECK_FORM`); without
    it, the rule as the model states it.
    """
    try:
        return parse(form)
    except ValidationError as exc:
        if plain is None:
            raise WebError(422, "Please check the form: " + validation_message(exc)) from None
        where = exc.errors(include_url=False, include_input=False)[0]["loc"]
        raise WebError(422, plain.get(str(where[0]) if where else "", CHECK_FORM)) from None


def audit(
    portal: Portal, actor: str, action: str, outcome: str, case_id: str | None = None, detail: str = ""
) -> Awaitable[None]:
    return db.audit_off_loop(
        portal.backends.engine,
        actor=actor,
        action=action,
        outcome=outcome,
        case_id=case_id,
        detail=detail,
    )


async def download(
    request: web.Request,
    portal: Portal,
    who: Holder,
    action: str,
    doc_id: str,
    filename: str,
    *,
    stored_name: bool = True,
) -> web.StreamResponse:
    """Serve one of the case's documents to `who`, audited as `action`: served, or aborted part-way.

    Named as it came in only when it came for `who`'s case and `stored_name` allows it (a
    specialist sees no name the member gave, unless the program says so); else `filename`.
    """

    async def outcome(what: str) -> None:
        await audit(portal, who.actor, action, what, who.case_id, doc_id[:12])

    store = portal.backends.store
    return await stream_document(
        request, store, doc_id, filename, case_id=who.case_id, stored_name=stored_name, outcome=outcome
    )


@contextmanager
def answered(action: str, refused: str | None = None) -> Iterator[None]:
    """A workflow update's refusal or silence as a page: 409 with `refused` (a plain sentence
    marked for the catalog) or else the validator's words, 503 when the case did not answer."""
    try:
        yield
    except WorkflowUpdateFailedError as exc:
        reason = service.explain(exc) or "the case refused the change"
        if refused is not None:
            _log.info("portal %s refused: %s", action, reason)
            raise WebError(409, refused) from None
        raise WebError(409, reason[:1].upper() + reason[1:] + ".") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise WebError(503, LATE) from None


async def act(
    portal: Portal,
    who: Holder,
    update: Any,
    arg: Any,
    action: str,
    claims: Sequence[StoredDocument] = (),
    *,
    refused: str | None = None,
) -> UpdateAck:
    """One workflow update, as the API sends it, audited with `who` as the actor.

    A refusal is a 409 page and removes the documents the update would have claimed; the page
    says `refused` (a member never reads the case's internal words) or, without it, the
    validator's words, which are on the audit trail either way. A case that does not answer in
    time is a 503 and keeps the documents (the update may still be applied).
    """
    backends = portal.backends
    client = await backends.client()

    def send() -> Awaitable[UpdateAck | None]:
        return service.send_update(
            client,
            backends.engine,
            case_id=who.case_id,
            actor=who.actor,
            action=action,
            update=update,
            arg=arg,
        )

    with answered(action, refused):
        ack = await service.claim(backends.store, claims, send)
    if ack is None:
        raise WebError(503, LATE)
    return ack
