"""One Second Medical Opinion case, read top to bottom like the programs' process.

intake → eligibility → records → specialist → review under the SLA → report → consult → close

Coordinators drive it through updates (each with a validator, so bad input never reaches
history); the SLA clock escalates on its own. History carries references and hashes only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypedDict, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities, ChargeRequest, ChargeResult
    from activities.cases import CaseActivities, CaseOutcome
    from activities.eligibility import EligibilityActivities, EligibilityRequest
    from activities.email import EmailActivities, Notice, NoticeKind, NoticeResult
    from activities.roster import AssignmentResult, AssignRequest, RosterActivities
    from activities.storage import CheckDocuments, RegisterDocuments, StorageActivities
    from models import search
    from models.case import (
        AddRecords,
        AssignSpecialist,
        BookConsult,
        Cancel,
        CaseInput,
        CaseResult,
        CaseStatus,
        Close,
        CompleteConsult,
        CompleteRecords,
        Decline,
        DocumentRef,
        EligibilityDecision,
        OverrideEligibility,
        ProgramTerms,
        RecordsChecklist,
        RecordType,
        RequestInfo,
        RequestThirdOpinion,
        SlaState,
        Stage,
        SubmitReport,
        SupplyInfo,
        TimelineEntry,
        UpdateAck,
        UpdateDetails,
    )
    from workflows.sla import SlaClock

T = TypeVar("T")


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


DB: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
}
EMAIL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
    ),
}
BILLING: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
        non_retryable_error_types=["PaymentDeclined"],
    ),
}
# After an activity exhausts its retry policy the case escalates, then tries again later.
ESCALATION_PAUSE = timedelta(minutes=15)
MAX_ESCALATION_PAUSE = timedelta(days=1)
DELIVERY_SLACK = timedelta(minutes=1)
TZ_LABELS = {"Asia/Phnom_Penh": "ICT"}
REVIEW_DONE = "report"
REVIEW_REASSIGN = "reassign"
REVIEW_CANCEL = "cancel"


class CaseCancelled(Exception):
    """Raised inside the run when a coordinator cancelled the case."""


async def _wait(condition: Callable[[], bool], timeout: timedelta | None, summary: str) -> bool:
    """True when the condition held, False when the timer won the race."""
    try:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    except TimeoutError:
        return False
    return True


def _business_error(err: BaseException) -> ApplicationError | None:
    """The non-retryable business answer inside an activity failure, if that is what it is.

    A failed activity arrives as ActivityError(cause=ApplicationError); a failed local
    activity can arrive as the ApplicationError itself.
    """
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause
    return None


@contextlib.contextmanager
def _refused_on_business_error() -> Iterator[None]:
    """Inside an update: an activity's business refusal becomes the update's own refusal."""
    try:
        yield
    except (ActivityError, ApplicationError) as err:
        business = _business_error(err)
        if business is None:
            raise
        raise ApplicationError(business.message, type=business.type, non_retryable=True) from err


def _expect(req: object, model: type) -> None:
    """Validators see raw input first: refuse a missing or mistyped payload outright."""
    if not isinstance(req, model):
        raise ValueError(f"expected a {model.__name__} payload")


@workflow.defn(name="SmoCase")
class SmoCaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._inp = inp
        self._intake_doc_id = inp.intake_doc_id
        self._stage = Stage.INTAKE
        self._terms: ProgramTerms | None = None
        self._sla: SlaClock | None = None
        self._specialty: str | None = None
        self._eligibility: EligibilityDecision | None = None
        self._timeline: list[TimelineEntry] = []
        self._published: dict[str, Any] = {}
        self._attention: str | None = None
        # records
        self._docs: dict[str, DocumentRef] = {}
        self._reserved: set[str] = set()
        self._waived: list[RecordType] = []
        self._records_complete = False
        # specialist
        self._specialist_id: str | None = None
        self._assign_seq = 0
        self._assigning = False
        self._pending_assignment: AssignmentResult | None = None
        self._declined: list[str] = []
        self._previous_specialists: list[str] = []
        self._decline_pending = False
        self._reassignment_offered = False
        # review
        self._info_request: RequestInfo | None = None
        self._info_supplied: SupplyInfo | None = None
        self._info_rounds = 0
        self._supplying = False
        self._receiving_report = False
        self._report: DocumentRef | None = None
        self._reports: list[str] = []
        # consult and close
        self._consults_booked = 0
        self._consults_completed = 0
        self._consult_pending = False
        self._charges = 0
        self._third_opinion = False
        self._charging = 0  # charges in flight: nothing may close or cancel under them
        self._close_requested = False
        self._cancel_reason: str | None = None
        self._override_reason: str | None = None
        self._override_window_open = False

    # ---- the case --------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        self._enter(Stage.INTAKE, "opened", f"by {inp.opened_by}", publish=False)
        registered = await workflow.execute_local_activity_method(CaseActivities.register_case, inp, **DB)
        self._terms, self._specialty = registered.terms, registered.specialty
        self._sla = SlaClock(registered.terms)

        self._enter(Stage.ELIGIBILITY, publish=False)
        if not await self._eligible():
            return await self._finish(Stage.CANCELLED if self._cancel_reason else Stage.INELIGIBLE)

        self._enter(Stage.GATHERING_RECORDS, detail="missing: " + ", ".join(self._missing()))
        try:
            await self._notify(NoticeKind.CASE_OPENED, "1", params={"records": self._records_text()})
            if not await self._gather_records():
                return await self._finish(Stage.LAPSED)

            while True:
                await self._assign_and_review()
                await self._deliver_report()
                if not await self._consult_phase():
                    break
                # A third opinion: a different specialist, a fresh clock, a new report.
                self._previous_specialists.append(self._specialist_id or "")
                self._third_opinion = False
        except CaseCancelled:
            return await self._finish(Stage.CANCELLED)
        return await self._finish(Stage.CLOSED)

    async def _eligible(self) -> bool:
        inp = self._inp
        decision = await workflow.execute_local_activity_method(
            EligibilityActivities.check_eligibility,
            EligibilityRequest(
                case_id=inp.case_id,
                program=inp.program,
                policy_number=inp.policy_number,
                life_assured_ref=inp.life_assured_ref,
                icd10=inp.icd10,
                facts=inp.facts,
                follow_up_of=inp.follow_up_of,
                override_reason=inp.override_reason,
                by=inp.opened_by,
            ),
            **DB,
        )
        self._eligibility = decision
        if decision.eligible:
            self._note("eligible")
            return True
        codes = ", ".join(r.code for r in decision.reasons)
        if inp.override_reason:
            self._note("refusal overridden", f"{codes} by {inp.opened_by}")
            return True
        self._override_window_open = True
        self._enter(Stage.INELIGIBLE, "refused", codes)
        await self._notify(
            NoticeKind.INELIGIBLE, "1", params={"item": "; ".join(r.text for r in decision.reasons)}
        )
        assert self._terms is not None
        # The refusal stands unless a coordinator overrides it within the window.
        await _wait(
            lambda: self._override_reason is not None or self._cancel_reason is not None,
            timedelta(days=self._terms.override_window_days),
            "eligibility override window",
        )
        self._override_window_open = False
        if self._override_reason is None:
            return False
        self._note("refusal overridden", codes)
        return True

    async def _gather_records(self) -> bool:
        terms = self._require_terms()
        reminders = 0
        while True:
            done = await _wait(
                lambda: self._records_complete or self._cancel_reason is not None,
                timedelta(days=terms.reminder_every_days),
                "records reminder",
            )
            self._check_cancel()
            if done:
                return True
            if reminders >= terms.reminders_before_lapse:
                return False
            reminders += 1
            self._note("records reminder", f"{reminders} of {terms.reminders_before_lapse}")
            await self._notify(
                NoticeKind.RECORDS_REMINDER,
                str(reminders),
                params={"records": self._records_text(), "n": str(reminders)},
            )

    async def _assign_and_review(self) -> None:
        while True:
            self._enter(Stage.ASSIGNING_SPECIALIST, publish=False)
            assignment = self._pending_assignment or await self._auto_assign()
            self._pending_assignment = None
            self._specialist_id = assignment.specialist_id
            self._decline_pending = False
            self._reassignment_offered = False
            self._report = None
            outcome = await self._review(assignment)
            self._check_cancel()
            if outcome == REVIEW_DONE:
                return

    async def _auto_assign(self) -> AssignmentResult:
        try:
            return await self._assign(None)
        except (ActivityError, ApplicationError) as err:
            business = _business_error(err)
            if business is None:
                raise
            self._note("no specialist available", business.message)
            self._publish()
            self._set_attention("no specialist available")
            await self._notify(
                NoticeKind.ATTENTION, f"assign-{self._assign_seq}", params={"item": business.message}
            )
            await workflow.wait_condition(
                lambda: self._pending_assignment is not None or self._cancel_reason is not None
            )
            self._check_cancel()
            self._set_attention(None)
            assert self._pending_assignment is not None
            return self._pending_assignment

    async def _assign(self, requested: str | None) -> AssignmentResult:
        self._assign_seq += 1
        self._assigning = True
        try:
            return await workflow.execute_local_activity_method(
                RosterActivities.assign_specialist,
                AssignRequest(
                    case_id=self._inp.case_id,
                    icd10=self._inp.icd10,
                    assignment_no=self._assign_seq,
                    requested_id=requested,
                    exclude=self._declined + self._previous_specialists,
                    treating_institution=self._inp.treating_institution,
                    previous_outcome="declined" if self._decline_pending else "reassigned",
                ),
                **DB,
            )
        finally:
            self._assigning = False

    async def _review(self, assignment: AssignmentResult) -> str:
        sla = self._require_sla()
        self._enter(Stage.UNDER_REVIEW, "assigned", assignment.specialist_id, publish=False)
        # The clock starts when the specialist has the complete records: the email that
        # carries them states the deadline, and a delivery delayed by an outage restarts it.
        sent_from = workflow.now()
        await sla.start(sent_from)
        self._note("records sent to specialist", self._due_text())
        self._publish()
        await self._notify(
            NoticeKind.RECORDS_TO_SPECIALIST,
            f"{assignment.assignment_no}",
            link_doc_ids=self._record_doc_ids(),
        )
        if workflow.now() - sent_from > DELIVERY_SLACK:
            await sla.start(workflow.now())
            self._note("records delivered late: clock restarted", self._due_text())
            self._publish()
        n = assignment.assignment_no
        while True:
            instant = sla.next_instant()
            timeout = None if instant is None else max(instant - workflow.now(), timedelta(0))
            interrupted = await _wait(
                lambda: (
                    self._report is not None
                    or self._cancel_reason is not None
                    or self._decline_pending
                    or self._pending_assignment is not None
                    or (self._info_request is not None and sla.state is not SlaState.PAUSED)
                ),
                timeout,
                "SLA escalation",
            )
            self._check_cancel()
            if self._report is not None:
                sla.met()
                self._note("report received", f"from {assignment.specialist_id}")
                return REVIEW_DONE
            if self._decline_pending or self._pending_assignment is not None:
                why = "declined" if self._decline_pending else "reassigned"
                self._note(f"specialist {why}", assignment.specialist_id)
                sla.state = SlaState.NOT_STARTED
                return REVIEW_REASSIGN
            if interrupted:
                await self._stop_the_clock(n)
                continue
            kind = await sla.fired()
            await self._escalate(kind, n)

    async def _stop_the_clock(self, assignment_no: int) -> None:
        sla = self._require_sla()
        request = self._info_request
        assert request is not None
        await sla.pause(workflow.now())
        self._info_rounds += 1
        self._note("clock stopped: more information requested", request.reason.value)
        self._publish()
        await self._notify(
            NoticeKind.INFO_REQUESTED, str(self._info_rounds), params={"item": request.reason.value}
        )
        await workflow.wait_condition(
            lambda: (
                self._info_supplied is not None
                or self._report is not None
                or self._cancel_reason is not None
                or self._decline_pending
                or self._pending_assignment is not None
            )
        )
        self._check_cancel()
        supplied = self._info_supplied
        self._info_request, self._info_supplied = None, None
        if supplied is None:
            return  # a report or a reassignment: the review loop takes it from here
        sent_from = workflow.now()
        await sla.resume(sent_from)
        self._note("clock restarted", self._due_text())
        self._publish()
        await self._notify(
            NoticeKind.INFO_SUPPLIED,
            f"{assignment_no}-{self._info_rounds}",
            link_doc_ids=[d.doc_id for d in supplied.documents],
        )
        if workflow.now() - sent_from > DELIVERY_SLACK:
            await sla.resume(workflow.now())
            self._note("information delivered late: clock restarted", self._due_text())
            self._publish()

    async def _escalate(self, kind: str, assignment_no: int) -> None:
        sla = self._require_sla()
        if kind == "warning":
            self._note("SLA warning", self._due_text())
            self._publish()
            await self._notify(NoticeKind.SLA_WARNING, f"{assignment_no}")
        elif kind == "breach":
            self._reassignment_offered = True
            self._note("SLA breached: reassignment offered", self._due_text())
            self._publish()
            await self._notify(NoticeKind.SLA_BREACH, f"{assignment_no}")
        else:
            self._note("SLA breach reminder", str(sla.reminders))
            await self._notify(
                NoticeKind.SLA_BREACH_REMINDER,
                f"{assignment_no}-{sla.reminders}",
                params={"n": str(sla.reminders)},
            )

    async def _deliver_report(self) -> None:
        report = self._report
        assert report is not None
        terms = self._require_terms()
        self._reports.append(report.doc_id)
        consults = (
            "telephone consultations with the specialist"
            if terms.free_consults is None
            else f"{terms.free_consults} free telephone consultation(s); further ones are billed"
        )
        await self._notify(
            NoticeKind.REPORT_DELIVERED,
            str(len(self._reports)),
            link_doc_ids=[report.doc_id],
            params={"item": consults, "notice": terms.report_notice},
        )
        self._enter(Stage.REPORT_DELIVERED, "report delivered", f"report {len(self._reports)}")

    async def _consult_phase(self) -> bool:
        """True when a third opinion was requested, False when the case should close."""
        terms = self._require_terms()
        closes_at = workflow.now() + timedelta(days=terms.consult_window_days)
        await _wait(
            lambda: self._close_requested or self._cancel_reason is not None or self._third_opinion,
            closes_at - workflow.now(),
            "consult window",
        )
        self._check_cancel()
        if self._third_opinion:
            return True
        # The window has passed or a coordinator closed: let a booked consult and any charge
        # in flight (a third opinion being paid for) finish first.
        await workflow.wait_condition(
            lambda: (not self._consult_pending and not self._charging) or self._cancel_reason is not None
        )
        self._check_cancel()
        return self._third_opinion

    async def _finish(self, stage: Stage) -> CaseResult:
        kind = {
            Stage.CLOSED: NoticeKind.CASE_CLOSED,
            Stage.CANCELLED: NoticeKind.CASE_CANCELLED,
            Stage.LAPSED: NoticeKind.RECORDS_LAPSED,
        }.get(stage)
        self._sla_done()
        self._enter(stage, detail=self._cancel_reason or "")
        params = {}
        if stage is Stage.CLOSED and self._require_terms().follow_up_allowed:
            params["item"] = " It stays on file: ask us for a follow-up at any time."
        outcome = workflow.execute_local_activity_method(
            CaseActivities.record_outcome,
            CaseOutcome(
                case_id=self._inp.case_id,
                stage=stage,
                eligible=self._eligibility.eligible if self._eligibility else None,
            ),
            **DB,
        )
        if kind is not None:
            await asyncio.gather(outcome, self._notify(kind, "1", params=params))
        else:
            await outcome
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseResult(
            case_id=self._inp.case_id, stage=stage, reports=len(self._reports), charges=self._charges
        )

    # ---- updates: validators refuse bad input before it reaches history ---------------

    @workflow.update
    async def add_record(self, req: AddRecords) -> UpdateAck:
        late = self._stage is not Stage.GATHERING_RECORDS
        new = list({d.doc_id: d for d in req.documents if d.doc_id not in self._docs}.values())
        # Reserved while the store is checked, so a concurrent update counts them against the cap.
        self._reserved |= {d.doc_id for d in new}
        try:
            await self._register(new)
        finally:
            self._reserved -= {d.doc_id for d in new}
        # A concurrent update may have added some of these while the store was checked.
        new = [d for d in new if d.doc_id not in self._docs]
        for doc in new:
            self._docs[doc.doc_id] = doc
        self._note("records added", f"{len(new)} by {req.by}")
        if late and new:
            await self._notify(
                NoticeKind.TEAM_NOTIFIED,
                f"late-docs-{len(self._docs)}",
                params={"item": f"{len(new)} document(s) added after submission"},
            )
        return self._ack("missing: " + (", ".join(self._missing()) or "none"))

    @add_record.validator
    def _validate_add_record(self, req: AddRecords) -> None:
        _expect(req, AddRecords)
        terms = self._require_terms_for("add records")
        open_stages = {Stage.GATHERING_RECORDS}
        if terms.late_documents_allowed:
            open_stages |= {
                Stage.ASSIGNING_SPECIALIST,
                Stage.UNDER_REVIEW,
                Stage.REPORT_DELIVERED,
                Stage.CONSULT,
            }
        if self._stage not in open_stages:
            raise ValueError(f"records are not accepted in stage {self._stage.value}")
        if any(d.record_type is RecordType.SMO_REPORT for d in req.documents):
            raise ValueError("an SMO report is submitted with `smo report submit`, not as a record")
        known = self._docs.keys() | self._reserved
        total = len(known | {d.doc_id for d in req.documents})
        if terms.document_cap is not None and total > terms.document_cap:
            raise ValueError(
                f"document cap reached: program {terms.name} accepts up to {terms.document_cap}"
                f" documents per case; this would make {total}"
            )

    @workflow.update
    def mark_records_complete(self, req: CompleteRecords) -> UpdateAck:
        self._waived = list(req.waive)
        self._records_complete = True
        detail = f"by {req.by}" + (f", waived {', '.join(w.value for w in req.waive)}" if req.waive else "")
        self._note("records complete", detail)
        return self._ack()

    @mark_records_complete.validator
    def _validate_complete(self, req: CompleteRecords) -> None:
        _expect(req, CompleteRecords)
        self._require_stage(Stage.GATHERING_RECORDS)
        if self._reserved:
            raise ValueError("records are still being added; try again in a moment")
        if not self._docs:
            raise ValueError("no records have been added yet")
        terms = self._require_terms()
        not_required = [w.value for w in req.waive if w not in terms.required_records]
        if not_required:
            raise ValueError(f"only required record types can be waived, not {', '.join(not_required)}")
        if req.waive and not req.waive_reason:
            raise ValueError("waiving a required record needs a reason")
        missing = [m for m in self._missing() if m not in {w.value for w in req.waive}]
        if missing:
            raise ValueError(f"records missing: {', '.join(missing)} (add them, or waive with a reason)")

    @workflow.update
    async def assign_specialist(self, req: AssignSpecialist) -> UpdateAck:
        with _refused_on_business_error():
            result = await self._assign(req.specialist_id)
        self._pending_assignment = result
        self._note("specialist chosen", f"{result.specialist_id} by {req.by}")
        return self._ack(result.specialist_id)

    @assign_specialist.validator
    def _validate_assign(self, req: AssignSpecialist) -> None:
        _expect(req, AssignSpecialist)
        if self._receiving_report:
            raise ValueError("a report is being received; it can no longer be reassigned")
        self._require_stage(Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW)
        if self._assigning or self._pending_assignment is not None:
            raise ValueError("an assignment is already in progress")
        if req.specialist_id == self._specialist_id and self._stage is Stage.UNDER_REVIEW:
            raise ValueError(f"{req.specialist_id} is already assigned to this case")
        if self._report is not None:
            raise ValueError("the report has already been submitted")

    @workflow.update
    def decline(self, req: Decline) -> UpdateAck:
        self._declined.append(req.specialist_id)
        self._decline_pending = True
        self._note("declined", f"{req.specialist_id} by {req.by}")
        return self._ack()

    @decline.validator
    def _validate_decline(self, req: Decline) -> None:
        _expect(req, Decline)
        if self._receiving_report:
            raise ValueError("a report is being received; it can no longer be declined")
        self._require_stage(Stage.UNDER_REVIEW)
        if req.specialist_id != self._specialist_id:
            raise ValueError(f"{req.specialist_id} is not the assigned specialist")
        if self._report is not None or self._decline_pending:
            raise ValueError("the case can no longer be declined")

    @workflow.update
    def request_more_info(self, req: RequestInfo) -> UpdateAck:
        self._info_request = req
        return self._ack("clock stops")

    @request_more_info.validator
    def _validate_request_info(self, req: RequestInfo) -> None:
        _expect(req, RequestInfo)
        self._require_stage(Stage.UNDER_REVIEW)
        if self._info_request is not None:
            raise ValueError("more information has already been requested")
        if self._report is not None:
            raise ValueError("the report has already been submitted")

    @workflow.update
    async def supply_info(self, req: SupplyInfo) -> UpdateAck:
        self._supplying = True
        try:
            await self._register(list(req.documents))
        finally:
            self._supplying = False
        for doc in req.documents:
            self._docs[doc.doc_id] = doc
        self._info_supplied = req
        return self._ack("clock restarts")

    @supply_info.validator
    def _validate_supply_info(self, req: SupplyInfo) -> None:
        _expect(req, SupplyInfo)
        self._require_stage(Stage.UNDER_REVIEW)
        if self._info_request is None or self._info_supplied is not None or self._supplying:
            raise ValueError("no information has been requested")
        terms = self._require_terms()
        total = len(self._docs.keys() | {d.doc_id for d in req.documents})
        if terms.document_cap is not None and total > terms.document_cap:
            raise ValueError(f"document cap reached: up to {terms.document_cap} documents per case")

    @workflow.update
    async def submit_report(self, req: SubmitReport) -> UpdateAck:
        self._receiving_report = True
        try:
            await self._register([req.document])
        finally:
            self._receiving_report = False
        if req.specialist_id != self._specialist_id or self._stage is not Stage.UNDER_REVIEW:
            raise ApplicationError("the case moved on while the report was received", non_retryable=True)
        self._report = req.document
        return self._ack("report accepted")

    @submit_report.validator
    def _validate_report(self, req: SubmitReport) -> None:
        _expect(req, SubmitReport)
        self._require_stage(Stage.UNDER_REVIEW)
        if self._receiving_report:
            raise ValueError("a report is already being received")
        if self._assigning or self._pending_assignment is not None or self._decline_pending:
            raise ValueError("the case is being reassigned")
        if req.specialist_id != self._specialist_id:
            raise ValueError(f"{req.specialist_id} is not the assigned specialist")
        if req.document.record_type is not RecordType.SMO_REPORT:
            raise ValueError("the document must be of type smo_report")
        if self._report is not None:
            raise ValueError("a report has already been submitted")

    @workflow.update
    async def book_consult(self, req: BookConsult) -> UpdateAck:
        terms = self._require_terms()
        self._consult_pending = True
        n = self._consults_booked + 1
        free = terms.free_consults is None or self._consults_booked < terms.free_consults
        try:
            if not free:
                await self._charge("consult", f"consult:{n}", terms.consult_price_cents)
        except BaseException:
            self._consult_pending = False
            raise
        self._consults_booked = n
        if self._stage is not Stage.CONSULT:
            self._enter(Stage.CONSULT)
        self._note("consult booked", f"#{n} {'free' if free else 'billed'} by {req.by}")
        slot = req.slot.strftime("%Y-%m-%d %H:%M %z")
        await self._notify(NoticeKind.CONSULT_BOOKED, str(n), params={"slot": slot, "n": str(n)})
        return self._ack("free" if free else "billed")

    @book_consult.validator
    def _validate_book(self, req: BookConsult) -> None:
        _expect(req, BookConsult)
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self._consult_pending:
            raise ValueError("a consult is already booked; complete it first")
        if self._close_requested or self._third_opinion or self._charging:
            raise ValueError("the case is moving on; no more bookings")
        if req.slot <= workflow.now():
            raise ValueError("the consult slot must be in the future")

    @workflow.update
    def complete_consult(self, req: CompleteConsult) -> UpdateAck:
        self._consult_pending = False
        self._consults_completed += 1
        self._note("consult completed", f"#{self._consults_completed} by {req.by}")
        return self._ack()

    @complete_consult.validator
    def _validate_complete_consult(self, req: CompleteConsult) -> None:
        _expect(req, CompleteConsult)
        self._require_stage(Stage.CONSULT)
        if not self._consult_pending:
            raise ValueError("no consult is booked")

    @workflow.update
    async def request_third_opinion(self, req: RequestThirdOpinion) -> UpdateAck:
        terms = self._require_terms()
        assert terms.third_opinion_price_cents is not None
        # While the charge runs (`_charging`), bookings, closing and cancelling are refused.
        await self._charge(
            "third_opinion", f"third-opinion:{len(self._reports)}", terms.third_opinion_price_cents
        )
        self._third_opinion = True
        self._note("third opinion requested", f"by {req.by}")
        return self._ack("billed")

    @request_third_opinion.validator
    def _validate_third_opinion(self, req: RequestThirdOpinion) -> None:
        _expect(req, RequestThirdOpinion)
        terms = self._require_terms()
        if terms.third_opinion_price_cents is None:
            raise ValueError(f"program {terms.name} offers no third opinion")
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self._consult_pending:
            raise ValueError("finish the booked consult first")
        if self._close_requested or self._third_opinion or self._charging:
            raise ValueError("the case is already moving on")

    @workflow.update
    def close(self, req: Close) -> UpdateAck:
        self._close_requested = True
        self._note("close requested", f"by {req.by}")
        return self._ack()

    @close.validator
    def _validate_close(self, req: Close) -> None:
        _expect(req, Close)
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self._consult_pending:
            raise ValueError("a consult is booked; complete it before closing")
        if self._close_requested or self._third_opinion or self._charging:
            raise ValueError("the case is already moving on")

    @workflow.update
    def cancel(self, req: Cancel) -> UpdateAck:
        self._cancel_reason = req.reason
        self._note("cancel requested", f"by {req.by}")
        return self._ack()

    @cancel.validator
    def _validate_cancel(self, req: Cancel) -> None:
        _expect(req, Cancel)
        if self._charging:
            raise ValueError("a charge to the customer is in progress; cancel once it has finished")
        if self._stage.terminal and self._stage is not Stage.INELIGIBLE:
            raise ValueError(f"the case is already {self._stage.value}")
        if self._cancel_reason is not None:
            raise ValueError("the case is already being cancelled")

    @workflow.update
    def override_eligibility(self, req: OverrideEligibility) -> UpdateAck:
        self._override_reason = req.reason
        return self._ack()

    @override_eligibility.validator
    def _validate_override(self, req: OverrideEligibility) -> None:
        _expect(req, OverrideEligibility)
        self._require_stage(Stage.INELIGIBLE)
        if not self._override_window_open:
            raise ValueError("the override window has closed")
        if self._override_reason is not None or self._cancel_reason is not None:
            raise ValueError("the refusal has already been acted on")

    @workflow.update
    async def update_details(self, req: UpdateDetails) -> UpdateAck:
        with _refused_on_business_error():
            await workflow.execute_local_activity_method(
                StorageActivities.check_documents, CheckDocuments(doc_ids=[req.intake_doc_id]), **DB
            )
        self._intake_doc_id = req.intake_doc_id
        self._note("member details updated", f"by {req.by}")
        await self._notify(
            NoticeKind.TEAM_NOTIFIED,
            f"details-{req.intake_doc_id[:12]}",
            params={"item": "the member updated their details"},
        )
        return self._ack()

    @update_details.validator
    def _validate_details(self, req: UpdateDetails) -> None:
        _expect(req, UpdateDetails)
        if self._stage.terminal:
            raise ValueError(f"the case is {self._stage.value}")

    @workflow.query
    def status(self) -> CaseStatus:
        terms = self._terms
        free_left = 0
        if terms is not None:
            free_left = (
                999 if terms.free_consults is None else max(terms.free_consults - self._consults_booked, 0)
            )
        return CaseStatus(
            case_id=self._inp.case_id,
            program=self._inp.program,
            intake_doc_id=self._intake_doc_id,
            stage=self._stage,
            specialist_id=self._specialist_id,
            specialty=self._specialty,
            records=self._checklist(),
            sla=self._sla.view() if self._sla else SlaClock.empty_view(),
            consults_booked=self._consults_booked,
            consults_completed=self._consults_completed,
            free_consults_left=free_left,
            consult_pending=self._consult_pending,
            reassignment_offered=self._reassignment_offered,
            eligibility=self._eligibility,
            report_doc_ids=self._reports,
            follow_up_of=self._inp.follow_up_of,
            follow_up_allowed=bool(terms and terms.follow_up_allowed),
            timeline=self._timeline,
        )

    # ---- helpers -----------------------------------------------------------------------

    async def _notify(
        self,
        kind: NoticeKind,
        suffix: str,
        *,
        link_doc_ids: list[str] | None = None,
        params: dict[str, str] | None = None,
    ) -> NoticeResult | None:
        """Send a notice; a permanent refusal is recorded for a person to fix, not retried."""
        sla = self._sla
        notice = Notice(
            notice_id=f"{self._inp.case_id}:{kind.value}:{suffix}",
            case_id=self._inp.case_id,
            kind=kind,
            intake_doc_id=self._intake_doc_id,
            specialist_id=self._specialist_id,
            link_doc_ids=link_doc_ids or [],
            due_at=sla.due_at if sla else None,
            params=params or {},
        )
        try:
            return await self._reliably(
                f"email {kind.value}",
                lambda: workflow.execute_activity_method(EmailActivities.send_notice, notice, **EMAIL),
            )
        except (ActivityError, ApplicationError) as err:
            business = _business_error(err)
            if business is None:
                raise
            # The type only: a mail server's rejection text can quote the address.
            self._note("notice failed", f"{kind.value}: {business.type}")
            self._set_attention(f"email {kind.value} rejected")
            return None

    async def _charge(self, kind: str, key_suffix: str, amount_cents: int) -> ChargeResult:
        terms = self._require_terms()
        key = f"{self._inp.case_id}:{key_suffix}"
        req = ChargeRequest(
            idempotency_key=key,
            case_id=self._inp.case_id,
            kind=kind,
            amount_cents=amount_cents,
            currency=terms.currency,
        )
        self._charging += 1
        try:
            with _refused_on_business_error():
                result = await self._reliably(
                    f"billing {kind}",
                    lambda: workflow.execute_activity_method(
                        BillingActivities.charge_customer, req, **BILLING
                    ),
                )
        finally:
            self._charging -= 1
        self._charges += 1
        amount = f"{amount_cents / 100:.2f} {terms.currency}"
        self._note("charged", f"{kind} {amount}")
        await self._notify(
            NoticeKind.RECEIPT,
            key_suffix,
            params={"amount": amount, "item": kind.replace("_", " "), "reference": str(result.charge_id)},
        )
        return result

    async def _reliably(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run an activity; once its retry policy is spent, escalate and try again later."""
        rounds = 0
        while True:
            try:
                result = await call()
            except ActivityError as err:
                if _business_error(err) is not None:
                    raise
                rounds += 1
                self._note("escalated", f"{what} failing after retries (round {rounds})")
                self._set_attention(f"{what} failing")
                # Backing off (15 min, 30 min, 1 h ... 1 day) keeps a long outage from
                # flooding the case's history while a supervisor sees the attention flag.
                await workflow.sleep(min(ESCALATION_PAUSE * 2 ** (rounds - 1), MAX_ESCALATION_PAUSE))
                continue
            if self._attention == f"{what} failing":
                self._set_attention(None)
            return result

    async def _register(self, documents: list[DocumentRef]) -> None:
        """Check the documents are in the store and record them against the case."""
        if not documents:
            return
        with _refused_on_business_error():
            await workflow.execute_local_activity_method(
                StorageActivities.register_documents,
                RegisterDocuments(case_id=self._inp.case_id, documents=documents),
                **DB,
            )

    def _check_cancel(self) -> None:
        if self._cancel_reason is not None:
            raise CaseCancelled()

    def _require_terms(self) -> ProgramTerms:
        assert self._terms is not None
        return self._terms

    def _require_sla(self) -> SlaClock:
        assert self._sla is not None
        return self._sla

    def _require_terms_for(self, action: str) -> ProgramTerms:
        if self._terms is None:
            raise ValueError(f"the case is still at intake; {action} once it is gathering records")
        return self._terms

    def _require_stage(self, *stages: Stage) -> None:
        if self._stage not in stages:
            allowed = " or ".join(s.value for s in stages)
            raise ValueError(f"the case is {self._stage.value}; this needs {allowed}")

    def _checklist(self) -> RecordsChecklist:
        received: dict[RecordType, int] = {}
        for doc in self._docs.values():
            received[doc.record_type] = received.get(doc.record_type, 0) + 1
        return RecordsChecklist(
            required=self._terms.required_records if self._terms else [],
            received=received,
            waived=self._waived,
            documents=len(self._docs),
            cap=self._terms.document_cap if self._terms else None,
        )

    def _missing(self) -> list[str]:
        return [m.value for m in self._checklist().missing]

    def _records_text(self) -> str:
        return ", ".join(m.replace("_", " ") for m in self._missing()) or "nothing more"

    def _record_doc_ids(self) -> list[str]:
        return [d for d, ref in self._docs.items() if ref.record_type is not RecordType.SMO_REPORT]

    def _ack(self, detail: str = "") -> UpdateAck:
        return UpdateAck(stage=self._stage, detail=detail)

    def _note(self, event: str, detail: str = "") -> None:
        self._timeline.append(TimelineEntry(at=workflow.now(), stage=self._stage, event=event, detail=detail))

    def _enter(
        self, stage: Stage, event: str | None = None, detail: str = "", *, publish: bool = True
    ) -> None:
        self._stage = stage
        self._note(event or stage.value.lower().replace("_", " "), detail)
        # workflow.logger is replay-aware: a replayed transition logs nothing twice.
        workflow.logger.info("case entered %s", stage.value, extra={"stage": stage.value})
        # Stages that pass within one workflow task skip the upsert: each is a history event.
        if publish:
            self._publish()

    def _set_attention(self, what: str | None) -> None:
        self._attention = what
        self._publish()

    def _sla_done(self) -> None:
        if self._sla and self._sla.state not in (SlaState.MET, SlaState.NOT_STARTED):
            self._sla.state = SlaState.NOT_STARTED

    def _due_text(self) -> str:
        sla = self._sla
        if sla is None or sla.due_at is None:
            return ""
        label = TZ_LABELS.get(sla.rule.timezone, sla.rule.timezone)
        return f"due {sla.due_at.strftime('%Y-%m-%d %H:%M')} {label}"

    def _details_line(self) -> str:
        stage = self._stage.value.replace("_", " ").capitalize()
        sla = self._sla
        if self._stage is Stage.UNDER_REVIEW and sla is not None:
            if sla.state is SlaState.PAUSED:
                return f"{stage}, clock stopped ({sla.elapsed} working days used)"
            if sla.state is SlaState.BREACHED:
                return f"{stage}, BREACHED ({self._due_text()})"
            return f"{stage}, {self._due_text()}"
        if self._attention:
            return f"{stage}, attention: {self._attention}"
        return stage

    def _publish(self) -> None:
        """Mirror the case into search attributes (only what changed) and the UI details."""
        sla = self._sla
        values: dict[str, Any] = {
            search.STAGE.name: self._stage.value,
            search.PROGRAM.name: self._inp.program,
            search.SPECIALTY.name: self._specialty,
            search.SLA_STATE.name: sla.state.value if sla else SlaState.NOT_STARTED.value,
            search.SLA_DEADLINE.name: sla.due_at if sla and sla.state is not SlaState.NOT_STARTED else None,
            search.ATTENTION.name: self._attention,
        }
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in search.ALL_KEYS:
            value = values[key.name]
            if key.name not in self._published and value is None:
                continue
            if key.name in self._published and self._published[key.name] == value:
                continue
            self._published[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details_line())
