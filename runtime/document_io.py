"""The document store's own bounded pool of threads, shared fairly between clients.

Encrypting, decrypting and writing run here, never on the event loop's default pool that
every other request needs; no client holds more than its share of the threads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Threads for document I/O, and how many of them one client may hold at once: enough for one
# client's upload to go at disk speed, while the others always find a free one.
WORKERS = max(4, 2 * (os.cpu_count() or 1))
SHARE = max(1, WORKERS // 4)


@dataclass
class _Gate:
    slots: asyncio.Semaphore
    users: int = 0


class DocumentIO:
    """The store's own bounded pool of threads, shared fairly between clients.

    `client` is whatever names a caller (the web edge passes the client's address): each one
    runs at most `share` jobs at once, and waits on the event loop, holding no thread, for more.
    """

    def __init__(self, workers: int = WORKERS, share: int = SHARE) -> None:
        # Threads start on first use: a process that never serves a document starts none.
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smo-documents")
        self.share = share
        self._gates: dict[str, _Gate] = {}

    async def run(self, client: str, fn: Callable[..., T], *args: Any) -> T:
        gate = self._gates.get(client)
        if gate is None:
            gate = self._gates[client] = _Gate(asyncio.Semaphore(self.share))
        gate.users += 1
        try:
            async with gate.slots:
                return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            gate.users -= 1
            if gate.users == 0:  # a client that has gone leaves nothing behind
                del self._gates[client]
