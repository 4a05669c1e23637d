"""Report delivery and the consult window: bookings (billed past the free ones), a third
opinion (billed), and closing. Charges are queued intents: the update answers at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import BookConsult, Close, CompleteConsult, RequestThirdOpinion, Stage, UpdateAck
    from models.case_state import ThirdOpinion
    from models.notices import NoticeKind

from workflows.case.effects import EffectsMixin
from workflows.case.options import expect, wait

BOOKED = "consult booked"


class ConsultStage(EffectsMixin):
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
        await self._notify(
            NoticeKind.REPORT_DELIVERED,
            str(len(self.s.reports)),
            link_doc_ids=[review.report.doc_id],
            params={"item": consults, "notice": terms.report_notice},
        )
        self._enter(Stage.REPORT_DELIVERED, "report delivered", f"report {len(self.s.reports)}")
        self.s.consults.window_closes_at = workflow.now() + timedelta(days=terms.consult_window_days)

    async def _consult_phase(self) -> bool:
        """True when a third opinion was requested, False when the case should close."""
        consults = self.s.consults
        while True:
            assert consults.window_closes_at is not None
            await wait(
                lambda: (
                    consults.close_requested
                    or self.s.cancel_reason is not None
                    or consults.third_opinion is ThirdOpinion.REQUESTED
                    or self._history_full()
                ),
                max(consults.window_closes_at - workflow.now(), timedelta(0)),
                "consult window",
            )
            self._check_cancel()
            if (
                self._history_full()
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
        await workflow.wait_condition(
            lambda: (not consults.pending and not self.s.charging) or self.s.cancel_reason is not None
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
        n = consults.booked + 1
        free = terms.free_consults is None or consults.booked < terms.free_consults
        consults.booked, consults.pending = n, True
        if self.s.stage is not Stage.CONSULT:
            self._enter(Stage.CONSULT)
        kind = "free" if free else "billed"
        consults.slot = req.slot
        self._note(BOOKED, f"#{n} {kind} by {req.by}")
        group = f"consult:{n}"
        if not free:
            self._queue_charge(group, "consult", f"consult:{n}", terms.consult_price_cents)
        slot = req.slot.strftime("%Y-%m-%d %H:%M %z")
        self._queue_notice(
            group, self._notice(NoticeKind.CONSULT_BOOKED, str(n), params={"slot": slot, "n": str(n)})
        )
        return self._ack("free" if free else "billed")

    @book_consult.validator
    def _validate_book(self, req: BookConsult) -> None:
        expect(req, BookConsult)
        self._check_booking()
        if req.slot <= workflow.now():
            raise ValueError("the consult slot must be in the future")

    @workflow.update
    def complete_consult(self, req: CompleteConsult) -> UpdateAck:
        consults = self.s.consults
        consults.pending, consults.slot = False, None
        consults.completed += 1
        self._note("consult completed", f"#{consults.completed} by {req.by}")
        return self._ack()

    @complete_consult.validator
    def _validate_complete_consult(self, req: CompleteConsult) -> None:
        expect(req, CompleteConsult)
        self._require_stage(Stage.CONSULT)
        if not self.s.consults.pending:
            raise ValueError("no consult is booked")

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
