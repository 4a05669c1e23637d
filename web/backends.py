"""What the web edge's handlers reach, the API's and the portal's alike.

The case DB, the document store and the programs are the worker's own; the Temporal client
is connected on the first request that needs one, so the web serves its codec endpoint and
report links even while the Temporal server is still starting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import Client

import service
from models.case import CaseStatus
from models.program import Program
from models.settings import Settings
from runtime.case_views import CaseViews
from runtime.documents import DocumentStore


@dataclass
class Backends:
    settings: Settings
    engine: Engine
    store: DocumentStore
    programs: Mapping[str, Program]
    connect: Callable[[], Awaitable[Client]]
    outbox_dir: Path | None = None  # only in development
    update_wait: float = 10.0  # seconds an update's handler may take before the call answers 202
    _client: Client | None = None
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    views: CaseViews = field(init=False)

    def __post_init__(self) -> None:
        self.views = CaseViews(self.engine)

    async def client(self) -> Client:
        async with self._connecting:  # the first requests share one connection
            if self._client is None:
                self._client = await self.connect()
        return self._client

    async def case_status(self, case_id: str, found: service.CaseFound | None = None) -> CaseStatus:
        """The case as it shows now, from the read model (`service.NoCase` when there is none);
        `found` is what `find_case` answered for it in this request, if it was asked."""
        return await service.read_status(self.views, await self.client(), case_id, found)

    async def find_case(self, case_id: str) -> service.CaseFound | None:
        """The case's program and whether it runs (read model); None when there is no such case."""
        return await service.find_case(self.views, await self.client(), case_id)
