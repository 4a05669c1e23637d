"""The SLA report as a picture: each case's turnaround against its SLA line, and on-time by week.

matplotlib with the Agg backend: it renders to a file with no display, on a server.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

# pyplot only after the backend is chosen.
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from models.report import SlaReport

ON_TIME, LATE, SLA = "#2e7d32", "#c62828", "#37474f"


def draw(report: SlaReport, path: Path) -> Path:
    """Write the chart as a PNG to `path` (its parent is created)."""
    reported = [f for f in report.round_figures if f.reported]
    fig, (cases, weeks) = plt.subplots(
        2, 1, figsize=(11, 8), gridspec_kw={"height_ratios": [3, 2]}, constrained_layout=True
    )
    scope = report.program or "all programs"
    fig.suptitle(f"SLA report {report.month} · {scope}", fontsize=14)

    xs = range(len(reported))
    cases.bar(
        xs,
        [f.turnaround_working_days for f in reported],
        color=[ON_TIME if f.on_time else LATE for f in reported],
    )
    # Each case against its own SLA: programs differ (10 or 5 working days).
    cases.hlines(
        [f.sla_working_days for f in reported],
        [x - 0.45 for x in xs],
        [x + 0.45 for x in xs],
        colors=SLA,
        linestyles="dashed",
        linewidth=2,
    )
    cases.set_xticks(list(xs), [f.case_id for f in reported], rotation=60, ha="right", fontsize=8)
    cases.set_ylabel("turnaround (working days)")
    rate = "n/a" if report.on_time_rate is None else f"{report.on_time_rate:.0%}"
    cases.set_title(
        f"{report.reports} reports · on time {rate} · median {_days(report.median_turnaround_working_days)}"
        f" · p90 {_days(report.p90_turnaround_working_days)} working days",
        fontsize=10,
    )
    outcomes = [Patch(color=ON_TIME, label="on time"), Patch(color=LATE, label="late")]
    cases.legend(
        handles=[*outcomes, Line2D([], [], color=SLA, linestyle="dashed", linewidth=2, label="SLA")],
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
    )
    heights = [f.turnaround_working_days for f in reported] + [f.sla_working_days for f in reported]
    tallest = max(heights, default=1)
    cases.set_ylim(0, tallest * 1.15)
    cases.yaxis.get_major_locator().set_params(integer=True)

    labels = [w.week.strftime("week of %d %b") for w in report.by_week]
    on_time = [w.on_time for w in report.by_week]
    late = [w.late for w in report.by_week]
    weeks.bar(labels, on_time, color=ON_TIME, label="on time")
    weeks.bar(labels, late, bottom=on_time, color=LATE, label="late")
    for x, w in enumerate(report.by_week):
        if w.on_time_rate is not None:
            weeks.text(x, w.on_time + w.late, f"{w.on_time_rate:.0%}", ha="center", va="bottom")
    weeks.set_ylabel("reports")
    weeks.set_title("on time by week (the week the report arrived)", fontsize=10)
    weeks.legend(handles=outcomes, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    # Headroom for the percentages above the bars.
    weeks.set_ylim(0, max([w.on_time + w.late for w in report.by_week] + [1]) * 1.2)
    weeks.yaxis.get_major_locator().set_params(integer=True)

    if not reported:
        for ax in (cases, weeks):
            ax.set_xticks([])
            ax.text(0.5, 0.5, "no reports this month", ha="center", va="center", transform=ax.transAxes)

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _days(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"
