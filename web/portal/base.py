"""What every portal page shares: its backends, cookies, form tokens, the rate limit, the audited action.

A page refuses with a `WebError` (shown as a plain page by `web.portal.app.pages`). Forms
carry a CSRF token bound to the session, to the sign-in link or, where no session exists
yet (staff sign-in, self-service intake), to a random cookie (double submit: `FormNonce`).
Every action a member or a specialist takes is the workflow update the API sends, audited
under them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError

import service
from models.case import UpdateAck
from runtime import db
from runtime.documents import StoredDocument
from runtime.portal_links import SESSION_TTL, Holder, PortalLinks
from runtime.web import stream_document
from web.backends import Backends
from web.errors import WebError, validation_message
from web.portal.pages import render
from web.portal.ratelimit import SlidingWindow

T = TypeVar("T")

EXPIRED_FORM = "This form has expired. Reload the page and try again."
LATE = "Your case did not answer in time. Please reload the page to check."


@dataclass
class Portal:
    backends: Backends
    links: PortalLinks
    secure_cookies: bool = True
    sign_in_limit: SlidingWindow = field(default_factory=lambda: SlidingWindow(30, 300.0))


PORTAL: web.AppKey[Portal] = web.AppKey("portal", Portal)


def portal_of(request: web.Request) -> Portal:
    return request.app[PORTAL]


def rate_limit(request: web.Request) -> None:
    """Sign-in and request forms are limited per address: guessing is slow work."""
    if not portal_of(request).sign_in_limit.allow(request.remote or "?"):
        raise WebError(429, "Too many attempts from your connection. Please wait a few minutes.")


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

    def render(self, request: web.Request, template: str, **context: Any) -> web.Response:
        """The form's page with its token, and the cookie the token is bound to."""
        portal = portal_of(request)
        nonce = request.cookies.get(self.cookie) or secrets.token_urlsafe(32)
        response = render(template, csrf=portal.links.csrf_token(self.binding + nonce), **context)
        response.set_cookie(
            self.cookie, nonce, path=self.path, httponly=True, secure=portal.secure_cookies, samesite="Strict"
        )
        return response

    def check(self, request: web.Request, presented: str) -> None:
        nonce = request.cookies.get(self.cookie, "")
        if not nonce:
            raise WebError(403, EXPIRED_FORM)
        check_csrf(portal_of(request), self.binding + nonce, presented)


def form_text(form: MultiDictProxy[Any], name: str) -> str:
    """A posted field's text ("" when it is missing or a file)."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def parse_form(parse: Callable[[Any], T], form: Any) -> T:
    """A form's fields as their model; a mistake is a 422 page naming the field, never the value."""
    try:
        return parse(form)
    except ValidationError as exc:
        raise WebError(422, "Please check the form: " + validation_message(exc)) from None


def audit(
    portal: Portal, actor: str, action: str, outcome: str, case_id: str | None = None, detail: str = ""
) -> Awaitable[None]:
    return asyncio.to_thread(
        db.audit,
        portal.backends.engine,
        actor=actor,
        action=action,
        outcome=outcome,
        case_id=case_id,
        detail=detail,
    )


async def download(
    request: web.Request, portal: Portal, who: Holder, action: str, doc_id: str, filename: str
) -> web.StreamResponse:
    """Serve one of the case's documents to `who`, audited as `action` before the first byte."""
    await audit(portal, who.actor, action, "served", who.case_id, doc_id[:12])
    nosniff = {"X-Content-Type-Options": "nosniff"}
    return await stream_document(request, portal.backends.store, doc_id, filename, headers=nosniff)


async def act(
    portal: Portal, who: Holder, update: Any, arg: Any, action: str, claims: Sequence[StoredDocument] = ()
) -> UpdateAck:
    """One workflow update, as the API sends it, audited with `who` as the actor.

    A refusal keeps the validator's words as a 409 page and removes the documents the update
    would have claimed; a case that does not answer in time is a 503 and keeps them (the
    update may still be applied).
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

    try:
        ack = await service.claim(backends.store, claims, send)
    except WorkflowUpdateFailedError as exc:
        reason = service.explain(exc) or "the case refused the change"
        raise WebError(409, reason[:1].upper() + reason[1:] + ".") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise WebError(503, LATE) from None
    if ack is None:
        raise WebError(503, LATE)
    return ack
