"""The SLA clock's own record, as the case workflow carries it (also across continue-as-new).

Only `workflows/sla.py` reads or changes it; the case asks the clock, never the record.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from models.case import SlaState
from models.sla import Pause


class DueDate(BaseModel):
    """The part of the `sla_deadline` answer the clock keeps (the activity says more)."""

    day0: date
    due_at: datetime
    warn_at: datetime | None


class SlaClockRecord(BaseModel):
    state: SlaState = SlaState.NOT_STARTED
    received_at: datetime | None = None  # the complete records reached the specialist
    restarted_at: datetime | None = None  # the start of the current running stretch
    day0: date | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    elapsed: int = 0  # working days used before the current stretch
    stretch_elapsed: int = 0  # working days of the current stretch, when it was paused
    paused_working_days: int = 0
    pauses: list[Pause] = []
    warned: bool = False
    breached: bool = False
    next_reminder: datetime | None = None
    reminders: int = 0
    moves: int = 0  # deadline moves by holiday decrees
