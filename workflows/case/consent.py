"""Consent before records cross a border: the case waits before assignment until it holds it.

A case opened with `consent_required` sends no record to a specialist until the member
has agreed in the portal (the versioned text, the signed-in identity, the time) or a
coordinator has attested it with the signed form (registered as a `consent` document).
Withdrawing it holds the next assignment again; the portal stops record downloads at once.
The case asks `_await_consent` before each assignment (`SmoCaseWorkflow._review_rounds`).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import DocumentRef, RecordType, Stage, UpdateAck
    from models.consent import CONSENT_VERSION, ConsentMethod, GiveConsent, WithdrawConsent, is_current

from workflows.case.core import CaseCore

WAITING = "waiting for the member's consent to send records abroad"


class ConsentStage(CaseCore):
    async def _await_consent(self) -> None:
        """Before an assignment: hold here (stage, status and attention say why) until consent."""
        consent = self.s.consent
        if not self._inp.consent_required:
            return
        consent.required = True
        if consent.given:
            return
        consent.waiting = True
        self._enter(Stage.ASSIGNING_SPECIALIST, detail=WAITING, publish=False)
        self._set_attention(WAITING)
        await workflow.wait_condition(lambda: consent.given or self.s.cancel_reason is not None)
        self._check_cancel()
        consent.waiting = False
        self._set_attention(None)

    @workflow.update
    async def give_consent(self, req: GiveConsent) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_give_consent(req))
            if req.form_doc_id is not None:
                form = DocumentRef(doc_id=req.form_doc_id, record_type=RecordType.CONSENT, size=req.form_size)
                await self._register([form])
            c = self.s.consent
            c.given, c.method, c.version, c.by = True, req.method, req.version, req.by
            c.at, c.form_doc_id, c.withdrawn_at = workflow.now(), req.form_doc_id, None
            self._note("consent to transfer recorded", f"{req.method.value} v{req.version} by {req.by}")
        return self._ack("consent recorded")

    @give_consent.validator
    def _validate_give_consent(self, req: GiveConsent) -> None:
        if not isinstance(req, GiveConsent):
            raise ValueError("expected a GiveConsent payload")
        if self.s.stage.terminal:
            raise ValueError(f"the case is {self.s.stage.value}")
        if self.s.consent.given:
            raise ValueError("the case already holds the member's consent")
        if req.method is ConsentMethod.PORTAL and not is_current(req.version):
            raise ValueError(f"that consent text is not the current one ({CONSENT_VERSION})")
        if req.method is ConsentMethod.SIGNED_FORM and req.form_doc_id is None:
            raise ValueError("a coordinator's attestation needs the signed form")

    @workflow.update
    def withdraw_consent(self, req: WithdrawConsent) -> UpdateAck:
        self.s.consent.given = False
        self.s.consent.withdrawn_at = workflow.now()
        self._note("consent to transfer withdrawn", f"by {req.by}")
        return self._ack("consent withdrawn: no further records go to a specialist")

    @withdraw_consent.validator
    def _validate_withdraw_consent(self, req: WithdrawConsent) -> None:
        if not isinstance(req, WithdrawConsent):
            raise ValueError("expected a WithdrawConsent payload")
        if not self.s.consent.given:
            raise ValueError("the case holds no consent to withdraw")
