"""The aiohttp application for the API: request ids, error bodies, tokens, roles, case scope.

Order of the checks on every `/api/` request: a valid token (401), a role allowed on the
route (403), the case exists and is in the token's programs (404, the same answer for
both), then the inputs (413 for a body over the limit, 415 for a body that is not JSON,
422 for invalid input). No answer repeats a value the caller sent: a value may be PHI, or
text made to be read back on someone's screen or in a log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

import service
from models.case import is_case_id
from runtime.blobs import StoreError
from runtime.case_keys import CaseErased
from runtime.context import request_id
from runtime.db import quick_read
from service.retention import program_on_file
from web.api.call import Call
from web.api.routes import ROUTES
from web.backends import Backends
from web.errors import WebError, body, validation_message
from web.json_body import has_nul, read_json
from web.spec import Route, openapi
from web.tokens import Principal, TokenStore

API_VERSION = "1.0.0"
BACKENDS: web.AppKey[Backends] = web.AppKey("api_backends", Backends)
TOKENS: web.AppKey[TokenStore] = web.AppKey("api_tokens", TokenStore)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
NO_CASE = "no such case"
STORE_DOWN = "the document store is not reachable; nothing was kept; try again"
_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=body(message, request_id.get()), content_type="application/json", headers=headers
    )


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response carries `X-Request-Id` (the caller's, when it is sane, or a new one)."""
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    token = request_id.set(rid)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # The codec endpoint and the report links keep their own answers; only the API's
            # refusals (and aiohttp's own 404/405/413 under /api/) become JSON bodies.
            if exc.status < 400 or not request.path.startswith("/api/"):
                exc.headers["X-Request-Id"] = rid
                raise
            # aiohttp's own refusals (413, 404, 405) get the same JSON body as ours; a 405 keeps
            # its `Allow` (the methods the path takes).
            allow = {hdrs.ALLOW: exc.headers[hdrs.ALLOW]} if hdrs.ALLOW in exc.headers else {}
            response = _json(
                exc.status, exc.reason.lower() if exc.status != 413 else "the body is too large", **allow
            )
        except WebError as exc:
            challenge = {hdrs.WWW_AUTHENTICATE: "Bearer"} if exc.status == 401 else {}
            response = _json(exc.status, exc.message, **challenge)
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        request_id.reset(token)


def _refusal(exc: Exception, call: Call) -> tuple[int, str] | None:
    """Status and message for an exception a caller can act on; None for a server fault."""
    if isinstance(exc, WebError):
        return exc.status, exc.message
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return 503, "the case did not take the change in time; check its status before trying again"
    if isinstance(exc, WorkflowUpdateFailedError):
        return 409, service.explain(exc) or "the case refused the change"
    if isinstance(exc, service.UserError):
        if isinstance(exc, service.NoCase):
            return 404, NO_CASE  # its own text names the id the caller sent
        return (409 if isinstance(exc, service.CaseConflict) else 422), str(exc)
    if isinstance(exc, ValidationError):
        return 422, validation_message(exc)
    if isinstance(exc, CaseErased):
        return 410, "the documents of this case were erased"
    if isinstance(exc, StoreError):
        # What the call was storing is not kept (runtime/documents.py); the case never saw it.
        _log.error("document store: %s", exc)
        return 503, STORE_DOWN
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND and call.case is not None:
            # The case was there a moment ago: its run has ended since (closed, cancelled...).
            return 409, "the case has ended; it takes no more changes"
        if exc.status == RPCStatusCode.NOT_FOUND:
            return 404, NO_CASE
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            return 409, "that case id is taken"
        return 503, "the workflow service did not answer; try again"
    if (
        isinstance(exc, (ConnectionError, asyncio.TimeoutError, RuntimeError))
        and "connect" in str(exc).lower()
    ):
        return 503, "the workflow service is not reachable; try again"
    return None


async def _principal(request: web.Request) -> Principal:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = header.strip().partition(" ")
    principal = None
    if scheme.lower() == "bearer" and token.strip():
        tokens = request.app[TOKENS]
        principal = await quick_read(tokens.engine, tokens.resolve, token.strip())
    if principal is None:
        raise WebError(401, "a valid API token is required (Authorization: Bearer smo_...)")
    return principal


async def _parse(model: type[BaseModel], raw: Any, where: str) -> Any:
    # No field of ours means a NUL, and PostgreSQL cannot store one in text: refused here, for
    # every endpoint, rather than failing in a query deep inside (a DataError, a 500).
    if has_nul(raw):
        raise WebError(422, f"the {where} may not contain NUL characters")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise WebError(422, validation_message(exc, where)) from None


def endpoint(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        backends = request.app[BACKENDS]
        call = Call(request=request, backends=backends, who=await _principal(request), upload=route.upload)
        if call.who.role not in route.roles:
            raise WebError(
                403, f"a {call.who.role.value} may not {route.summary[0].lower()}{route.summary[1:]}"
            )
        try:
            if "{case_id}" in route.path:
                case_id = request.match_info["case_id"]
                if not is_case_id(case_id):
                    raise WebError(404, NO_CASE)
                call.case_id = case_id
                call.case = await backends.find_case(case_id)
                found, program = call.case is not None, call.case.program if call.case else None
                if not found and route.after_history:
                    program = await asyncio.to_thread(program_on_file, backends.engine, case_id)
                    found = program is not None
                # Out of scope answers exactly as missing does, so ids cannot be probed.
                if not found or not call.who.may_see(program):
                    raise WebError(404, NO_CASE)
            if route.query is not None:
                raw_query = {k: v for k, v in request.query.items()}
                call.query = await _parse(route.query, raw_query, "query")
            if route.body is not None:
                call.body = await _parse(route.body, await read_json(request), "body")
            result = await route.handler(call)
        except web.HTTPException:
            raise
        except Exception as exc:
            refusal = _refusal(exc, call)
            if refusal is None:
                # Only the type and where it was raised are logged: its text may quote PHI.
                where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                at = f" at {Path(where.filename).name}:{where.lineno} in {where.name}" if where else ""
                _log.error("api %s %s failed: %s%s", route.method, route.path, type(exc).__name__, at)
                return _json(500, "internal error; quote the request id when you report it")
            return _json(*refusal)
        return web.Response(
            status=call.status or route.status,
            text=result.model_dump_json(),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return handle


def add_api(app: web.Application, backends: Backends, tokens: TokenStore) -> None:
    """Mount `/api/v1/...` and `/openapi.json` on the service's web application."""
    app[BACKENDS] = backends
    app[TOKENS] = tokens
    doc = openapi(ROUTES, title="smo-orchestrator", version=API_VERSION, programs=backends.programs)
    text = json.dumps(doc)

    async def openapi_json(_request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    for route in ROUTES:
        app.router.add_route(route.method, route.path, endpoint(route))
    app.router.add_get("/openapi.json", openapi_json)
    app.middlewares.append(request_ids)
