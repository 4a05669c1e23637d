"""The constrained strings of a program file: its name, rule codes, aliases, texts and times.

Shared by the program (`models.program`), its service terms (`models.program_terms`) and
its eligibility rules (`models.program_rules`), so each is checked the same way wherever
it appears.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

_NAME = r"^[a-z][a-z0-9-]{1,39}$"
_CODE = r"^[a-z][a-z0-9._-]{0,23}$"
_ALIAS = r"^[a-z][a-z0-9_]{1,39}$"
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

ProgramName = Annotated[str, StringConstraints(pattern=_NAME)]
RuleCode = Annotated[str, StringConstraints(pattern=_CODE)]
Alias = Annotated[str, StringConstraints(pattern=_ALIAS)]
Text = Annotated[str, StringConstraints(min_length=3, max_length=1000, strip_whitespace=True)]
# What a member reads (models.program_words): short, on one line, and with no "%", which the
# catalog would take for a value to fill in.
MemberText = Annotated[
    str, StringConstraints(min_length=3, max_length=200, strip_whitespace=True, pattern=r"^[^%\n]+$")
]
ClockTime = Annotated[str, StringConstraints(pattern=_HHMM)]  # "17:00"
