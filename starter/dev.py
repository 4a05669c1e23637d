"""The embedded default, in one command: dev server with the Web UI, SMTP outbox, codec/portal, worker.

`DevStack` is an async context manager so that `smo dev`, `smo demo --once` and the
integration tests all start and stop exactly the same pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import structlog
from aiohttp import web
from temporalio.client import Client
from temporalio.worker import Worker

from models.settings import Settings
from models.users import Role
from runtime.devserver import DevServer
from runtime.metrics import runtime_with_metrics, stage_gauge
from runtime.outbox import OutboxServer
from runtime.secrets import ensure_dev_secrets
from runtime.temporal import connect
from service.monthly_report import ensure_report_schedule
from service.retention import ensure_purge_schedule, set_namespace_retention
from web.server import service_app
from web.tokens import TokenStore
from worker import Services, build_worker
from workflows.calendar_watch import start_calendar_watch

log = structlog.get_logger(__name__)


def load_settings() -> Settings:
    """Settings with the development secrets file created on first use."""
    home = Path(os.environ.get("SMO_HOME", ".smo")).resolve()
    ensure_dev_secrets(home)
    return Settings()


DEV_USER = "dev-coordinator"


def ensure_dev_token(settings: Settings, tokens: TokenStore) -> str:
    """A development coordinator token in `<home>/secrets.env` (SMO_TOKEN), valid for this DB.

    The CLI reads it from there, so a command run from the project folder just works.
    """
    current = os.environ.get("SMO_TOKEN") or _token_line(settings.home / "secrets.env")
    if current and tokens.resolve(current) is not None:
        return current
    if any(u.name == DEV_USER for u in tokens.users()):
        tokens.revoke(DEV_USER)
    token = tokens.add(DEV_USER, Role.COORDINATOR)
    path = settings.home / "secrets.env"
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("SMO_TOKEN=")]
    path.write_text("\n".join([*lines, f"SMO_TOKEN={token}"]) + "\n", encoding="utf-8")
    return token


def _token_line(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.startswith("SMO_TOKEN="):
            return line.removeprefix("SMO_TOKEN=").strip()
    return ""


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


class DevStack:
    def __init__(
        self,
        settings: Settings,
        *,
        ui: bool = True,
        run_worker: bool = True,
        server: bool = True,
        watch: bool = True,
    ) -> None:
        self.settings = settings
        self.ui = ui
        self.run_worker = run_worker
        # The calendar watch carries holiday decrees to running cases (workflows/calendar_watch.py).
        self.watch = watch
        self.run_server = server
        self.services: Services | None = None
        self.server: DevServer | None = None
        self.outbox: OutboxServer | None = None
        self._web: web.AppRunner | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._stop_worker = asyncio.Event()
        self.token = ""

    @property
    def codec_token(self) -> str:
        return next(iter(self.settings.codec_token_map()), "")

    @property
    def codec_endpoint(self) -> str:
        return f"{self.settings.base_url}/codec/t/{self.codec_token}"

    async def __aenter__(self) -> DevStack:
        s = self.settings
        s.home.mkdir(parents=True, exist_ok=True)
        self.services = Services.from_settings(s)
        self.outbox = OutboxServer(s.outbox_dir, s.smtp_host, s.smtp_port).start()
        self.token = ensure_dev_token(s, TokenStore(self.services.engine))
        app = service_app(s, self.services, dev=True)
        self._web = web.AppRunner(app, access_log=None)
        await self._web.setup()
        await web.TCPSite(self._web, s.web_host, s.web_port).start()
        if self.run_server:
            self.server = DevServer(
                s.home / "temporal.db",
                port=_port(s.temporal_address),
                ui_port=s.ui_port,
                ui=self.ui,
                codec_endpoint=self.codec_endpoint if self.ui else None,
            )
            await self.server.start()
            # Closed histories are kept as long as production keeps them (docs/retention.md),
            # not the dev server's one day.
            await set_namespace_retention(await connect(s))
        if self.run_worker:
            client = await connect(s, runtime=runtime_with_metrics(s))
            worker = build_worker(client, self.services)
            self._worker_task = asyncio.create_task(self._run(worker, client))
            if self.watch:
                await start_calendar_watch(client, s.task_queue)
                await ensure_purge_schedule(client, s.task_queue)  # the daily retention purge
                await ensure_report_schedule(client, s.task_queue)  # the monthly report
        return self

    async def _run(self, worker: Worker, client: Client) -> None:
        assert self.services is not None
        async with worker, stage_gauge(client, self.settings, self.services.engine):
            await self._stop_worker.wait()

    async def __aexit__(self, *exc: object) -> None:
        self._stop_worker.set()
        if self._worker_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._worker_task, 20)
        if self.server is not None:
            await self.server.stop()
        if self._web is not None:
            await self._web.cleanup()
        if self.outbox is not None:
            self.outbox.stop()
        if self.services is not None:
            self.services.engine.dispose()
