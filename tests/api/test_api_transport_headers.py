"""Every response says nosniff (static files too); HSTS goes out when the public base URL is https.

The service's own application on a real port, without Temporal: a static file, a page, the
API's description and the health check need none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import free_port
from web.server import service_app
from worker import Services

PATHS = ("/portal/static/portal.css", "/portal/static/local-time.js", "/portal/signed-out", "/openapi.json")

Serve = Callable[[str], AbstractAsyncContextManager[str]]


@pytest.fixture
def serve(services: Services) -> Serve:
    @asynccontextmanager
    async def serving(public_base_url: str) -> AsyncIterator[str]:
        settings = services.settings.model_copy(update={"public_base_url": public_base_url})
        async with TestServer(service_app(settings, services, dev=True), port=free_port()) as server:
            yield str(server.make_url("")).rstrip("/")

    return serving


async def headers_of(url: str) -> dict[str, dict[str, str]]:
    out = {}
    async with aiohttp.ClientSession() as http:
        for path in PATHS:
            async with http.get(url + path) as resp:
                assert resp.status == 200, path
                out[path] = dict(resp.headers)
    return out


async def test_static_files_and_pages_say_nosniff(serve: Serve) -> None:
    async with serve("") as url:
        for path, headers in (await headers_of(url)).items():
            assert headers.get("X-Content-Type-Options") == "nosniff", path


async def test_pages_send_hsts_when_the_public_base_url_is_https(serve: Serve) -> None:
    async with serve("https://smo.example.org") as url:
        for path, headers in (await headers_of(url)).items():
            assert headers.get("Strict-Transport-Security") == "max-age=31536000", path


async def test_no_hsts_over_plain_http(serve: Serve) -> None:
    async with serve("http://127.0.0.1:8081") as url:
        for path, headers in (await headers_of(url)).items():
            assert "Strict-Transport-Security" not in headers, path
