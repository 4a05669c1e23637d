"""Large uploads for the memory tests: a multipart body made on the fly, and the server's peak RSS.

The API and the portal both stream a file part into the encrypted store; their tests send
gigabytes that are never held whole, and sample this process's resident memory meanwhile
(the server runs in the test's process).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

BLOCK = 1 << 20


def rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class GeneratedUpload:
    """A multipart body of `size` random-looking bytes (one block repeated) with its sha256."""

    def __init__(
        self, size: int, *, filename: str, boundary: str, fields: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.size, self.filename, self.boundary, self.fields = size, filename, boundary, list(fields)
        self.block = os.urandom(BLOCK)
        self.digest = hashlib.sha256()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    async def body(self) -> AsyncIterator[bytes]:
        b = self.boundary
        for name, value in self.fields:
            yield f'--{b}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        yield (
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{self.filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(self.size // BLOCK):
            self.digest.update(self.block)
            yield self.block
        yield f"\r\n--{b}--\r\n".encode()


class PeakRss:
    """`async with PeakRss() as probe:` samples RSS until the block ends; `probe.growth` after."""

    def __init__(self) -> None:
        self.baseline = self.peak = rss()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss())
            await asyncio.sleep(0.05)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        if self._task is not None:
            await self._task
