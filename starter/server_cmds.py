"""The server-side commands behind `smo dev`, `smo worker`, `smo web` and `smo demo`.

Kept out of `starter.cli` so that the coordinator's commands never import the worker,
the Temporal SDK or the database layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Callable, Iterator
from typing import Any

import service
from models.settings import Settings
from runtime.logging import configure_logging
from runtime.outbox import read_outbox
from runtime.temporal import connect
from starter.cli_common import at_desk
from starter.dev import DevStack, load_settings

Say = Callable[..., Any]


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM, so that the stack around the caller always stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _timeline(say: Say, status: Any) -> None:
    say(f"[bold]{status.case_id}[/]  {status.program}  [bold cyan]{status.stage.value}[/]")
    for t in status.timeline:
        say(f"  {at_desk(t.at)} {t.stage.value:<22} {t.event} {t.detail}", markup=False)


def _outbox(say: Say, settings: Settings, case_id: str) -> None:
    messages = [m for m in read_outbox(settings.outbox_dir) if m.get("X-SMO-Case-Id") == case_id]
    say(f"{len(messages)} message(s) in {settings.outbox_dir}")
    for m in messages:
        say(f"  {m['To']}: {m['Subject']}", markup=False)


def run_dev(*, demo: bool, program: str, say: Say) -> None:
    async def main() -> None:
        settings = load_settings()
        configure_logging(settings.log_format, settings.log_level)
        async with DevStack(settings) as stack:
            say(
                f"[bold]Temporal[/] {settings.temporal_address}   [bold]Web UI[/] http://localhost:{settings.ui_port}"
            )
            say(f"[bold]API[/] {settings.base_url}/api/v1 (SMO_TOKEN in {settings.home / 'secrets.env'})")
            say(f"[bold]Codec endpoint[/] {settings.base_url}/codec/t/<token from .smo/secrets.env>")
            say(f"[bold]SMTP outbox[/] {settings.smtp_host}:{settings.smtp_port} → {settings.outbox_dir}")
            if demo:
                from starter.demo import run_demo

                client = await connect(settings)
                assert stack.services is not None
                services = stack.services
                result = await run_demo(
                    client, settings, services.store, program=program, say=say, engine=services.engine
                )
                _timeline(say, await service.status(client, result.case_id))
                _outbox(say, settings, result.case_id)
            say("Service running. Ctrl-C stops it.")
            await _until_stopped()

    with _schema_checked():
        asyncio.run(main())


@contextlib.contextmanager
def _schema_checked() -> Iterator[None]:
    """A case DB behind this code's schema, or a document store that cannot be used (unreachable,
    wrong credentials), is an operator's mistake: one `error:` line, no traceback."""
    from runtime.blobs import StoreError
    from runtime.db import SchemaNotAtHead

    try:
        yield
    except (SchemaNotAtHead, StoreError) as exc:
        raise service.UserError(str(exc)) from exc


def run_worker(processes: int) -> None:
    import worker

    with _schema_checked():
        _run_worker(worker, processes)


def _run_worker(worker: Any, processes: int) -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    run = getattr(worker, "run", None)
    if run is not None:  # the multi-process runner, where the worker module has it
        run(settings, processes=processes)
        worker.exit_after_clean_stop()
    elif processes == 1:
        asyncio.run(worker.run_worker(settings))
    else:
        raise service.UserError("--processes above 1 needs worker.run, which this worker does not have yet")


def run_web(processes: int = 1) -> None:
    """Serve the web edge here, or as `processes` processes sharing its port (SO_REUSEPORT).

    Every read is one row of the case DB's read model, so the web's own CPU is what bounds
    reads: a host with more cores runs more web processes.
    """
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    if processes == 1:
        _serve_web(settings, 0, reuse_port=False)
        return
    from runtime.processes import supervise
    from worker import Services

    with _schema_checked():  # refused here, once, rather than by every process in turn
        Services.from_settings(settings).engine.dispose()
    supervise(functools.partial(_serve_web, settings, reuse_port=True), processes, "web")


def _serve_web(settings: Settings, index: int, *, reuse_port: bool) -> None:
    from aiohttp import web

    from runtime.devserver import _die_with_parent
    from web.server import service_app
    from worker import Services

    if reuse_port:
        _die_with_parent()  # a supervisor killed by SIGKILL leaves no web process behind
        configure_logging(settings.log_format, settings.log_level)
    with _schema_checked():
        services = Services.from_settings(settings)
    web.run_app(
        service_app(settings, services),
        host=settings.web_host,
        port=settings.web_port,
        access_log=None,
        reuse_port=reuse_port or None,
    )


def run_demo_cmd(*, once: bool, program: str, say: Say, until_report: bool = False) -> None:
    from runtime.blobs import open_blobs
    from runtime.db import make_engine
    from runtime.documents import DocumentStore
    from security.keys import KeyRing
    from starter.demo import DEMO_POLICIES, run_demo

    async def main() -> None:
        if program not in DEMO_POLICIES:
            raise service.UserError(f"no demo for program {program!r}; try {', '.join(DEMO_POLICIES)}")
        settings = load_settings()
        configure_logging(settings.log_format, "WARNING")
        if once:
            # One-shot: no calendar watch, so the demo case is all the dev server keeps.
            async with DevStack(settings, ui=False, watch=False) as stack:
                assert stack.services is not None
                client = await connect(settings)
                services = stack.services
                result = await run_demo(
                    client,
                    settings,
                    services.store,
                    program=program,
                    say=say,
                    engine=services.engine,
                    until_report=until_report,
                )
                _timeline(say, await service.status(client, result.case_id))
                _outbox(say, settings, result.case_id)
            return
        # Against a running `smo dev` on this machine: the demo needs the store and the keys.
        keys = KeyRing.parse(settings.document_keys.get_secret_value())
        engine = make_engine(settings.db_url)
        store = DocumentStore(open_blobs(settings.store_url), keys, engine)
        try:
            client = await connect(settings)
            result = await run_demo(
                client, settings, store, program=program, say=say, engine=engine, until_report=until_report
            )
            _timeline(say, await service.status(client, result.case_id))
        finally:
            store.close()

    with _schema_checked():
        asyncio.run(main())
