"""Remote codec endpoint for the Temporal Web UI (``/encode``, ``/decode``).

The Web UI only ever sees encrypted payloads; when an operator opens a
workflow it POSTs them here to be decrypted for display. Since decrypting
means revealing PHI, every request must carry a token naming the user, and
every attempt, allowed or refused, is handed to an audit callback.

Two ways to present the token, both mounted:

* ``Authorization: Bearer <token>`` with ``POST /decode`` (UI behind OIDC, or
  scripts);
* ``POST /t/<token>/decode`` for the dev-mode UI, which cannot add headers:
  set its codec endpoint to ``http://127.0.0.1:8081/codec/t/<token>``. The
  web edge that mounts this app keeps no access log, so the token in the
  path is never written down.

The wire format follows the Temporal samples: ``{"payloads": [...]}`` with
each payload in protobuf JSON form (base64 metadata values and data).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

AuditAction = Literal["codec.decode", "codec.encode"]
AuditOutcome = Literal["allowed", "missing-token", "bad-token"]

ALLOW_METHODS = "POST"
ALLOW_HEADERS = "content-type,x-namespace,authorization"
MIN_TOKEN_LENGTH = 16
DEFAULT_MAX_BODY_BYTES = 16 << 20

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One codec request as seen by the audit trail."""

    user: str | None
    action: AuditAction
    outcome: AuditOutcome
    payloads: int
    remote: str | None


AuditSink = Callable[[AuditRecord], Awaitable[None]]
_CodecFn = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def _json_error(
    exc_class: type[web.HTTPException], message: str, **headers: str
) -> web.HTTPException:
    return exc_class(
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers=headers or None,
    )


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _validate_tokens(tokens: Mapping[str, str]) -> dict[bytes, str]:
    if not tokens:
        raise ValueError("the codec server needs at least one access token")
    checked: dict[bytes, str] = {}
    for token, user in tokens.items():
        if len(token) < MIN_TOKEN_LENGTH or not token.isascii():
            raise ValueError(
                f"codec token for {user!r} must be at least {MIN_TOKEN_LENGTH} ASCII characters"
            )
        if "/" in token or any(ch.isspace() for ch in token):
            # It must survive being a URL path segment and a header value.
            raise ValueError(
                f"codec token for {user!r} must not contain '/' or whitespace"
            )
        if not user:
            raise ValueError("every codec token must map to a user name")
        checked[token.encode("ascii")] = user
    return checked


def build_codec_app(
    codec: PayloadCodec,
    *,
    tokens: Mapping[str, str],
    cors_origins: Sequence[str],
    audit: AuditSink | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> web.Application:
    """Build the codec endpoint application.

    ``tokens`` maps access token to user name; ``cors_origins`` lists the
    exact Web UI origins (e.g. ``http://localhost:8233``) allowed to call it.
    """
    known_tokens = _validate_tokens(tokens)
    origins = frozenset(o.rstrip("/") for o in cors_origins)
    if "*" in origins:
        # Credentialed CORS cannot use a wildcard, and a wildcard would let
        # any page a logged-in operator visits decrypt PHI.
        raise ValueError("cors_origins must list explicit origins, not '*'")

    def lookup_user(presented: str) -> str | None:
        raw = presented.encode("utf-8", errors="replace")
        user: str | None = None
        # Compare against every token, without stopping early, so response
        # time does not reveal which (or whether a) prefix matched.
        for token, name in known_tokens.items():
            if hmac.compare_digest(raw, token):
                user = name
        return user

    async def record(
        user: str | None,
        action: AuditAction,
        outcome: AuditOutcome,
        count: int,
        remote: str | None,
    ) -> None:
        if audit is not None:
            await audit(
                AuditRecord(
                    user=user,
                    action=action,
                    outcome=outcome,
                    payloads=count,
                    remote=remote,
                )
            )

    def handler(
        action: AuditAction, fn: _CodecFn
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            remote = request.remote
            presented = request.match_info.get("token") or _bearer_token(request)
            if not presented:
                await record(None, action, "missing-token", 0, remote)
                raise _json_error(
                    web.HTTPUnauthorized,
                    "missing token",
                    **{hdrs.WWW_AUTHENTICATE: "Bearer"},
                )
            user = lookup_user(presented)
            if user is None:
                # The body is never parsed for an unauthenticated caller.
                await record(None, action, "bad-token", 0, remote)
                raise _json_error(web.HTTPForbidden, "invalid token")

            body = await request.read()
            try:
                incoming = json_format.Parse(
                    body, Payloads(), ignore_unknown_fields=True
                )
            except (json_format.ParseError, ValueError, UnicodeDecodeError):
                raise _json_error(
                    web.HTTPBadRequest, 'body must be {"payloads": [...]}'
                ) from None

            # Audit before revealing anything: if the audit sink fails, the
            # request fails (500) and no plaintext leaves the server.
            await record(user, action, "allowed", len(incoming.payloads), remote)
            try:
                result = await fn(incoming.payloads)
            except Exception as exc:
                _log.warning("codec %s failed: %s", action, type(exc).__name__)
                raise _json_error(web.HTTPBadRequest, f"{action} failed") from None
            return web.json_response(
                {"payloads": [json_format.MessageToDict(p) for p in result]}
            )

        return handle

    async def preflight(request: web.Request) -> web.Response:
        # Browsers send preflights without credentials, so no auth here; the
        # CORS headers themselves are added by on_response_prepare.
        return web.Response(status=204)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def add_cors_headers(
        request: web.Request, response: web.StreamResponse
    ) -> None:
        response.headers[hdrs.VARY] = "Origin"
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or origin.rstrip("/") not in origins:
            return
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOW_METHODS
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOW_HEADERS
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"

    decode = handler("codec.decode", codec.decode)
    encode = handler("codec.encode", codec.encode)

    app = web.Application(client_max_size=max_body_bytes)
    app.on_response_prepare.append(add_cors_headers)
    routes: list[web.RouteDef] = [web.get("/health", health)]
    for prefix in ("", "/t/{token}"):
        routes += [
            web.post(f"{prefix}/decode", decode),
            web.post(f"{prefix}/encode", encode),
            web.options(f"{prefix}/decode", preflight),
            web.options(f"{prefix}/encode", preflight),
        ]
    app.add_routes(routes)
    return app

