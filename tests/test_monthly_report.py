"""The monthly SLA and outcomes report to the supervisors: sent on the month's first KH working
day with its two charts, once, and not on the other days the Schedule starts it."""

from __future__ import annotations

from datetime import datetime

from activities.monthly_report import MonthlyReportActivities
from models.monthly_report import MonthlyReportRequest
from models.opinion import Diagnosis, OpinionRecord, Outcome, Treatment
from reports.outcomes import ICT
from runtime.outbox import OutboxServer, read_outbox
from worker import Services, activities_for


def activities(services: Services) -> MonthlyReportActivities:
    (send,) = [a for a in activities_for(services) if getattr(a, "__name__", "") == "send_monthly_report"]
    found = send.__self__  # type: ignore[attr-defined]
    assert isinstance(found, MonthlyReportActivities)
    return found


async def test_the_report_goes_to_the_supervisors_on_the_first_working_day_once_with_two_charts(
    services: Services, outbox: OutboxServer
) -> None:
    (record,) = [a for a in activities_for(services) if getattr(a, "__name__", "") == "record_opinion"]
    outcome = Outcome(diagnosis=Diagnosis.REFINED, treatment=Treatment.CHANGED)
    reported = datetime(2026, 11, 20, 10, 0, tzinfo=ICT)
    await record(
        OpinionRecord(
            case_id="MR-1", program="prudential-kh", reported_at=reported, specialist_id="SP", outcome=outcome
        )
    )
    monthly = activities(services)

    # Saturday 1 August 2026: the report waits for Monday the 3rd.
    weekend = await monthly.send_monthly_report(
        MonthlyReportRequest(at=datetime(2026, 8, 1, 8, 0, tzinfo=ICT))
    )
    assert (weekend.sent, weekend.reason) == (False, "the month's first working day is 2026-08-03")
    first = await monthly.send_monthly_report(
        MonthlyReportRequest(at=datetime(2026, 12, 1, 8, 0, tzinfo=ICT))
    )
    assert (first.month, first.sent) == ("2026-11", True)
    again = await monthly.send_monthly_report(
        MonthlyReportRequest(at=datetime(2026, 12, 1, 9, 0, tzinfo=ICT))
    )
    assert (again.sent, again.reason) == (False, "already sent")

    (mail,) = [m for m in read_outbox(services.settings.outbox_dir) if "monthly report" in str(m["Subject"])]
    assert mail["To"] == services.settings.supervisor_email
    body = mail.get_body(("plain",))
    assert body is not None and "Outcomes: 1 report(s)" in body.get_content()
    assert "treatment changed 1" in body.get_content()
    charts = [p.get_filename() for p in mail.iter_attachments()]
    assert charts == ["sla-2026-11.png", "outcomes-2026-11.png"]
    assert all(p.get_content_type() == "image/png" for p in mail.iter_attachments())
