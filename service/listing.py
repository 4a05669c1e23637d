"""The case list's filters: stage, program, overdue, due within a duration, attention, scope.

The list itself is one indexed query on the case read model (runtime/case_views.py), never
a visibility search and never a case's history.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta

from models.case import Stage
from runtime.case_views import ListFilter
from service.errors import UserError

# A count (up to four digits) and a unit; ASCII only (`str.isdigit` also takes "²", which
# `int` refuses). The API's schema states the same pattern.
DURATION_PATTERN = r"^[0-9]{1,4}[mhdw]$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# A program name as the program files spell it (models.program_fields).
_PROGRAM = re.compile(r"[a-z][a-z0-9-]{1,39}")


def parse_duration(text: str) -> timedelta:
    """`2d`, `36h`, `90m` or `1w` (at most 9999 of the unit); the refusal does not repeat the text."""
    value = text.strip().lower()
    if not _DURATION.fullmatch(value):
        raise UserError("not a duration: a whole number (up to 9999) of m, h, d or w, such as 2d, 36h or 1w")
    return timedelta(**{_UNITS[value[-1]]: int(value[:-1])})


def case_filter(
    *,
    stage: Stage | None = None,
    program: str | None = None,
    overdue: bool = False,
    due_within: timedelta | None = None,
    attention: bool = False,
    scope: Collection[str] = (),
) -> ListFilter:
    """The list's filters; a non-empty `scope` (a token's programs) is one of them, not a filter after."""
    if program is not None and not _PROGRAM.fullmatch(program):
        raise UserError("the program must be a program's name, such as prudential-kh")
    return ListFilter(
        stage=stage,
        program=program,
        overdue=overdue,
        due_within=due_within,
        attention=attention,
        scope=frozenset(scope),
    )
