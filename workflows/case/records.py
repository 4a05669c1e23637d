"""Records: the checklist, reminders and lapse, and the updates that add to it.

Adding documents checks them against the store (a local activity) under the case's lock;
a notice it causes is queued, so the update answers without waiting for mail. The member is
told when the records are complete (queued too: the case goes on to the specialist meanwhile).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import (
        AddRecords,
        CompleteRecords,
        RecordType,
        Stage,
        UpdateAck,
        UpdateDetails,
    )
    from models.notices import NoticeKind
    from models.records_check import unmet

from workflows.case.effects import MEMBER_NOTICES
from workflows.case.options import expect, wait
from workflows.case.requests import LATE_STAGES, RequestsStage

# Where the member's questions may still change: until a specialist is being chosen for them.
QUESTIONS_OPEN = frozenset({Stage.INTAKE, Stage.ELIGIBILITY, Stage.GATHERING_RECORDS})


class RecordsStage(RequestsStage):
    def _records_text(self) -> str:
        """The record types still missing, as codes (`biopsy_report,imaging`): the notice names
        them in the member's language."""
        return ",".join(self._missing())

    async def _gather_records(self) -> bool:
        """True when the records are complete, False when the case lapsed without them."""
        terms, records = self.terms, self.s.records
        while True:
            if records.next_reminder_at is None:
                records.next_reminder_at = workflow.now() + timedelta(days=terms.reminder_every_days)
            # A provider's or a translator's deadline may come first (workflows/case/requests.py).
            chase_at = self._next_chase()
            until = records.next_reminder_at if chase_at is None else min(chase_at, records.next_reminder_at)
            woke = await wait(
                lambda at=chase_at: self._gathering_woke(at),  # type: ignore[misc]
                max(until - workflow.now(), timedelta(0)),
                "records reminder",
            )
            self._check_cancel()
            if records.complete:
                self._end_open_requests()
                if workflow.patched(MEMBER_NOTICES):
                    notice = self._notice(NoticeKind.RECORDS_COMPLETE, "1")
                    self._queue_notice(notice.notice_id, notice)
                return True
            if woke:
                if self._history_full():
                    # A member uploading one file at a time: a fresh run keeps the history short.
                    await self._continue_as_new()
                continue
            if chase_at is not None and workflow.now() >= chase_at:
                await self._chase()
                if workflow.now() < records.next_reminder_at:
                    continue
            records.next_reminder_at = None
            if self._gathering_waits():
                continue  # the desk is gathering for the member: no reminder, no lapse meanwhile
            if records.reminders >= terms.reminders_before_lapse:
                return False
            records.reminders += 1
            n = records.reminders
            self._note("records reminder", f"{n} of {terms.reminders_before_lapse}")
            await self._notify(
                NoticeKind.RECORDS_REMINDER,
                str(n),
                params={"records": self._records_text(), "n": str(n)},
            )

    def _gathering_woke(self, chase_at: datetime | None) -> bool:
        """The records are in, the case is cancelled or long, or a new deadline comes sooner."""
        return (
            self.s.records.complete
            or self.s.cancel_reason is not None
            or self._history_full()
            or self._next_chase() != chase_at
        )

    # ---- updates ------------------------------------------------------------------------

    @workflow.update
    async def add_record(self, req: AddRecords) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_add_record(req))
            late = self.s.stage is not Stage.GATHERING_RECORDS
            docs = self.s.records.docs
            new = list({d.doc_id: d for d in req.documents if d.doc_id not in docs}.values())
            await self._register(new)
            for doc in new:
                docs[doc.doc_id] = doc
            if req.request_no is not None:
                self._provider_upload(req.request_no, new)
            self._link_translations(new)
            await self._open_translations(new)
            self._note("records added", f"{len(new)} by {req.by}")
            if late and new:
                notice = self._notice(
                    NoticeKind.TEAM_NOTIFIED,
                    f"late-docs-{len(docs)}",
                    params={"item": f"{len(new)} document(s) added after submission"},
                )
                self._queue_notice(notice.notice_id, notice)
        return self._ack("missing: " + (", ".join(self._missing()) or "none"))

    @add_record.validator
    def _validate_add_record(self, req: AddRecords) -> None:
        expect(req, AddRecords)
        terms = self._require_terms_for("add records")
        open_stages = {Stage.GATHERING_RECORDS} | (LATE_STAGES if terms.late_documents_allowed else set())
        if self.s.stage not in open_stages:
            raise ValueError(f"records are not accepted in stage {self.s.stage.value}")
        if any(d.record_type is RecordType.SMO_REPORT for d in req.documents):
            raise ValueError("an SMO report is submitted with `smo report submit`, not as a record")
        if any(d.dated is not None and d.dated > self._today() for d in req.documents):
            raise ValueError("a document cannot be dated in the future")
        if req.request_no is not None:
            self._check_provider_upload(req.request_no, req.documents)
        self._check_translations(req.documents)
        total = len(self.s.records.docs.keys() | {d.doc_id for d in req.documents})
        if terms.document_cap is not None and total > terms.document_cap:
            raise ValueError(
                f"document cap reached: program {terms.name} accepts up to {terms.document_cap}"
                f" documents per case; this would make {total}"
            )

    @workflow.update
    def mark_records_complete(self, req: CompleteRecords) -> UpdateAck:
        self.s.records.waived = list(req.waive)
        self.s.records.waived_checks = list(req.waive_checks)
        self.s.records.complete = True
        waived = [w.value for w in req.waive] + list(req.waive_checks)
        detail = f"by {req.by}" + (f", waived {', '.join(waived)}" if waived else "")
        self._note("records complete", detail)
        return self._ack()

    @mark_records_complete.validator
    def _validate_complete(self, req: CompleteRecords) -> None:
        expect(req, CompleteRecords)
        self._require_stage(Stage.GATHERING_RECORDS)
        if self._lock.locked():
            raise ValueError("records are still being added; try again in a moment")
        if not self.s.records.docs:
            raise ValueError("no records have been added yet")
        not_required = [w.value for w in req.waive if w not in self.terms.required_records]
        if not_required:
            raise ValueError(f"only required record types can be waived, not {', '.join(not_required)}")
        if (req.waive or req.waive_checks) and not req.waive_reason:
            raise ValueError("waiving a required record or a check needs a reason")
        lacking = self._unmet()
        not_unmet = [c for c in req.waive_checks if c not in lacking]
        if not_unmet:
            raise ValueError(f"nothing to waive: {', '.join(not_unmet)} is not an unmet item")
        left = unmet(self.s.records.docs.values(), self.terms, self._today(), req.waive, req.waive_checks)
        if left:
            raise ValueError(f"records missing: {', '.join(left)} (add them, or waive with a reason)")

    def _unmet(self) -> list[str]:
        """The completeness check's unmet items now (models/records_check.py)."""
        if self.s.terms is None:
            return []
        r = self.s.records
        return unmet(r.docs.values(), self.terms, self._today(), r.waived, r.waived_checks)

    @workflow.update
    async def update_details(self, req: UpdateDetails) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_details(req))
            await self._check_stored(req.intake_doc_id)
            self.s.intake_doc_id = req.intake_doc_id
            if req.questions is not None:  # the member's questions, rewritten before assignment
                self.s.questions = req.questions
            self._note("member details updated", f"by {req.by}")
            notice = self._notice(
                NoticeKind.TEAM_NOTIFIED,
                f"details-{req.intake_doc_id[:12]}",
                params={"item": "the member updated their details"},
            )
            self._queue_notice(notice.notice_id, notice)
        return self._ack()

    @update_details.validator
    def _validate_details(self, req: UpdateDetails) -> None:
        expect(req, UpdateDetails)
        self._require_confirmed()  # the team would be told
        if self.s.stage.terminal:
            raise ValueError(f"the case is {self.s.stage.value}")
        if req.questions is not None and self.s.stage not in QUESTIONS_OPEN:
            raise ValueError("the member's questions can change only before a specialist is assigned")
