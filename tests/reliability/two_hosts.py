"""Two hosts for the two-hosts test (test_two_hosts.py), each as a deployment would run it.

On each host `smo web` and `smo worker` run as real processes with a SMO_HOME of their own, and
the host has its own mail relay (an SMTP outbox in its home). No directory is shared: what the
hosts share is handed to them as addresses, the case DB's URL (PostgreSQL), the document
store's (SeaweedFS's S3) and the Temporal server's with the task queue, and the deployment's
secrets (each home gets its own copy of the same secrets.env, as each host gets them from the
secret store).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from models.settings import Settings
from runtime.outbox import OutboxServer, read_outbox
from tests.conftest import free_port
from tests.polling import eventually
from tests.reliability.harness import WorkerProcess, _stop_and_show, worker_env

SMO = Path(sys.executable).parent / "smo"
DOCUMENT_LINK = re.compile(r"https?://[^/\s]+(/reports/\S+)")


@dataclass
class Host:
    name: str
    settings: Settings
    web: WorkerProcess  # `smo web`
    worker: WorkerProcess  # `smo worker`
    mail: OutboxServer

    @property
    def url(self) -> str:
        return self.settings.base_url

    async def wait_serving(self) -> None:
        """Until `smo web` answers its health check (or has exited: then its log says why)."""

        async def health() -> int:
            async with aiohttp.ClientSession() as http:
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{self.url}/health") as resp:
                        return resp.status
            return 0

        await eventually(
            health,
            lambda status: status == 200,
            hopeless=lambda _: not self.web.running,
            what=lambda status: f"web {self.name} answers {status}:\n{self.web.log_tail()}",
        )


def host(name: str, root: Path, *, secrets: Path, shared: Settings, **addresses: str) -> Host:
    """Host `name` under `root`, reaching what is `shared` (its Temporal server and task queue) and
    the `addresses` (DATABASE_URL, SMO_STORAGE_URL) and nothing else."""
    home = root / name
    home.mkdir(parents=True)
    shutil.copy(secrets, home / "secrets.env")
    settings = Settings(
        home=home,
        temporal_address=shared.temporal_address,
        task_queue=shared.task_queue,
        smtp_port=free_port(),
        web_port=free_port(),
        metrics_port=0,
    )
    # SMO_WEB_PORT for both: the worker signs its emailed links for its own host's web.
    env = worker_env(settings, SMO_WEB_PORT=str(settings.web_port), **addresses)
    return Host(
        name=name,
        settings=settings,
        web=WorkerProcess(env, home / "web.log", script=SMO, args=["web"]),
        worker=WorkerProcess(env, home / "worker.log", script=SMO, args=["worker"]),
        mail=OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port),
    )


@contextlib.asynccontextmanager
async def running(hosts: Sequence[Host]) -> AsyncIterator[None]:
    """Every host's mail relay and web, and the first host's worker, up; all of it stopped on exit
    (the logs of a failed test are printed)."""
    async with contextlib.AsyncExitStack() as stack:
        for each in hosts:
            each.mail.start()
            stack.callback(each.mail.stop)
            for process in (each.web, each.worker):
                stack.callback(_stop_and_show, process)
            each.web.start()
        hosts[0].worker.start()
        for each in hosts:
            await each.wait_serving()
        yield


def mailed_links(hosts: Sequence[Host], case_id: str, **right: str) -> dict[str, list[str]]:
    """Per host, the paths (with their signed query) of the case's document links that its worker
    emailed and whose query names this right (e.g. for="member")."""
    found: dict[str, list[str]] = {}
    for each in hosts:
        for msg in read_outbox(each.settings.outbox_dir):
            body = msg.get_body(("plain",)) if msg.get("X-SMO-Case-Id") == case_id else None
            for path in DOCUMENT_LINK.findall(body.get_content() if body is not None else ""):
                query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
                if all(query.get(k) == v for k, v in right.items()):
                    found.setdefault(each.name, []).append(path)
    return found
