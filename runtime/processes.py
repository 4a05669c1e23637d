"""N copies of a server process under one supervisor: the worker's and the web's.

Python runs one core per process, so a host with more cores runs more processes. The
supervisor starts N children (spawned, so no client, engine or event loop is shared across a
fork), forwards SIGTERM and SIGINT to them, starts again one that dies, and exits non-zero if
one ended badly. Each child is `target(index)`; it dies with the supervisor.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


def supervise(target: Callable[[int], None], processes: int, name: str) -> None:
    """Run `target(0)` … `target(processes - 1)`, each in its own process, until stopped."""
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start(index: int) -> multiprocessing.process.BaseProcess:
        child = ctx.Process(target=target, args=(index,), name=f"{name}-{index}")
        child.start()
        return child

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)

    children = [start(i) for i in range(processes)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(f"{name} processes started", processes=processes, pids=[c.pid for c in children])
    while True:
        multiprocessing.connection.wait([c.sentinel for c in children], timeout=1.0)
        if stopping:
            break
        for i, child in enumerate(children):
            if not child.is_alive():
                log.warning(f"{name} process exited; starting it again", index=i, exitcode=child.exitcode)
                time.sleep(1.0)  # a process that cannot start must not spin
                children[i] = start(i)
    for child in children:
        child.join(timeout=30)
    failed = [c.exitcode for c in children if c.exitcode not in (0, -signal.SIGTERM)]
    log.info(f"{name} processes stopped", exitcodes=[c.exitcode for c in children])
    if failed:
        sys.exit(1)
