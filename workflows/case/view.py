"""What the case shows, written to the read model by the case itself whenever it changes.

Every change the edges could see raises the state's `view_version` (a timeline entry, a
published search attribute, an update's acknowledgement, an intent performed). A loop beside
the stages waits for the version to move past the one it last wrote and writes the case's
`status` as a local activity: changes made within one workflow task are one write, and one
marker in history. The update that made a change answers only after its workflow task, so
after its view is written: a page read after the update shows it.

The case ends only once its final view (not running) is written. Runs recorded before the
read model replay without it (`READ_MODEL_PATCH`); `smo db rebuild-read-model` covers them.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import CaseStatus
    from models.case_view import CaseViewWrite

from workflows.case.core import CaseCore
from workflows.case.options import DB

READ_MODEL_PATCH = "read-model"


class CaseViewMixin(CaseCore):
    _view_running = True

    def status(self) -> CaseStatus:
        """The case's `status` query (SmoCaseWorkflow): what the view holds."""
        raise NotImplementedError

    def _start_views(self) -> asyncio.Future[None] | None:
        """Start the writer, on a run that has the read model (its first workflow task decides)."""
        if not self._inp.read_model or not workflow.patched(READ_MODEL_PATCH):
            return None
        self._views_on = True
        if self.s.opened_at is None and not workflow.info().continued_run_id:
            self.s.opened_at = workflow.now()
        return asyncio.ensure_future(self._write_views())

    async def _write_views(self) -> None:
        while True:
            await workflow.wait_condition(lambda: not self._views_written() and not self._continuing)
            version = self.s.view_version
            view = CaseViewWrite(version=version, running=self._view_running, status=self.status())
            self._view_in_flight = True
            try:
                await workflow.execute_local_activity("write_case_view", view, result_type=int, **DB)
            finally:
                self._view_in_flight = False
            self._view_written = version

    async def _final_view(self) -> None:
        """The case is ending: its last view says it no longer runs, written before it ends."""
        if not self._views_on:
            return
        self._view_running = False
        self._changed()
        await workflow.wait_condition(self._views_written)
