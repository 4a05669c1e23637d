"""Whether any consult slot fits a case's member and specialist, as a (local) activity.

The workflow asks once, when the report goes out: the roster's hours, the member's hours and
the slots other cases hold are in the case DB, and the holiday tables change with decrees, so
the answer is recorded in history, never computed there. An unknown specialist is an answer
(no slot fits), not an outage.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine
from temporalio import activity

from calendars import CalendarService
from models.consult import ConsultAvailability, ConsultAvailabilityRequest, NearMiss
from runtime import consult_holds


class ConsultActivities:
    def __init__(self, engine: Engine, calendars: CalendarService) -> None:
        self.engine = engine
        self.calendars = calendars

    @activity.defn(name="consult_availability")
    async def consult_availability(self, req: ConsultAvailabilityRequest) -> ConsultAvailability:
        def compute() -> ConsultAvailability:
            rule = consult_holds.slot_rule(
                self.engine,
                self.calendars.calendars(req.calendars),
                case_id=req.case_id,
                specialist_id=req.specialist_id,
                length=timedelta(minutes=req.length_minutes),
                notice_working_days=req.notice_working_days,
                now=req.at,
            )
            if rule is None:
                return ConsultAvailability(slots=0)
            found = len(rule.proposals())
            misses = [] if found else rule.near_misses()
            near = [NearMiss(start=p.start, reason=p.reason or "") for p in misses]
            return ConsultAvailability(slots=found, near_misses=near)

        return await asyncio.to_thread(compute)
