"""A date typed as three fields (web/portal/templates/_date.html): day, month by name, year.

A browser's date widget shows mm/dd/yyyy or dd/mm/yyyy as the browser likes, in its own
language; three fields read the same to every member, in the page's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def date_text(form: Mapping[str, Any], name: str) -> str:
    """The date the form's `<name>_day`, `_month`, `_year` fields give, as ISO text for a model
    to parse ("" when a part is missing or is not a number, which the model refuses)."""
    parts = []
    for part, width in (("year", 4), ("month", 2), ("day", 2)):
        value = form.get(f"{name}_{part}", "")
        value = value.strip() if isinstance(value, str) else ""
        if not (value.isascii() and value.isdigit()) or len(value) > width:
            return ""
        parts.append(value.zfill(width))
    return "-".join(parts)
