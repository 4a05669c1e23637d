"""The month's outcomes: what the opinions changed, beside the month's SLA figures.

From the case DB's `opinion_outcomes` (one row per report with its outcome, written by the
case: models/opinion.py) for the reports made in the month, in the programs' zone (ICT). The
member survey's figures (satisfaction, response rate, "will follow the advice") are null until
the survey is in place: the report says "not collected" rather than a number it does not have.
The follow-up questions answered in the month come from `follow_up_rounds` (each an SLA round of
its own kind, written by the case when it is answered).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.follow_up_table import FollowUpRound
from models.opinion_table import OpinionOutcome
from models.report import SlaReport, SlaReportRequest
from models.survey_table import SurveyAnswerRow

ICT = dt.timezone(dt.timedelta(hours=7))


class OutcomesReport(BaseModel):
    month: str
    program: str | None
    cases_reported: int
    diagnosis_confirmed: int
    diagnosis_refined: int
    diagnosis_changed: int
    treatment_changed: int
    surgery_avoided: int
    diagnosis_changed_rate: float | None
    treatment_changed_rate: float | None
    # The member survey's, over the month's reported cases: null when none has answered.
    satisfaction_mean: float | None = None
    survey_response_rate: float | None = None
    will_follow_rate: float | None = None
    # The month's SLA figures (`smo report sla`), beside them.
    sla_reports: int
    sla_on_time: int
    sla_on_time_rate: float | None
    # The follow-up questions answered in the month (each an SLA round of its own kind).
    follow_ups_answered: int = 0
    follow_ups_on_time: int = 0


def reported_in(engine: Engine, request: SlaReportRequest) -> list[OpinionOutcome]:
    """The outcomes of the reports made in the month (ICT), of one program or all."""
    start = dt.datetime.combine(request.first_day, dt.time(), tzinfo=ICT)
    end = dt.datetime.combine(request.next_first_day, dt.time(), tzinfo=ICT)
    query = select(OpinionOutcome).where(
        OpinionOutcome.reported_at >= start, OpinionOutcome.reported_at < end
    )
    if request.program is not None:
        query = query.where(OpinionOutcome.program == request.program)
    with Session(engine) as session:
        return list(session.exec(query))


def follow_ups_in(engine: Engine, request: SlaReportRequest) -> list[FollowUpRound]:
    """The follow-up questions answered in the month (ICT), of one program or all."""
    start = dt.datetime.combine(request.first_day, dt.time(), tzinfo=ICT)
    end = dt.datetime.combine(request.next_first_day, dt.time(), tzinfo=ICT)
    query = select(FollowUpRound).where(FollowUpRound.answered_at >= start, FollowUpRound.answered_at < end)
    if request.program is not None:
        query = query.where(FollowUpRound.program == request.program)
    with Session(engine) as session:
        return list(session.exec(query))


def answers_of(engine: Engine, case_ids: Sequence[str]) -> list[SurveyAnswerRow]:
    """The survey answers of these cases (the month's reported ones)."""
    if not case_ids:
        return []
    query = select(SurveyAnswerRow).where(SurveyAnswerRow.case_id.in_(list(case_ids)))  # type: ignore[attr-defined]
    with Session(engine) as session:
        return list(session.exec(query))


def build(
    request: SlaReportRequest,
    rows: Sequence[OpinionOutcome],
    sla: SlaReport,
    answers: Sequence[SurveyAnswerRow] = (),
    follow_ups: Sequence[FollowUpRound] = (),
) -> OutcomesReport:
    n, k = len(rows), len(answers)

    def count(**match: object) -> int:
        return sum(all(getattr(r, k) == v for k, v in match.items()) for r in rows)

    changed, treatment = count(diagnosis="changed"), count(treatment="changed")
    return OutcomesReport(
        month=request.month,
        program=request.program,
        cases_reported=n,
        diagnosis_confirmed=count(diagnosis="confirmed"),
        diagnosis_refined=count(diagnosis="refined"),
        diagnosis_changed=changed,
        treatment_changed=treatment,
        surgery_avoided=count(surgery_avoided=True),
        diagnosis_changed_rate=changed / n if n else None,
        treatment_changed_rate=treatment / n if n else None,
        satisfaction_mean=sum(a.satisfaction for a in answers) / k if k else None,
        survey_response_rate=k / n if n and k else None,
        will_follow_rate=sum(a.will_follow for a in answers) / k if k else None,
        sla_reports=sla.reports,
        sla_on_time=sla.on_time,
        sla_on_time_rate=sla.on_time_rate,
        follow_ups_answered=len(follow_ups),
        follow_ups_on_time=sum(not f.breached for f in follow_ups),
    )


def draw(report: OutcomesReport, path: Path) -> Path:
    """The month's outcomes as a bar chart (PNG), the SLA's on-time rate beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["diagnosis changed", "treatment changed", "surgery avoided", "SLA on time"]
    n = report.cases_reported
    values = [
        100 * (report.diagnosis_changed_rate or 0),
        100 * (report.treatment_changed_rate or 0),
        100 * report.surgery_avoided / n if n else 0,
        100 * (report.sla_on_time_rate or 0),
    ]
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    ax.bar(labels, values, color=["#1565c0", "#6a1b9a", "#2e7d32", "#37474f"])
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of reports")
    ax.set_title(f"Outcomes {report.month} · {report.program or 'all programs'} · {n} report(s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
