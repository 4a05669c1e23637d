"""The HTTP connection itself, below every route: what a client can do to the server by how it sends.

- A request body that stops arriving is answered 408 and its connection closed after
  `SMO_BODY_READ_TIMEOUT` seconds without a byte (time the server itself is not reading, its
  buffer full, does not count). Meanwhile it holds no thread: uploads wait on the event loop
  and write on the document store's own threads, a fair share per client (runtime/documents.py).
- A request the parser refuses (malformed bytes in its request line or a header) gets a fixed
  text for its status. aiohttp's own answer repeats the offending line, a header with its
  bearer token included, and logs it with a traceback: here the log names only the error's kind.
- Every response says `X-Content-Type-Options: nosniff`, and `Strict-Transport-Security`
  when the public base URL is https.

`harden` fits all of it to the service's application, whichever runner serves it (`smo web`,
`smo dev`, the tests). aiohttp builds its connection handler in `Application._make_handler`
and offers no other place to choose its class, so that is the one place this reaches into.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from models.settings import Settings
from runtime.clients import CLIENT, client_address, trusted_networks
from runtime.logging import mask_secrets_at_source

HSTS = "max-age=31536000"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyTimeout(web.HTTPRequestTimeout):
    """What a read of a request body raises once the body has stopped arriving."""


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler with a body read timeout and error answers that quote nothing."""

    def __init__(self, manager: web.Server, *, body_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.body_timeout = body_timeout
        self._body: StreamReader | None = None  # the body of the request being handled, if unread
        self._last_byte = 0.0
        self._watch: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        self._last_byte = self._loop.time()
        super().data_received(data)

    async def _handle_request(
        self,
        request: BaseRequest,
        start_time: float | None,
        request_handler: Callable[[BaseRequest], Awaitable[web.StreamResponse]],
    ) -> tuple[web.StreamResponse, bool]:
        if not request.content.is_eof():
            self._body = request.content
            self._last_byte = self._loop.time()
            self._watch = self._loop.call_at(self._last_byte + self.body_timeout, self._check)
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            self._body = None
            if self._watch is not None:
                self._watch.cancel()
                self._watch = None

    def _check(self) -> None:
        self._watch = None
        body = self._body
        if body is None or body.is_eof():
            return
        now = self._loop.time()
        if self._reading_paused or self._buffer_paused:
            # The handler has not taken what came yet: the client is not the one that stalls.
            self._last_byte = now
        if now < self._last_byte + self.body_timeout:
            self._watch = self._loop.call_at(self._last_byte + self.body_timeout, self._check)
            return
        # The handler's next read raises (it answers 408); nothing more will come, so the
        # connection closes after that answer instead of lingering for the rest of the body.
        self._lingering_time = 0.0
        body.set_exception(BodyTimeout())

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # `message` (the parser's words) quotes the refused line: neither answered nor logged.
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            kind = type(exc).__name__ if exc is not None else str(status)
            self.logger.info("Malformed request from %s refused: %s", request.remote, kind)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had begun; no error can be sent in its place")
        response = web.Response(status=status, text=f"{status} {_phrase(status)}\n")
        response.force_close()
        return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _GuardedServer(web.Server):
    def __init__(self, handler: Any, *, body_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.body_timeout = body_timeout

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, body_timeout=self.body_timeout, **self._kwargs)


def harden(app: web.Application, settings: Settings) -> None:
    """Serve `app` through `GuardedHandler`, name each request's client, add the security headers."""
    make_handler = app._make_handler

    def guarded(*, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> web.Server:
        server = make_handler(loop=loop, **kwargs)
        return _GuardedServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            body_timeout=settings.body_read_timeout,
            **server._kwargs,
        )

    app._make_handler = guarded  # type: ignore[method-assign]
    app.middlewares.insert(0, _client_of(settings))
    app.on_response_prepare.append(_security_headers(https=settings.base_url.startswith("https://")))
    mask_secrets_at_source()


def _client_of(settings: Settings) -> Middleware:
    proxies = trusted_networks(settings.trusted_proxies)

    @web.middleware
    async def client(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Whose share of the document threads this request's uploads and downloads use.
        request[CLIENT] = client_address(request, proxies)
        return await handler(request)

    return client


def _security_headers(*, https: bool) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)

    return add
