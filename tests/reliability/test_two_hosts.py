"""Two hosts, proven: the service runs past one machine.

Host A and host B each run `smo web` and `smo worker` as processes with a SMO_HOME of their own
and nothing shared on disk (tests/reliability/two_hosts.py). They share only the case DB on
PostgreSQL, SeaweedFS (a master replicating every volume across racks r1 and r2, a volume server
on each, a filer and its S3 gateway: tests/seaweed_racks.py) and one Temporal dev server.

One case runs from intake to CLOSED through both webs' API. Its records go in through web A and
come out through web B, by the links emailed to the specialist. Host A's worker served the case
alone up to review; it is killed (SIGKILL) there, and host B's worker, started meanwhile, takes
the report sent through web B, the consult and the close. At the end a volume server is lost,
and every document of the case still reads, through the store and through a web.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import service as ops
from models.case import Stage
from models.settings import Settings
from models.users import Role
from runtime.devserver import DevServer
from runtime.temporal import connect
from tests import scenario
from tests.conftest import free_port
from tests.polling import eventually
from tests.portal.conftest import Site
from tests.reliability.harness import db_rows, quiet
from tests.reliability.two_hosts import Host, host, mailed_links, running
from tests.seaweed import ACCESS_KEY, SECRET_KEY
from tests.seaweed_racks import SeaweedRacks
from tests.stores import stored_bytes
from web.tokens import TokenStore
from worker import Services

pytestmark = pytest.mark.s3

CASE = "TWO-HOSTS-1"
C = f"/api/v1/cases/{CASE}"
REPORT = b"%PDF-1.4 synthetic second opinion, sent through web B"


@pytest.fixture
def racks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeaweedRacks]:
    """SeaweedFS on two racks for this test alone (one of its servers is stopped), and its
    credentials in the usual AWS variables, which the hosts' processes inherit."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    folder = tmp_path / "seaweedfs"
    folder.mkdir()
    racks = SeaweedRacks.start(folder, [free_port() for _ in range(10)])
    yield racks
    racks.stop()


@pytest.fixture
def shared(
    smo_home: Path, racks: SeaweedRacks, dev_server: DevServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    """What the hosts share, as this test reaches it (with the same secrets): the case DB, seeded
    once before any host starts, the document store and the Temporal server."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("SMO_STORAGE_URL", racks.fresh_url())
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", dev_server.address)
    services = Services.from_settings(Settings())
    yield services
    services.store.close()
    services.engine.dispose()


async def started_by(client: Client) -> list[tuple[str, str]]:
    """(what, worker) of every workflow task and activity the case started, over all its runs (it
    continues as new when its history grows), in order."""
    found = []
    for history in await scenario.runs(client, ops.handle_for(client, CASE).id):
        for event in history.events:
            if event.HasField("workflow_task_started_event_attributes"):
                found.append(("workflow task", event.workflow_task_started_event_attributes.identity))
            elif event.HasField("activity_task_started_event_attributes"):
                found.append(("activity", event.activity_task_started_event_attributes.identity))
    return found


async def fetch(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.read()


async def links(hosts: list[Host], count: int, **right: str) -> dict[str, list[str]]:
    """Once `count` document links for this right have been emailed: them, by the host that sent them."""
    return await eventually(
        lambda: asyncio.to_thread(mailed_links, hosts, CASE, **right),
        lambda found: sum(map(len, found.values())) >= count,
        what=lambda found: f"emailed {right} links: {found}",
    )


async def upload_records(site: Site) -> dict[str, bytes]:
    """Every record the case needs, uploaded through `site`'s API: the bytes by their sha256."""
    _, status = await site.api("GET", C)
    sent: dict[str, bytes] = {}
    for record_type in status["records"]["required"]:
        data = f"{record_type} for {CASE}, uploaded through web A\n".encode()
        form = aiohttp.FormData()
        form.add_field("file", data, filename=f"{record_type}.pdf")
        code, body = await site.api("POST", f"{C}/records?record_type={record_type}", data=form)
        assert code == 200, body
        sent[hashlib.sha256(data).hexdigest()] = data
    return sent


async def test_two_hosts_share_a_case_its_documents_survive_a_killed_worker_and_a_lost_volume_server(
    shared: Services, racks: SeaweedRacks, tmp_path: Path
) -> None:
    settings = shared.settings
    client = await connect(settings)
    token = TokenStore(shared.engine).add("desk", Role.COORDINATOR)
    addresses = {"DATABASE_URL": settings.database_url, "SMO_STORAGE_URL": settings.storage_url}
    secrets = settings.home / "secrets.env"
    hosts = [host(name, tmp_path / "hosts", secrets=secrets, shared=settings, **addresses) for name in "ab"]
    a, b = hosts
    env = WorkflowEnvironment.from_client(client)
    web_a, web_b = Site(a.url, shared, env, token), Site(b.url, shared, env, token)
    handle = ops.handle_for(client, CASE)

    async with running(hosts):
        # Opened through web A while host A's worker is the only one: the case is in its cache.
        await web_a.open_case(CASE, "prudential-kh")
        b.worker.start()
        await web_a.attest_consent(CASE)
        records = await upload_records(web_a)
        code, body = await web_a.api("POST", f"{C}/records/complete", json={})
        assert code == 200, body

        # Every record comes out through web B, by the links emailed to the specialist.
        review = await web_b.stage(CASE, Stage.UNDER_REVIEW.value)
        sent = await links(hosts, len(records), **{"for": "assignment"})
        downloaded = {}
        for path in [p for paths in sent.values() for p in paths]:
            code, data = await fetch(b.url + path)
            assert code == 200, data
            downloaded[path.split("?")[0].rsplit("/", 1)[1]] = data
        assert downloaded == records  # each under its sha256, as it went in

        # Host A's worker alone has run the case's workflow; it dies with nothing in flight.
        await b.worker.wait_polling(client)
        await quiet(handle)
        before = await started_by(client)
        # (A task the server records without a worker's identity is nobody's: left out, as below.)
        assert {who for what, who in before if what == "workflow task"} - {""} == {a.worker.identity}
        a.worker.kill()

        # Host B finishes the case: the report through web B, the consult, the close.
        form = aiohttp.FormData()
        form.add_field("file", REPORT, filename="smo-report.pdf")
        report = f"{C}/report?specialist_id={review['specialist_id']}"
        code, body = await web_b.api("POST", report, data=form)
        assert code == 200, body
        await web_b.stage(CASE, Stage.REPORT_DELIVERED.value, Stage.CONSULT.value)
        code, slots = await web_b.api("GET", f"{C}/consults/slots")
        assert code == 200 and slots["slots"], slots
        for call, payload in (("", {"slot": slots["slots"][0]["start"]}), ("/complete", {})):
            code, body = await web_b.api("POST", f"{C}/consults{call}", json=payload)
            assert code == 200, body
        code, body = await web_b.api("POST", f"{C}/close", json={})
        assert code == 200, body
        assert (await handle.result()).stage is Stage.CLOSED
        # Since the kill only host B's worker has started anything (an event may name no worker).
        after = (await started_by(client))[len(before) :]
        assert {who for _, who in after} - {""} == {b.worker.identity}, after

        # The member's report link, emailed by host B, opens through web A.
        (member,) = (await links(hosts, 1, **{"for": "member"}))["b"]
        assert await fetch(a.url + member) == (200, REPORT)

        # A volume server is lost. Both held every volume with the same files (010: a copy on
        # each rack), and every document of the case still reads: decrypted and checked against
        # its sha256 by the store, every object and sealed name raw, and the report through web B.
        volumes = racks.volumes("r1")
        assert volumes == racks.volumes("r2") and sum(volumes.values()) > 0, (volumes, racks.volumes("r2"))
        racks.stop_volume("r1")
        _, closed = await web_b.api("GET", C)
        rows = db_rows(settings, "SELECT doc_id FROM documents WHERE case_id = ?", CASE)
        documents = {closed["intake_doc_id"], *(doc_id for (doc_id,) in rows)}
        assert len(documents) == len(records) + 3  # and the consent form, the report, the details
        for doc_id in documents:
            data = await asyncio.to_thread(shared.store.read_small, CASE, doc_id)
            assert data == records.get(doc_id, data)
        stored = await asyncio.to_thread(lambda: list(shared.store.blobs.keys(f"cases/{CASE}/objects/")))
        case_key = await asyncio.to_thread(shared.store.case_keys.for_reading, CASE)
        assert case_key is not None
        assert {key.rsplit("/", 1)[1] for key in stored} == {case_key.object_name(d) for d in documents}
        assert len(await asyncio.to_thread(stored_bytes, shared.store)) == 2 * len(documents) - 1
        assert await fetch(b.url + member) == (200, REPORT)

    for each in hosts:
        assert not (each.settings.home / "storage").exists(), f"host {each.name} kept documents on disk"
