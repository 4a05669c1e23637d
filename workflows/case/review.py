"""The review round under the SLA: assignment, the records to the specialist, the clock
racing the report, stop-the-clock, escalation, reassignment and holiday decrees.

Each round is one `ReviewRound`: `_start_round` assigns it, `_run_round` runs it to its end;
the case sequences them (with consent before each assignment). When a round ends (report,
decline, reassignment, cancel) its SLA facts go to the case DB through `record_sla_round`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.case import (
        AssignSpecialist,
        Decline,
        RequestInfo,
        SlaState,
        Stage,
        SupplyInfo,
        UpdateAck,
    )
    from models.case_state import ReviewRound
    from models.notices import NoticeKind
    from models.roster import AssignmentResult, AssignRequest
    from models.sla import CalendarChange, SlaRoundRecord

from workflows.case.effects import MEMBER_NOTICES, EffectsMixin
from workflows.case.options import (
    DB,
    DELIVERY_SLACK,
    CaseCancelled,
    business_error,
    expect,
    refused_on_business_error,
    wait,
)
from workflows.sla import SlaClock


class ReviewStage(EffectsMixin):
    @property
    def _sla(self) -> SlaClock:
        clock = self.clock
        assert clock is not None
        return clock

    async def _start_round(self, previous_outcome: str) -> None:
        """A new round: the specialist a coordinator chose, or else the roster's choice.

        `previous_outcome` ("declined" or "reassigned") closes the last assignment on the roster.
        """
        await self._fresh_run_for_round(previous_outcome)
        self._enter(Stage.ASSIGNING_SPECIALIST, publish=False)
        assignment = self.s.next_assignment or await self._auto_assign(previous_outcome)
        self.s.next_assignment = None
        self.s.round = ReviewRound(
            assignment_no=assignment.assignment_no, specialist_id=assignment.specialist_id
        )

    async def _fresh_run_for_round(self, previous_outcome: str) -> None:
        """After a long run a round starts a fresh one, once what the case queued has gone out (a
        third opinion may follow consults that left the run no idle moment). Not after a decline:
        the fresh run would take it for a reassignment."""
        info, budget = workflow.info(), self._inp.history_budget
        long = info.get_current_history_length() >= budget or info.is_continue_as_new_suggested()
        if previous_outcome != "reassigned" or not long or not workflow.patched(MEMBER_NOTICES):
            return
        await workflow.wait_condition(lambda: not self.s.intents and workflow.all_handlers_finished())
        await self._continue_as_new()

    async def _run_round(self) -> str | None:
        """The current round to its end: None when the report arrived, else how it ended."""
        review = self._round()
        try:
            delivered = await self._review(review)
        except CaseCancelled:
            self._sla.stop()
            await self._end_round(review, cancelled=True)
            raise
        await self._end_round(review)
        if delivered:
            return None
        self.s.round = None
        return "declined" if review.declined else "reassigned"

    async def _auto_assign(self, previous_outcome: str) -> AssignmentResult:
        try:
            return await self._assign(None, previous_outcome)
        except (ActivityError, ApplicationError) as err:
            business = business_error(err)
            if business is None:
                raise
            self._note("no specialist available", business.message)
            self._publish()
            self._set_attention("no specialist available")
            await self._notify(
                NoticeKind.ATTENTION, f"assign-{self.s.assign_seq}", params={"item": business.message}
            )
            await workflow.wait_condition(
                lambda: self.s.next_assignment is not None or self.s.cancel_reason is not None
            )
            self._check_cancel()
            self._set_attention(None)
            assert self.s.next_assignment is not None
            return self.s.next_assignment

    async def _assign(self, requested: str | None, previous_outcome: str) -> AssignmentResult:
        self.s.assign_seq += 1
        result: AssignmentResult = await workflow.execute_local_activity(
            "assign_specialist",
            AssignRequest(
                case_id=self._inp.case_id,
                icd10=self._inp.icd10,
                assignment_no=self.s.assign_seq,
                requested_id=requested,
                exclude=self.s.excluded,
                treating_institution=self._inp.treating_institution,
                previous_outcome=previous_outcome,
            ),
            result_type=AssignmentResult,
            **DB,
        )
        return result

    def _round_event(self, review: ReviewRound) -> bool:
        return (
            review.report is not None
            or review.declined
            or self.s.next_assignment is not None
            or self.s.cancel_reason is not None
        )

    async def _review(self, review: ReviewRound) -> bool:
        """True when the report arrived, False when the round ended in a reassignment."""
        sla = self._sla
        if not review.started:
            await self._send_records(review)
        while True:
            instant = sla.next_instant()
            timeout = None if instant is None else max(instant - workflow.now(), timedelta(0))
            woke = await wait(
                lambda: (
                    self._round_event(review)
                    or (review.info_request is not None and sla.state is not SlaState.PAUSED)
                    or bool(self.s.calendar_changes)
                    or self._history_full()
                ),
                timeout,
                "SLA escalation",
            )
            self._check_cancel()
            if review.report is not None:
                sla.met()
                self._note("report received", f"from {review.specialist_id}")
                return True
            if review.declined or self.s.next_assignment is not None:
                self._note(
                    f"specialist {'declined' if review.declined else 'reassigned'}", review.specialist_id
                )
                sla.stop()
                return False
            if self.s.calendar_changes:
                await self._apply_calendar_changes()
            elif review.info_request is not None:
                await self._stop_the_clock(review)
            elif woke:
                await self._continue_as_new()
            else:
                await self._escalate(await sla.fired(), review)

    async def _send_records(self, review: ReviewRound) -> None:
        sla = self._sla
        self._enter(Stage.UNDER_REVIEW, "assigned", review.specialist_id, publish=False)
        # The clock starts when the specialist has the complete records: the email that
        # carries them states the deadline, and a delivery delayed by an outage restarts it.
        sent_from = workflow.now()
        await sla.start(sent_from)
        review.started = True
        self._note("records sent to specialist", self._due_text())
        self._publish()
        n, docs = review.assignment_no, self._record_doc_ids()
        records = self._delivered(self._notify(NoticeKind.RECORDS_TO_SPECIALIST, f"{n}", link_doc_ids=docs))
        if workflow.patched(MEMBER_NOTICES):
            # Beside the specialist's email, the member's: a specialist has the case, due when
            # the specialist's email says (one workflow task sends both, and hears back from both).
            member = self._send(self._notice(NoticeKind.SPECIALIST_ASSIGNED, f"{n}"))
            delivered_at, _ = await asyncio.gather(records, member)
        else:
            delivered_at = await records
        # Late is the specialist's email alone: the member's does not move the clock.
        if delivered_at - sent_from > DELIVERY_SLACK:
            await sla.restart(workflow.now())
            self._note("records delivered late: clock restarted", self._due_text())
            self._publish()

    async def _stop_the_clock(self, review: ReviewRound) -> None:
        sla = self._sla
        request = review.info_request
        assert request is not None
        await sla.pause(workflow.now())
        review.info_rounds += 1
        self._note("clock stopped: more information requested", request.reason.value)
        self._publish()
        await self._notify(
            NoticeKind.INFO_REQUESTED, str(review.info_rounds), params={"reason": request.reason.value}
        )
        await workflow.wait_condition(lambda: review.info_supplied is not None or self._round_event(review))
        self._check_cancel()
        supplied = review.info_supplied
        review.info_request, review.info_supplied = None, None
        if supplied is None:
            return  # a report or a reassignment: the review loop takes it from here
        sent_from = workflow.now()
        await sla.resume(sent_from)
        self._note("clock restarted", self._due_text())
        self._publish()
        await self._notify(
            NoticeKind.INFO_SUPPLIED,
            f"{review.assignment_no}-{review.info_rounds}",
            link_doc_ids=[d.doc_id for d in supplied.documents],
        )
        if workflow.now() - sent_from > DELIVERY_SLACK:
            await sla.restart(workflow.now())
            self._note("information delivered late: clock restarted", self._due_text())
            self._publish()

    async def _escalate(self, kind: str, review: ReviewRound) -> None:
        n = review.assignment_no
        if kind == "warning":
            self._note("SLA warning", self._due_text())
            self._publish()
            await self._notify(NoticeKind.SLA_WARNING, f"{n}")
        elif kind == "breach":
            review.reassignment_offered = True
            self._note("SLA breached: reassignment offered", self._due_text())
            self._publish()
            await self._notify(NoticeKind.SLA_BREACH, f"{n}")
        else:
            reminders = self._sla.reminders
            self._note("SLA breach reminder", str(reminders))
            await self._notify(
                NoticeKind.SLA_BREACH_REMINDER, f"{n}-{reminders}", params={"n": str(reminders)}
            )

    async def _apply_calendar_changes(self) -> None:
        """A holiday decree: the deadline again from the clock's record; tell people if it moved."""
        sla = self._sla
        while self.s.calendar_changes:
            change = self.s.calendar_changes.pop(0)
            old_text = self._due_text().removeprefix("due ")
            moved = await sla.recompute(workflow.now())
            if moved is None:
                continue
            new_text = self._due_text().removeprefix("due ")
            self._note("SLA deadline moved", f"{old_text} → {new_text} ({change.decree})")
            self._publish()
            # The old deadline as an instant: each reader sees it in their own zone.
            notice = self._notice(
                NoticeKind.SLA_MOVED, "", params={"old": moved[0].isoformat(), "decree": change.decree}
            ).model_copy(update={"notice_id": f"{self._inp.case_id}:sla-moved:{sla.moves}"})
            self._queue_notice(notice.notice_id, notice)

    async def _end_round(self, review: ReviewRound, *, cancelled: bool = False) -> None:
        """The round's SLA facts to the case DB (the SLA report reads them)."""
        sla = self._sla
        facts = sla.round_facts()
        if facts["received_at"] is None:
            return  # the records never reached this specialist: no clock ran
        ended_at = workflow.now()
        record = SlaRoundRecord.model_validate(
            facts
            | {
                "case_id": self._inp.case_id,
                "program": self._inp.program,
                "assignment_no": review.assignment_no,
                "specialist_id": review.specialist_id,
                "ended_at": ended_at,
                "outcome": sla.outcome(ended_at, review.report is not None, cancelled),
            }
        )
        await workflow.execute_local_activity("record_sla_round", record, **DB)

    # ---- updates and the decree signal --------------------------------------------------

    @workflow.signal
    def calendar_changed(self, change: CalendarChange) -> None:
        clock = self.clock
        # Only a running clock has a deadline to move; a stopped one recomputes on restart.
        if clock is not None and clock.active and self.s.stage is Stage.UNDER_REVIEW:
            self.s.calendar_changes.append(change)

    @workflow.update
    async def assign_specialist(self, req: AssignSpecialist) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_assign(req))
            previous = "declined" if self.s.round is not None and self.s.round.declined else "reassigned"
            with refused_on_business_error():
                result = await self._assign(req.specialist_id, previous)
            self.s.next_assignment = result
            self._note("specialist chosen", f"{result.specialist_id} by {req.by}")
        return self._ack(result.specialist_id)

    @assign_specialist.validator
    def _validate_assign(self, req: AssignSpecialist) -> None:
        expect(req, AssignSpecialist)
        self._require_stage(Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW)
        if self.s.next_assignment is not None:
            raise ValueError("an assignment is already in progress")
        review = self.s.round if self.s.stage is Stage.UNDER_REVIEW else None
        if review is not None and req.specialist_id == review.specialist_id:
            raise ValueError("that specialist is already assigned to this case")
        if review is not None and review.report is not None:
            raise ValueError("the report has already been submitted")

    @workflow.update
    def decline(self, req: Decline) -> UpdateAck:
        review = self._round()
        review.declined = True
        self.s.excluded.append(req.specialist_id)
        self._note("declined", f"{req.specialist_id} by {req.by}")
        return self._ack()

    @decline.validator
    def _validate_decline(self, req: Decline) -> None:
        expect(req, Decline)
        if self._lock.locked():
            raise ValueError("a report or a reassignment is being received; try again in a moment")
        self._require_stage(Stage.UNDER_REVIEW)
        if req.specialist_id != self.specialist_id:
            raise ValueError("that is not the assigned specialist")
        review = self._round()
        if review.report is not None or review.declined or self.s.next_assignment is not None:
            raise ValueError("the case can no longer be declined")

    @workflow.update
    def request_more_info(self, req: RequestInfo) -> UpdateAck:
        self._round().info_request = req
        return self._ack("clock stops")

    @request_more_info.validator
    def _validate_request_info(self, req: RequestInfo) -> None:
        expect(req, RequestInfo)
        self._require_stage(Stage.UNDER_REVIEW)
        review = self._round()
        if review.info_request is not None:
            raise ValueError("more information has already been requested")
        if review.report is not None:
            raise ValueError("the report has already been submitted")

    @workflow.update
    async def supply_info(self, req: SupplyInfo) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_supply_info(req))
            await self._register(list(req.documents))
            for doc in req.documents:
                self.s.records.docs[doc.doc_id] = doc
            self._round().info_supplied = req
        return self._ack("clock restarts")

    @supply_info.validator
    def _validate_supply_info(self, req: SupplyInfo) -> None:
        expect(req, SupplyInfo)
        self._require_stage(Stage.UNDER_REVIEW)
        review = self._round()
        if review.info_request is None or review.info_supplied is not None:
            raise ValueError("no information has been requested")
        cap = self.terms.document_cap
        total = len(self.s.records.docs.keys() | {d.doc_id for d in req.documents})
        if cap is not None and total > cap:
            raise ValueError(f"document cap reached: up to {cap} documents per case")
