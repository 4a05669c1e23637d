"""The case read model: one row per case with what the edges show, written by the case itself.

The case workflow writes its own `status` here (through the `write_case_view` local activity)
whenever what it shows changes, with a version that increases with every change; the write
keeps the newer of two versions, so a retry or a replayed write never puts an older state
over a newer one. Every read of a case (the API, the portal's pages, `smo case list` and
`status`, the stage gauge) reads this row and never wakes the workflow.

No PHI is in it, exactly as none is in the case's search attributes: the status carries the
intake sheet's id, never the sheet. The table is models/case_view_table.py (the workflow
imports this module, and no database library).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from models.case import CaseStatus


class CaseViewWrite(BaseModel):
    """What the case sends to be written: its status at `version`, and whether it still runs."""

    model_config = ConfigDict(frozen=True)

    version: int
    running: bool
    status: CaseStatus
