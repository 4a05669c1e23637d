"""Holiday decrees applied on top of the built-in calendars, without a redeploy.

Cambodia regularly adds or moves public holidays by sub-decree, often at short
notice. Operations record such changes in a YAML file::

    KH:
      decree: "Sub-decree of 2026-09-18 on the public holidays of 2027"
      decreed: [2027]
      add:
        - {date: 2026-12-31, name: "Special holiday by sub-decree"}
      remove: [2026-05-05]
    US: {add: [], remove: []}

``decreed`` lists the years whose holidays now follow a published decree, so
they are no longer a projection (see :mod:`calendars.provisional`); ``decree``
names the latest decree, for the notices a running case sends when it moves.

:func:`load_overrides` parses and validates it, and :class:`CalendarService`
hands out :class:`~calendars.calendar_set.CalendarSet` objects built with the
current file, re-reading it whenever its modification time changes so that a
running worker picks up a decree on its next computation.

The service reads files, so it belongs in activities and the CLI, not inside
workflow code; a workflow gets its calendars from an activity result or builds
a ``CalendarSet`` from a ``HolidayOverrides`` passed in as data.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, field_validator

from calendars.calendar_set import DEFAULT_CALENDARS, CalendarSet
from calendars.registry import normalise_code


class HolidayOverride(BaseModel):
    """One holiday added by decree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: dt.date
    name: str


class CalendarOverrides(BaseModel):
    """Changes to one calendar: holidays added, dates that are no longer holidays, decreed years."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decree: str | None = Field(default=None, min_length=1, max_length=120)
    decreed: list[Annotated[int, Field(ge=1, le=9999)]] = []
    add: list[HolidayOverride] = []
    remove: list[dt.date] = []

    @field_validator("add", "remove", "decreed", mode="before")
    @classmethod
    def _empty_key_means_empty_list(cls, value: Any) -> Any:
        # "add:" with nothing under it (say, every entry commented out) is
        # YAML null; treat it as the empty list the author meant.
        return [] if value is None else value


class HolidayOverrides(RootModel[dict[str, CalendarOverrides]]):
    """Overrides for every calendar, keyed by calendar code ("KH", "US", "US-TX"...)."""

    model_config = ConfigDict(frozen=True)

    root: dict[str, CalendarOverrides] = {}

    @field_validator("root", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of calendar code to {add, remove}")
        normalised: dict[str, Any] = {}
        for code, change in value.items():
            # Refused when unknown: a typo such as "KHM" would otherwise silently change nothing.
            normalised[normalise_code(code)] = {} if change is None else change
        return normalised


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "top level"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def load_overrides(path: Path | None) -> HolidayOverrides:
    """Parse the overrides file; no path or a missing file means no overrides.

    Anything malformed raises ``ValueError`` naming the file and the problem.
    """
    if path is None or not path.exists():
        return HolidayOverrides()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"holiday overrides file {path}: cannot read: {exc}") from exc
    return parse_overrides(text, path)


# A year of decrees is a few dozen lines; anything near this is not a decree file.
MAX_OVERRIDES_BYTES = 256 * 1024


def _refuse_aliases(text: str) -> None:
    # Aliases let a few lines stand for an exponential structure (a "billion laughs"
    # file) that validation would then walk; a decree file never needs one.
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ValueError("YAML aliases (*name) are not allowed")


def parse_overrides(text: str, source: Path | str) -> HolidayOverrides:
    """Parse the text of an overrides file; ``source`` names it in the error."""
    if len(text.encode("utf-8")) > MAX_OVERRIDES_BYTES:
        raise ValueError(f"holiday overrides file {source}: larger than {MAX_OVERRIDES_BYTES // 1024} KiB")
    try:
        _refuse_aliases(text)
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        # PyYAML reports an impossible date such as 2026-02-30 as a bare
        # ValueError rather than a YAMLError.
        detail = " ".join(str(exc).split())
        raise ValueError(f"holiday overrides file {source}: invalid YAML: {detail}") from exc
    try:
        return HolidayOverrides.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"holiday overrides file {source}: {_describe(exc)}") from exc


def _file_stamp(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    # Size and inode as well as mtime: two quick rewrites can share an mtime
    # on filesystems with coarse timestamps, and editors often replace the
    # file rather than rewrite it.
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class CalendarService:
    """Builds and caches ``CalendarSet``s, following edits to the overrides file.

    Every call to :meth:`calendars` checks the file's modification stamp (one
    ``stat``); when it changed, the file is re-read and cached sets are
    dropped. A malformed file raises ``ValueError`` on that call rather than
    silently keeping stale holidays, so the problem surfaces where the SLA is
    computed.
    """

    def __init__(self, overrides_path: Path | None = None) -> None:
        self.overrides_path = overrides_path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._overrides: HolidayOverrides | None = None
        self._sets: dict[tuple[str, ...], CalendarSet] = {}

    def _refresh(self) -> HolidayOverrides:
        stamp = _file_stamp(self.overrides_path)
        if self._overrides is None or stamp != self._stamp:
            overrides = load_overrides(self.overrides_path)
            self._overrides, self._stamp = overrides, stamp
            self._sets.clear()
        return self._overrides

    @property
    def overrides(self) -> HolidayOverrides:
        """The overrides currently in force (re-read if the file changed)."""
        with self._lock:
            return self._refresh()

    def calendars(self, codes: Sequence[str] = DEFAULT_CALENDARS) -> CalendarSet:
        """A ``CalendarSet`` for ``codes`` reflecting the current overrides file."""
        with self._lock:
            overrides = self._refresh()
            key = tuple(c.strip().upper() for c in codes)
            found = self._sets.get(key)
            if found is None:
                found = self._sets[key] = CalendarSet(key, overrides)
            return found
