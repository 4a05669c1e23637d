"""A booked consult's moments on durable timers: reminders before it, a question after it.

Both sides are reminded 24 hours and 1 hour before the call. Two hours after its end, a
consult nobody marked asks the specialist and the desk whether it took place, and flags the
case. The clock runs beside the stages for the life of the run, like the effects loop, and
follows the booking as it changes (the updatable-timer pattern): a reschedule or a cancel
wakes it, and it sets its timer again from the new slot. A moment already passed when the
consult was booked or moved is skipped, not sent late; one the worker slept through is sent
while it still means something (a reminder before the call, the question any time after).

The report's delivery also asks, once, whether any slot fits both sides; when none does in
the next working days, the desk is told with the nearest near-misses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.consult import ConsultAvailability, ConsultAvailabilityRequest
    from models.notices import NoticeKind

from workflows.case.effects import EffectsMixin
from workflows.case.options import DB, business_error, wait

# The patch that brought the consult's clock and the availability check: runs recorded
# before it replay without either.
CONSULT_CLOCK = "consult-clock"
REMINDERS = (("24h", timedelta(hours=24)), ("1h", timedelta(hours=1)))
CHECK = "check"
CHECK_AFTER_END = timedelta(hours=2)
OUTCOME_UNKNOWN = "consult outcome unknown"
NO_SLOTS = "consult no slots"
# The attention flags a booking clears: the desk's question is answered by the new consult.
CONSULT_FLAGS = frozenset(
    {OUTCOME_UNKNOWN, NO_SLOTS, "consult specialist absent", "consult member absent"}
)


def slot_param(slot: datetime) -> str:
    """How a consult's notice names its start (`Notice.params["slot"]`)."""
    return slot.strftime("%Y-%m-%d %H:%M %z")


class ConsultClock(EffectsMixin):
    # ---- the pending consult's moments --------------------------------------------------

    def _moments(self) -> list[tuple[str, datetime]]:
        """The pending consult's reminders and its question, in time order."""
        slot = self.s.consults.slot
        assert slot is not None
        end = slot + timedelta(minutes=self.terms.consult_length_minutes)
        return [(name, slot - ahead) for name, ahead in REMINDERS] + [(CHECK, end + CHECK_AFTER_END)]

    def _start_moments(self) -> None:
        """A consult just booked or moved: what has passed already is not for it."""
        now = workflow.now()
        self.s.consults.reminded = [name for name, at in self._moments() if at <= now and name != CHECK]
        self.s.consults.outcome_asked = False

    def _consult_params(self, **more: str) -> dict[str, str]:
        c = self.s.consults
        assert c.slot is not None
        return {"slot": slot_param(c.slot), "n": str(c.number), "seq": str(c.sequence), **more}

    def _clear_consult_flag(self, *flags: str) -> None:
        if self.s.attention in (flags or CONSULT_FLAGS):
            self._set_attention(None)

    def _moved_from(self, key: tuple[int, int]) -> Callable[[], bool]:
        """Whether the consult numbered and sequenced `key` has gone or moved since."""
        c = self.s.consults
        return lambda: not c.pending or (c.number, c.sequence) != key

    async def _consult_clock(self) -> None:
        """Runs for the life of the run: each pending consult's next moment, on a timer."""
        c = self.s.consults
        patched: bool | None = None
        while True:
            await workflow.wait_condition(lambda: c.pending and c.slot is not None)
            if patched is None:
                patched = workflow.patched(CONSULT_CLOCK)
            if not patched:
                return
            moved = self._moved_from((c.number, c.sequence))
            due = [(name, at) for name, at in self._moments() if name not in c.reminded]
            if not due:  # asked already: wait for the outcome, a move or a cancel
                await workflow.wait_condition(moved)
                continue
            name, at = due[0]
            if at > workflow.now() and await wait(moved, at - workflow.now(), f"consult {name}"):
                continue
            self._consult_moment(name)

    def _consult_moment(self, name: str) -> None:
        c = self.s.consults
        c.reminded.append(name)
        assert c.slot is not None
        group = f"consult:{c.number}:{name}"
        if name == CHECK:
            c.outcome_asked = True
            self._note("consult outcome asked", f"#{c.number}")
            self._set_attention(OUTCOME_UNKNOWN)
            suffix, params = f"{c.number}-{c.sequence}", self._consult_params()
            self._queue_notice(group, self._notice(NoticeKind.CONSULT_CHECK, suffix, params=params))
        elif workflow.now() < c.slot:  # a reminder the worker slept through past the call: no more
            suffix = f"{c.number}-{c.sequence}-{name}"
            params = self._consult_params(before=name)
            self._queue_notice(group, self._notice(NoticeKind.CONSULT_REMINDER, suffix, params=params))

    # ---- when the report goes out: does any slot fit? -------------------------------------

    async def _check_availability(self) -> None:
        """Tell the desk when no consult slot fits both sides (the case stays bookable)."""
        if not workflow.patched(CONSULT_CLOCK):
            return
        specialist_id, terms = self.specialist_id, self.terms
        if specialist_id is None:
            return
        req = ConsultAvailabilityRequest(
            case_id=self._inp.case_id,
            specialist_id=specialist_id,
            calendars=list(terms.calendars),
            length_minutes=terms.consult_length_minutes,
            notice_working_days=terms.consult_notice_working_days,
            at=workflow.now(),
        )
        try:
            found = await workflow.execute_local_activity(
                "consult_availability", req, result_type=ConsultAvailability, **DB
            )
        except (ActivityError, ApplicationError) as err:
            business = business_error(err)
            if business is None:
                raise
            self._note("consult slots unknown", business.type or "")
            return
        if found.slots:
            return
        self._note("no consult slots", f"{len(found.near_misses)} near misses")
        self._set_attention(NO_SLOTS)
        near = ";".join(f"{m.start.isoformat()}|{m.reason}" for m in found.near_misses)
        notice = self._notice(NoticeKind.CONSULT_NO_SLOTS, str(len(self.s.reports)), params={"near": near})
        self._queue_notice(f"consult-slots:{len(self.s.reports)}", notice)
