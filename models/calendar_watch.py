"""The holiday-decree watch's boundary models: what it asks its activities and what it carries.

The overrides travel as their validated JSON mapping (`calendars.HolidayOverrides` dumped), so
the watch workflow imports no calendar library; the activities validate them again on the way in.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.sla import CalendarChange

# Waits per run before continuing as new: about 16 hours of an idle file at 5 minutes a wait.
WAITS_PER_RUN = 200

# `calendars.HolidayOverrides.model_dump(mode="json")`: calendar code -> {decree, decreed, add, remove}.
OverridesMapping = dict[str, Any]


class WatchRequest(BaseModel):
    """Wait until the file differs from `seen_digest`; `applied` is None before the first look."""

    model_config = ConfigDict(frozen=True)

    seen_digest: str = Field(default="", max_length=64)
    applied: OverridesMapping | None = None
    wait_seconds: float = Field(default=300, ge=0, le=3600)


class Observation(BaseModel):
    """What the file holds now; `unchanged` when the wait ended with nothing new."""

    model_config = ConfigDict(frozen=True)

    digest: str
    unchanged: bool = False
    overrides: OverridesMapping | None = None
    # The file is malformed: nothing is applied, the previous overrides stay in force.
    error: str = ""
    change: CalendarChange | None = None
    earliest: dt.date | None = None


class AffectedRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    earliest: dt.date


class AffectedCases(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_ids: list[str]
    source: Literal["visibility", "case-db"]


class SignalRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_ids: list[str]
    change: CalendarChange


class SignalReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    signalled: int = 0
    gone: int = 0  # closed or unknown since they were listed


class WatchState(BaseModel):
    """What the watch has applied, carried across continue-as-new. No PHI: dates and names of decrees."""

    model_config = ConfigDict(extra="forbid")

    seen_digest: str = Field(default="", max_length=64)
    applied: OverridesMapping | None = None
    applied_digest: str = Field(default="", max_length=64)
    wait_seconds: float = Field(default=300, ge=0, le=3600)
    waits_per_run: int = Field(default=WAITS_PER_RUN, ge=1)
    changes_applied: int = 0
    cases_signalled: int = 0
    last_decree: str = ""
    last_source: str = ""  # where the last change found its cases: visibility or the case DB
    last_error: str = ""
