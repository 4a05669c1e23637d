"""The case read model's write: the case's own view of itself, kept if it is the newest.

A local activity: one marker in the case's history per write (the case writes only when
what it shows changed, and once per workflow task however much changed in it), and the
update that caused the change answers only once its view is written (read-your-writes).
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from models.case_view import CaseViewWrite
from runtime.case_views import CaseViews


class CaseViewActivities:
    def __init__(self, views: CaseViews) -> None:
        self.views = views

    @activity.defn(name="write_case_view")
    async def write_case_view(self, view: CaseViewWrite) -> int:
        """The version stored after the write: this one, or a newer one already there."""
        return await asyncio.to_thread(self.views.write, view)
