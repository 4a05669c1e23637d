"""The API under test is the real one: the service's aiohttp app on a free port, the
Temporal dev server (its visibility store answers the case lists), a real worker, the
encrypted store and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.testing import WorkflowEnvironment

from models import search
from models.users import Role
from runtime.temporal import binary, converter_for
from tests.conftest import free_port
from web.app import BACKENDS as SERVICES
from web.backends import Backends as ApiServices
from web.server import service_app
from web.tokens import TokenStore
from worker import Services, build_worker

MEMBER: dict[str, Any] = {
    "patient_name": "Test Member",
    "date_of_birth": "1980-01-01",
    "email": "member@example.com",
    "phone": "",
    "diagnosis_text": "synthetic diagnosis",
    "icd10": "C50.912",
    "policy_number": "KH-DEMO-0001",
}


@dataclass
class LiveApi:
    url: str
    tokens: TokenStore
    services: Services
    env: WorkflowEnvironment
    api: ApiServices

    def token(self, name: str, role: Role = Role.COORDINATOR, programs: Sequence[str] = (), **kw: Any) -> str:
        return self.tokens.add(name, role, programs, **kw)

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {**(self.auth(token) if token else {}), **kw.pop("headers", {})}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, headers=headers, **kw) as resp,
        ):
            text = await resp.text()
            try:
                import json

                body: Any = json.loads(text)
            except ValueError:
                body = text
            return resp.status, body, resp

    async def open_case(self, token: str, case_id: str, program: str = "prudential-kh", **member: Any) -> Any:
        policy = {"prudential-kh": "KH-DEMO-0001", "assist-america": "AA-DEMO-0001"}[program]
        details = {**MEMBER, "policy_number": policy, **member}
        status, body, _ = await self.call(
            "POST", "/api/v1/cases", token, json={"program": program, "details": details, "case_id": case_id}
        )
        assert status == 201, body
        return body


@pytest.fixture
async def dev_env(services: Services) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=search.ALL_KEYS,
        data_converter=converter_for(services.settings),
        port=free_port(),
        ui=False,
    )
    async with env:
        yield env


@pytest.fixture
async def live_api(services: Services, dev_env: WorkflowEnvironment) -> AsyncIterator[LiveApi]:
    async def client() -> Any:
        return dev_env.client

    app = service_app(services.settings, services, dev=True, client=client)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with build_worker(dev_env.client, services, workflow_failure_exception_types=[Exception]):
            url = f"http://127.0.0.1:{port}"
            yield LiveApi(url, TokenStore(services.engine), services, dev_env, app[SERVICES])
    finally:
        await runner.cleanup()


__all__ = ["MEMBER", "LiveApi", "timedelta"]
