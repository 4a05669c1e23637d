"""The portal under test is the real service: its web app on the port the settings name (so the
emailed links point at it), the Temporal dev server, a real worker, the SMTP outbox and the
encrypted store. A member signs in with the link the outbox received."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.testing import WorkflowEnvironment

from models.users import Role
from runtime.outbox import read_outbox
from tests.api.conftest import MEMBER, dev_env
from tests.polling import eventually
from web.server import service_app
from web.tokens import TokenStore
from worker import Services, build_worker

__all__ = ["MEMBER", "Site", "dev_env", "sign_in_links"]

LINK = re.compile(r"(https?://[^/\s]+)(/portal/signin/[A-Za-z0-9_-]{43})")
ASSIGNMENT = re.compile(r"https?://\S+/portal/assignments/\S+")


@dataclass
class Site:
    url: str
    services: Services
    env: WorkflowEnvironment
    coordinator: str  # an API token

    @property
    def engine(self) -> Any:
        return self.services.engine

    async def api(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.coordinator}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, headers=headers, **kw) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    async def open_case(self, case_id: str, program: str = "prudential-kh", **member: Any) -> Any:
        policy = {"prudential-kh": "KH-DEMO-0001", "assist-america": "AA-DEMO-0001"}[program]
        details = {**MEMBER, "policy_number": policy, **member}
        status, body = await self.api(
            "POST", "/api/v1/cases", json={"program": program, "details": details, "case_id": case_id}
        )
        assert status == 201, body
        return body

    async def attest_consent(self, case_id: str) -> None:
        """The desk attests the member's signed consent form, as `smo consent record` sends it."""
        form = aiohttp.FormData()
        form.add_field("file", b"%PDF-1.4 synthetic signed consent form", filename="signed-consent.pdf")
        code, body = await self.api("POST", f"/api/v1/cases/{case_id}/consent", data=form)
        assert code == 200, body

    async def ready_for_review(
        self, case_id: str, program: str = "assist-america", *, consent: bool = True, **member: Any
    ) -> None:
        """Open a case (the member's `member` details changed), give it its required records through
        the API and declare them complete; with `consent` the desk attests the member's signed
        form first, so a specialist is assigned."""
        await self.open_case(case_id, program=program, **member)
        if consent:
            await self.attest_consent(case_id)
        await self.complete_records(case_id)

    async def complete_records(self, case_id: str) -> None:
        """The case's required records through the API, then declared complete."""
        _, status = await self.api("GET", f"/api/v1/cases/{case_id}")
        for record_type in status["records"]["required"]:
            form = aiohttp.FormData()
            form.add_field("file", f"synthetic {record_type}".encode(), filename=f"{record_type}.pdf")
            code, body = await self.api(
                "POST", f"/api/v1/cases/{case_id}/records?record_type={record_type}", data=form
            )
            assert code == 200, body
        code, body = await self.api("POST", f"/api/v1/cases/{case_id}/records/complete", json={})
        assert code == 200, body

    async def sign_in_link(self, case_id: str, count: int = 1, timeout: float = 60.0) -> str:
        """The newest sign-in path emailed for the case, once `count` of them have arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            links = sign_in_links(self.services, case_id)
            if len(links) >= count:
                return links[-1]
            assert loop.time() < deadline, f"no sign-in link for {case_id} in the outbox"
            await asyncio.sleep(0.2)

    async def stage(self, case_id: str, *stages: str, timeout: float = 60.0) -> dict[str, Any]:
        """The case's status once its stage is one of `stages` (the workflow moves on its own
        after an update has answered, e.g. from the report to REPORT_DELIVERED)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            _, status = await self.api("GET", f"/api/v1/cases/{case_id}")
            if status["stage"] in stages:
                return dict(status)
            assert loop.time() < deadline, f"{case_id} is {status['stage']}, not {' or '.join(stages)}"
            await asyncio.sleep(0.2)

    async def assignment_link(self, case_id: str, timeout: float = 60.0) -> str:
        """The assignment page link of the newest records email for the case."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (links := emailed(self.services, case_id, ASSIGNMENT)):
            assert loop.time() < deadline, f"no assignment link for {case_id} in the outbox"
            await asyncio.sleep(0.2)
        return links[-1]


def emailed(services: Services, case_id: str, pattern: re.Pattern[str]) -> list[str]:
    """Every match of `pattern` in the plain bodies of the case's messages, oldest first."""
    out = []
    for msg in read_outbox(services.settings.outbox_dir):
        if msg.get("X-SMO-Case-Id") != case_id:
            continue
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        out += [m.group(0) for m in pattern.finditer(text)]
    return out


async def emailed_link(site: Site, case_id: str, pattern: re.Pattern[str], what: str) -> str:
    """The newest link matching `pattern` emailed for the case (waited for), as a URL of `site`."""

    async def links() -> list[str]:
        return emailed(site.services, case_id, pattern)

    found = await eventually(links, bool, what=lambda _: f"no {what} emailed")
    return site.url + found[-1][found[-1].index("/portal/") :]


def forged(link: str) -> str:
    """A signed link with the last digit of its signature changed."""
    return link[:-1] + ("0" if link[-1] != "0" else "1")


def sign_in_links(services: Services, case_id: str) -> list[str]:
    """Every sign-in URL the member of a case was sent, oldest first."""
    return emailed(services, case_id, LINK)


@pytest.fixture
def web_socket() -> Iterator[socket.socket]:
    """The portal's port, held bound from before the settings are read until the site serves
    on it: a port found free and bound later can be taken in between (the Temporal dev
    server picks its own ports meanwhile)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def smo_home(smo_home: Path, web_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMO_WEB_PORT", str(web_socket.getsockname()[1]))
    return smo_home


@pytest.fixture
async def site(
    services: Services, dev_env: WorkflowEnvironment, web_socket: socket.socket
) -> AsyncIterator[Site]:
    async def client() -> Any:
        return dev_env.client

    settings = services.settings
    app = service_app(settings, services, dev=True, client=client)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert web_socket.getsockname()[1] == settings.web_port
    await web.SockSite(runner, web_socket).start()
    try:
        async with build_worker(dev_env.client, services, workflow_failure_exception_types=[Exception]):
            token = TokenStore(services.engine).add("desk", Role.COORDINATOR)
            yield Site(settings.base_url, services, dev_env, token)
    finally:
        await runner.cleanup()
