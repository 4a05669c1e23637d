"""Streaming uploads: each file part of a multipart body goes chunk by chunk into the store.

Nothing is spooled: the encrypting writer (in a thread) pulls the next chunk from the
request (on the event loop) only when it has written the last one, so server memory stays
at a few chunks whatever the upload's size, and only ciphertext touches the disk.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import Protocol

from activities.storage import DocumentStore, StoredDocument

CHUNK = 256 << 10
_FORBIDDEN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class UploadRefused(ValueError):
    """The upload itself is unacceptable (its name, its shape)."""


class ChunkSource(Protocol):
    async def read_chunk(self, size: int = ...) -> bytes: ...


def check_file_name(name: str | None) -> None:
    """Refuse a name that could mean a path or hide characters; the name itself is never stored."""
    if name is None or name == "":
        return
    if len(name) > 255:
        raise UploadRefused("a file name may have at most 255 characters")
    if ".." in name or _FORBIDDEN_NAME.search(name):
        raise UploadRefused("a file name may not contain '..', '/', '\\', NUL or control characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise UploadRefused("a file name may not contain control or formatting characters")


class _Bridge:
    """A blocking file-like `read()` over an async chunk source, for the store's thread."""

    def __init__(self, source: ChunkSource, loop: asyncio.AbstractEventLoop) -> None:
        self.source = source
        self.loop = loop
        self.buffer = bytearray()
        self.done = False

    def read(self, n: int = -1) -> bytes:
        while not self.done and (n < 0 or len(self.buffer) < n):
            chunk = asyncio.run_coroutine_threadsafe(self.source.read_chunk(CHUNK), self.loop).result()
            if not chunk:
                self.done = True
            self.buffer += chunk
        if n < 0:
            n = len(self.buffer)
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out


async def store_stream(store: DocumentStore, source: ChunkSource) -> StoredDocument:
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(store.put, _Bridge(source, loop))  # type: ignore[arg-type]
