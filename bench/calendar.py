"""Deadline computations per second, with and without the holiday-table cache.

    python bench/calendar.py [--n 2000]

"cached" reuses one CalendarSet, as the worker's CalendarService does;
"fresh set" builds a new CalendarSet per computation (tables built once per
deadline); "uncached" uses CalendarSet(cache=False), which rebuilds the
holiday tables on every day it looks at (measured on n/20 deadlines, as it
is two to three orders of magnitude slower).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named calendar.py and Python puts its directory first on
# sys.path, so `import calendar` anywhere (workalendar, holidays, email...)
# would load this script instead of the standard library. Put the project
# root there instead, which is also what makes `calendars` importable.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from calendars import CalendarSet, compute_due  # noqa: E402

ICT = ZoneInfo("Asia/Phnom_Penh")


def receipts(n: int, seed: int = 7) -> list[dt.datetime]:
    """Receipt instants spread over 2026-2027, at any minute of any day."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=ICT)
    return [start + dt.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)) for _ in range(n)]


def rate(instants: list[dt.datetime], calendars_for: Callable[[], CalendarSet]) -> float:
    started = time.perf_counter()
    for i, received in enumerate(instants):
        compute_due(received, 10 if i % 2 else 5, calendars_for())
    return len(instants) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="deadlines per measurement (default 2000)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    instants = receipts(args.n)
    shared = CalendarSet(("KH", "US"))
    shared.is_working_day(dt.date(2026, 1, 1))  # first-use imports are not what is measured
    uncached = CalendarSet(("KH", "US"), cache=False)

    cached_rate = rate(instants, lambda: shared)
    fresh_rate = rate(instants, lambda: CalendarSet(("KH", "US")))
    uncached_n = max(1, args.n // 20)
    uncached_rate = rate(instants[:uncached_n], lambda: uncached)
    print(
        f"compute_due cached: {cached_rate:,.0f}/s   "
        f"fresh set: {fresh_rate:,.0f}/s   "
        f"uncached: {uncached_rate:,.0f}/s"
    )
    print(f"(KH+US calendars, N alternating 5/10; n={args.n}, uncached n={uncached_n})")


if __name__ == "__main__":
    main()
