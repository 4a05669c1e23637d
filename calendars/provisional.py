"""Which holiday years are still a projection rather than a published decree.

Cambodia publishes each year's public holidays by sub-decree, usually around
September of the year before; the lunar holidays (Khmer New Year's first day,
Visak Bochea, the Royal Ploughing Ceremony) cannot be derived with certainty
before then. The ``holidays`` package ships the years after as its own
projection. A year is *provisional* for a calendar when it lies after the last
year whose built-in table was checked against the decree, unless the holiday
overrides file declares it decreed (``decreed: [2027]``), which the operator
does once the decree's dates are entered.

US federal holidays are fixed by statute (5 U.S.C. 6103) and state calendars by
state law, so no US year is provisional.
"""

from __future__ import annotations

from collections.abc import Collection

# The last year whose built-in table matches the published decree date for date:
# the 2025 Prakas and the 2026 sub-decree (21 days; Visak Bochea on 1 May).
VERIFIED_THROUGH: dict[str, int] = {"KH": 2026}


def is_provisional(code: str, year: int, decreed: Collection[int] = ()) -> bool:
    """Whether ``code``'s holidays for ``year`` are a projection, not yet a decree."""
    verified = VERIFIED_THROUGH.get(code)
    return verified is not None and year > verified and year not in decreed
