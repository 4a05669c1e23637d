"""Report delivery and the consult window: bookings (billed past the free ones), their moves,
cancels and outcomes, a third opinion (billed), and closing. Charges are queued intents: the
update answers at once.

A booking owed free of charge (a cancel, the specialist absent, the member's first absence) is
a credit the next booking uses before the program's free consults; the slot rule itself (the
roster's hours, the calendars, the notice) is the case service's, which can read the roster.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import Close, RequestThirdOpinion, Stage, UpdateAck
    from models.case_state import ThirdOpinion
    from models.consult import BookConsult, CancelConsult, CompleteConsult, ConsultOutcome, RescheduleConsult
    from models.notices import NoticeKind

from workflows.case.consult_clock import CONSULT_CLOCK, OUTCOME_UNKNOWN, ConsultClock, slot_param
from workflows.case.doctor import DoctorStage
from workflows.case.follow_up import FollowUpStage
from workflows.case.options import expect, wait
from workflows.case.survey import SurveyStage

BOOKED = "consult booked"
CONSULT_HISTORY_BUDGET = 90


class ConsultStage(ConsultClock, FollowUpStage, SurveyStage, DoctorStage):
    async def _deliver_report(self) -> None:
        review = self._round()
        assert review.report is not None
        terms = self.terms
        self.s.reports.append(review.report.doc_id)
        consults = (
            "telephone consultations with the specialist"
            if terms.free_consults is None
            else f"{terms.free_consults} free telephone consultation(s); further ones are billed"
        )
        params = {"item": consults, "notice": terms.report_notice}
        # The member's summary still to come in their language: the email says by when.
        translation = await self._open_opinion_translation()
        if translation is not None:
            params["deadline"] = translation.due_at.isoformat()
        await self._notify(
            NoticeKind.REPORT_DELIVERED,
            str(len(self.s.reports)),
            link_doc_ids=[review.report.doc_id],
            params=params,
        )
        self._enter(Stage.REPORT_DELIVERED, "report delivered", f"report {len(self.s.reports)}")
        self._send_doctor_the_report()  # when the member named their treating doctor
        self.s.consults.window_closes_at = workflow.now() + timedelta(days=terms.consult_window_days)
        self.s.follow_ups.window_closes_at = workflow.now() + timedelta(days=terms.follow_up_window_days)
        self._plan_survey()
        await self._check_availability()

    async def _consult_phase(self) -> bool:
        """True when a third opinion was requested, False when the case should close."""
        consults = self.s.consults
        # Weeks of bookings, reminders and outcomes: past CONSULT_HISTORY_BUDGET events the case
        # goes on in a fresh run at its next idle moment, so no run outgrows a completed case's.
        budget = CONSULT_HISTORY_BUDGET if workflow.patched(CONSULT_CLOCK) else None
        while True:
            assert consults.window_closes_at is not None
            await wait(
                lambda: (
                    consults.close_requested
                    or self.s.cancel_reason is not None
                    or consults.third_opinion is ThirdOpinion.REQUESTED
                    or self._history_full(budget)
                ),
                max(consults.window_closes_at - workflow.now(), timedelta(0)),
                "consult window",
            )
            self._check_cancel()
            if (
                self._history_full(budget)
                and not consults.close_requested
                and workflow.now() < consults.window_closes_at
            ):
                # A case that stays open for follow-ups: a fresh run keeps its history short.
                await self._continue_as_new()
                continue
            break
        if self._third_opinion():
            return True
        # The window has passed or a coordinator closed: let a booked consult and any charge
        # in flight (a third opinion being paid for) finish first.
        # An unanswered follow-up question holds the close too (a case with none: as before).
        await workflow.wait_condition(
            lambda: (
                (not consults.pending and not self.s.charging and not self._follow_up_open())
                or self.s.cancel_reason is not None
            )
        )
        self._check_cancel()
        return self._third_opinion()

    def _third_opinion(self) -> bool:
        """Requested and paid for (a handler or the charge may have just set it)."""
        return self.s.consults.third_opinion is ThirdOpinion.REQUESTED

    def _moving_on(self) -> bool:
        c = self.s.consults
        return c.close_requested or c.third_opinion is not ThirdOpinion.NONE

    # ---- what `status` shows of bookings --------------------------------------------------

    def _check_booking(self) -> None:
        """The rules a booking keeps, its slot aside: the validator's, and `status`'s `consult_open`."""
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self.s.consults.pending:
            raise ValueError("a consult is already booked; complete it first")
        if self._moving_on():
            raise ValueError("the case is moving on; no more bookings")
        if self.s.charging:
            raise ValueError("the last charge is still being taken; book once it has gone through")

    def _booking_open(self) -> bool:
        try:
            self._check_booking()
        except ValueError:
            return False
        return True

    def _booked_at(self) -> datetime | None:
        """The pending consult's time (a booking from before the case kept it shows none)."""
        return self.s.consults.slot if self.s.consults.pending else None

    # ---- updates ------------------------------------------------------------------------

    @workflow.update
    def book_consult(self, req: BookConsult) -> UpdateAck:
        terms, consults = self.terms, self.s.consults
        # Older runs kept no numbers: their consults were numbered by the bookings.
        n = max(consults.issued, consults.booked) + 1
        credit = consults.credits > 0
        free = credit or terms.free_consults is None or consults.counted() < terms.free_consults
        if credit:
            consults.credits -= 1
            consults.rebooked += 1
        consults.booked, consults.pending = consults.booked + 1, True
        consults.issued, consults.number, consults.sequence = n, n, 0
        if self.s.stage is not Stage.CONSULT:
            self._enter(Stage.CONSULT)
        kind = "free" if free else "billed"
        consults.slot = req.slot
        self._start_moments()
        self._clear_consult_flag()
        self._note(BOOKED, f"#{n} {kind}{' rebooking' if credit else ''} by {req.by}")
        group = f"consult:{n}"
        if not free:
            self._queue_charge(group, "consult", f"consult:{n}", terms.consult_price_cents)
        self._queue_notice(
            group, self._notice(NoticeKind.CONSULT_BOOKED, str(n), params=self._consult_params())
        )
        return self._ack(kind)

    @book_consult.validator
    def _validate_book(self, req: BookConsult) -> None:
        expect(req, BookConsult)
        self._check_booking()
        if req.slot <= workflow.now():
            raise ValueError("the consult slot must be in the future")

    def _check_booked(self, number: int, action: str) -> datetime:
        """The pending consult `number` has not started: it may still be moved or cancelled."""
        self._require_stage(Stage.CONSULT)
        consults = self.s.consults
        if not consults.pending or consults.slot is None:
            raise ValueError("no consult is booked")
        if number != consults.number:
            raise ValueError(f"consult #{number} is not the booked one (#{consults.number})")
        if consults.slot <= workflow.now():
            raise ValueError(f"the consult has started; it can no longer be {action}")
        return consults.slot

    @workflow.update
    def reschedule_consult(self, req: RescheduleConsult) -> UpdateAck:
        consults = self.s.consults
        before = consults.slot
        assert before is not None
        consults.slot, consults.sequence = req.slot, consults.sequence + 1
        self._start_moments()
        self._clear_consult_flag()
        self._note("consult moved", f"#{consults.number} from {slot_param(before)} by {req.by}")
        notice = self._notice(
            NoticeKind.CONSULT_RESCHEDULED,
            f"{consults.number}-{consults.sequence}",
            params=self._consult_params(before=slot_param(before)),
        )
        self._queue_notice(f"consult:{consults.number}:moved", notice)
        return self._ack(f"sequence {consults.sequence}")

    @reschedule_consult.validator
    def _validate_reschedule(self, req: RescheduleConsult) -> None:
        expect(req, RescheduleConsult)
        current = self._check_booked(req.number, "moved")
        if req.slot <= workflow.now():
            raise ValueError("the consult slot must be in the future")
        if req.slot == current:
            raise ValueError("the consult is booked at that time already")

    @workflow.update
    def cancel_consult(self, req: CancelConsult) -> UpdateAck:
        consults = self.s.consults
        # The invitation's CANCEL goes one SEQUENCE past the last REQUEST.
        consults.sequence += 1
        params = self._consult_params()
        consults.pending, consults.slot = False, None
        consults.credits += 1
        self._clear_consult_flag()
        self._note("consult cancelled", f"#{consults.number} by {req.by}")
        notice = self._notice(NoticeKind.CONSULT_CANCELLED, str(consults.number), params=params)
        self._queue_notice(f"consult:{consults.number}:cancelled", notice)
        return self._ack("the next booking is free")

    @cancel_consult.validator
    def _validate_cancel_consult(self, req: CancelConsult) -> None:
        expect(req, CancelConsult)
        self._check_booked(req.number, "cancelled")

    @workflow.update
    def complete_consult(self, req: CompleteConsult) -> UpdateAck:
        consults = self.s.consults
        n = consults.number or consults.booked
        params = self._consult_params() if consults.slot is not None else {"n": str(n)}
        consults.pending, consults.slot, consults.outcome_asked = False, None, False
        self._clear_consult_flag(OUTCOME_UNKNOWN)
        if req.outcome is ConsultOutcome.DONE:
            consults.completed += 1
            self._note("consult completed", f"#{consults.completed} by {req.by}")
            return self._ack()
        # A specialist's absence, and a member's first absence, leave the next booking free.
        who = "specialist" if req.outcome is ConsultOutcome.SPECIALIST_ABSENT else "member"
        if who == "member":
            consults.member_absences += 1
        free = who == "specialist" or consults.member_absences == 1
        consults.credits += int(free)
        self._note("consult missed", f"#{n} {who} absent, by {req.by}")
        self._set_attention(f"consult {who} absent")
        notice = self._notice(
            NoticeKind.CONSULT_MISSED, str(n), params={**params, "who": who, "free": str(int(free))}
        )
        self._queue_notice(f"consult:{n}:missed", notice)
        return self._ack("the next booking is free" if free else "the next booking is billed")

    @complete_consult.validator
    def _validate_complete_consult(self, req: CompleteConsult) -> None:
        expect(req, CompleteConsult)
        self._require_stage(Stage.CONSULT)
        consults = self.s.consults
        if not consults.pending:
            raise ValueError("no consult is booked")
        started = consults.slot is None or consults.slot <= workflow.now()
        if req.outcome is not ConsultOutcome.DONE and not started:
            raise ValueError("the consult has not started yet; nobody has missed it")

    @workflow.update
    def request_third_opinion(self, req: RequestThirdOpinion) -> UpdateAck:
        price = self.terms.third_opinion_price_cents
        assert price is not None
        self.s.consults.third_opinion = ThirdOpinion.PAYING
        key = f"third-opinion:{len(self.s.reports)}"
        self._queue_charge(key, "third_opinion", key, price)
        self._note("third opinion requested", f"by {req.by}")
        return self._ack("billed")

    @request_third_opinion.validator
    def _validate_third_opinion(self, req: RequestThirdOpinion) -> None:
        expect(req, RequestThirdOpinion)
        terms = self._require_terms_for("request a third opinion")
        if terms.third_opinion_price_cents is None:
            raise ValueError(f"program {terms.name} offers no third opinion")
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self.s.consults.pending:
            raise ValueError("finish the booked consult first")
        if self._moving_on() or self.s.charging:
            raise ValueError("the case is already moving on")

    @workflow.update
    def close(self, req: Close) -> UpdateAck:
        self.s.consults.close_requested = True
        self._note("close requested", f"by {req.by}")
        return self._ack()

    @close.validator
    def _validate_close(self, req: Close) -> None:
        expect(req, Close)
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self.s.consults.pending:
            raise ValueError("a consult is booked; complete it before closing")
        if self._moving_on():
            raise ValueError("the case is already moving on")
