"""Records: the checklist, reminders and lapse, and the updates that add to it.

Adding documents checks them against the store (a local activity) under the case's lock;
a notice it causes is queued, so the update answers without waiting for mail. The member is
told when the records are complete (queued too: the case goes on to the specialist meanwhile).
"""

from __future__ import annotations

from datetime import timedelta

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
    from models.storage import CheckDocuments

from workflows.case.effects import MEMBER_NOTICES, EffectsMixin
from workflows.case.options import DB, expect, refused_on_business_error, wait

LATE_STAGES = {Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW, Stage.REPORT_DELIVERED, Stage.CONSULT}


class RecordsStage(EffectsMixin):
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
            woke = await wait(
                lambda: records.complete or self.s.cancel_reason is not None or self._history_full(),
                max(records.next_reminder_at - workflow.now(), timedelta(0)),
                "records reminder",
            )
            self._check_cancel()
            if records.complete:
                if workflow.patched(MEMBER_NOTICES):
                    notice = self._notice(NoticeKind.RECORDS_COMPLETE, "1")
                    self._queue_notice(notice.notice_id, notice)
                return True
            if woke:
                # A member uploading one file at a time: a fresh run keeps the history short.
                await self._continue_as_new()
                continue
            records.next_reminder_at = None
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
        total = len(self.s.records.docs.keys() | {d.doc_id for d in req.documents})
        if terms.document_cap is not None and total > terms.document_cap:
            raise ValueError(
                f"document cap reached: program {terms.name} accepts up to {terms.document_cap}"
                f" documents per case; this would make {total}"
            )

    @workflow.update
    def mark_records_complete(self, req: CompleteRecords) -> UpdateAck:
        self.s.records.waived = list(req.waive)
        self.s.records.complete = True
        detail = f"by {req.by}" + (f", waived {', '.join(w.value for w in req.waive)}" if req.waive else "")
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
        if req.waive and not req.waive_reason:
            raise ValueError("waiving a required record needs a reason")
        missing = [m for m in self._missing() if m not in {w.value for w in req.waive}]
        if missing:
            raise ValueError(f"records missing: {', '.join(missing)} (add them, or waive with a reason)")

    @workflow.update
    async def update_details(self, req: UpdateDetails) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_details(req))
            with refused_on_business_error():
                await workflow.execute_local_activity(
                    "check_documents", CheckDocuments(doc_ids=[req.intake_doc_id]), **DB
                )
            self.s.intake_doc_id = req.intake_doc_id
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
