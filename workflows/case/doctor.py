"""The member's treating doctor (models/doctor.py): named with the member's consent, sent the
report's page once there is a report (at once, or when it is delivered), cut off when the
consent is withdrawn, and able to ask the desk for a doctor-to-doctor call with the specialist.

The doctor's page checks the consent on the live case on every use (web/portal/doctor.py); the
case keeps only the doctor's sheet id and the consent's dates.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import Stage, UpdateAck
    from models.doctor import AskDoctorCall, DoctorShare, ShareWithDoctor, WithdrawDoctor
    from models.notices import NoticeKind

from workflows.case.effects import EffectsMixin
from workflows.case.options import expect

CALL = "the treating doctor asks for a doctor-to-doctor call with the specialist"


class DoctorStage(EffectsMixin):
    def _send_doctor_the_report(self) -> None:
        """The doctor's email with their page's link, for the newest report (none yet: nothing)."""
        share = self.s.doctor
        if share is None or not share.live or not self.s.reports:
            return
        suffix = f"{share.sheet_doc_id[:16]}:report-{len(self.s.reports)}"
        notice = self._notice(NoticeKind.DOCTOR_REPORT, suffix, params={"doctor": share.sheet_doc_id[:16]})
        self._queue_notice("doctor", notice.model_copy(update={"provider_doc_id": share.sheet_doc_id}))

    @workflow.update
    async def share_with_doctor(self, req: ShareWithDoctor) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_share(req))
            await self._check_stored(req.sheet_doc_id)
            self.s.doctor = DoctorShare(
                sheet_doc_id=req.sheet_doc_id, consented_at=workflow.now(), consented_by=req.by
            )
            self._send_doctor_the_report()
            self._note("treating doctor named", f"by {req.by}")
        return self._ack("the report will be shared with the treating doctor")

    @share_with_doctor.validator
    def _validate_share(self, req: ShareWithDoctor) -> None:
        expect(req, ShareWithDoctor)
        if self.s.stage.terminal:
            raise ValueError(f"the case is {self.s.stage.value}")
        if self.s.doctor is not None and self.s.doctor.live:
            raise ValueError("the report is shared with a treating doctor already; withdraw that first")

    @workflow.update
    async def withdraw_doctor(self, req: WithdrawDoctor) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_withdraw(req))
            share = self.s.doctor
            assert share is not None
            share.withdrawn_at, share.withdrawn_by = workflow.now(), req.by
            self._note("consent to share with the doctor withdrawn", f"by {req.by}")
        return self._ack("the treating doctor's link no longer opens the report")

    @withdraw_doctor.validator
    def _validate_withdraw(self, req: WithdrawDoctor) -> None:
        expect(req, WithdrawDoctor)
        if self.s.doctor is None or not self.s.doctor.live:
            raise ValueError("the report is not shared with a treating doctor")

    @workflow.update
    async def ask_doctor_call(self, req: AskDoctorCall) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_call(req))
            share = self.s.doctor
            assert share is not None
            share.calls_asked += 1
            suffix = f"doctor-call-{share.calls_asked}"
            notice = self._notice(NoticeKind.TEAM_NOTIFIED, suffix, params={"item": CALL})
            self._queue_notice(suffix, notice)
            self._set_attention(CALL)
            self._note("doctor-to-doctor call asked", f"by {req.by}")
        return self._ack("the desk will arrange the call")

    @ask_doctor_call.validator
    def _validate_call(self, req: AskDoctorCall) -> None:
        expect(req, AskDoctorCall)
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if self.s.doctor is None or not self.s.doctor.live:
            raise ValueError("the report is not shared with a treating doctor")
