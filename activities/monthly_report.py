"""`send_monthly_report`: the month's SLA and outcomes report, emailed to the supervisors with
its two charts, on the month's first KH working day, once.

The figures and charts are `smo report sla`'s and `smo report outcomes`'s: the worker injects
`compose` (reports/monthly.py `monthly_email`), which gives a month's text and charts.
Idempotent: the `emails` table keeps the report's notice id (`monthly-report:<month>`), and
the message's Message-ID is derived from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import Engine, select
from temporalio import activity

from activities.notices import message_id_for
from calendars import CalendarService
from models.db import EmailRow, insert_new, table
from models.monthly_report import MonthlyReportRequest, MonthlyReportResult
from runtime.i18n import ICT
from runtime.mail import SmtpMailer

_EMAILS = table(EmailRow)
# A month ("2026-11") to the email's text and its charts (file name, PNG bytes).
Compose = Callable[[str], tuple[str, list[tuple[str, bytes]]]]


def previous_month(day: date) -> str:
    last = day.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


class MonthlyReportActivities:
    def __init__(
        self,
        engine: Engine,
        mailer: SmtpMailer,
        calendars: CalendarService,
        compose: Compose,
        *,
        mail_from: str,
        supervisors: str,
    ) -> None:
        self.engine, self.mailer, self.calendars, self.compose = engine, mailer, calendars, compose
        self.mail_from, self.supervisors = mail_from, supervisors

    def first_working_day(self, day: date) -> date:
        kh = self.calendars.calendars(["KH"])
        first = day.replace(day=1)
        while not kh.is_working_day(first):
            first += timedelta(days=1)
        return first

    def _sent(self, notice_id: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(_EMAILS.c.status).where(_EMAILS.c.notice_id == notice_id)).first()
        return found is not None and found.status == "sent"

    def _record(self, notice_id: str, message_id: str) -> None:
        row = {
            "notice_id": notice_id,
            "case_id": "",
            "kind": "monthly_report",
            "message_id": message_id,
            "status": "sent",
            "attempts": 1,
            "sent_at": datetime.now(UTC),
        }
        # A second worker that sent the same message (same Message-ID) meets the key: nothing more.
        with self.engine.begin() as conn:
            insert_new(conn, EmailRow, [row], ["notice_id"])

    def _message(self, month: str, notice_id: str) -> EmailMessage:
        text, charts = self.compose(month)
        msg = EmailMessage()
        msg["From"], msg["To"] = self.mail_from, self.supervisors
        msg["Subject"] = f"SMO monthly report {month}: SLA and outcomes"
        msg["Message-ID"] = message_id_for(notice_id)
        msg["X-SMO-Notice-Id"] = notice_id
        msg["Date"] = formatdate(localtime=False)
        msg.set_content(text)
        for name, png in charts:
            msg.add_attachment(png, maintype="image", subtype="png", filename=name)
        return msg

    @activity.defn(name="send_monthly_report")
    async def send_monthly_report(self, req: MonthlyReportRequest) -> MonthlyReportResult:
        at = (req.at or datetime.now(UTC)).astimezone(ICT)
        month = previous_month(at.date())
        first = await asyncio.to_thread(self.first_working_day, at.date())
        if not req.force and at.date() != first:
            return MonthlyReportResult(
                month=month, sent=False, reason=f"the month's first working day is {first}"
            )
        notice_id = f"monthly-report:{month}"
        if await asyncio.to_thread(self._sent, notice_id):
            return MonthlyReportResult(month=month, sent=False, reason="already sent")
        msg = await asyncio.to_thread(self._message, month, notice_id)
        await self.mailer.send(msg, sender=self.mail_from, recipients=[self.supervisors])
        await asyncio.to_thread(self._record, notice_id, str(msg["Message-ID"]))
        return MonthlyReportResult(month=month, sent=True, reason="sent")


__all__ = ["MonthlyReportActivities"]
