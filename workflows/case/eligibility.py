"""Intake and eligibility: register the case, check the program's rules, the override window."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import (
        EligibilityDecision,
        EligibilityRequest,
        OverrideEligibility,
        Registered,
        Stage,
        UpdateAck,
    )
    from models.notices import NoticeKind

from workflows.case.effects import EffectsMixin
from workflows.case.options import DB, expect, wait


class EligibilityStage(EffectsMixin):
    async def _register_case(self) -> None:
        registered = await workflow.execute_local_activity(
            "register_case", self._inp, result_type=Registered, **DB
        )
        self.s.terms, self.s.specialty = registered.terms, registered.specialty

    async def _eligible(self) -> bool:
        inp = self._inp
        decision = await workflow.execute_local_activity(
            "check_eligibility",
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
            result_type=EligibilityDecision,
            **DB,
        )
        self.s.eligibility = decision
        if decision.eligible:
            self._note("eligible")
            return True
        codes = ", ".join(r.code for r in decision.reasons)
        if inp.override_reason:
            self._note("refusal overridden", f"{codes} by {inp.opened_by}")
            return True
        self.s.override_window_open = True
        self._enter(Stage.INELIGIBLE, "refused", codes)
        # The desk reads the rules' texts; the member, each rule's words in their language
        # (the program's, found by the rules' codes).
        params = {
            "item": "; ".join(r.text for r in decision.reasons),
            "rules": ",".join(r.code for r in decision.reasons),
        }
        await self._notify(NoticeKind.INELIGIBLE, "1", params=params)
        if inp.self_service:
            # A request from the public form ends with its answer: nobody waits on an override
            # (the desk opens a case itself to override), and its documents are removed.
            await self._discard_form_records()
            return False
        # The refusal stands unless a coordinator overrides it within the window.
        await wait(
            lambda: self.s.override_reason is not None or self.s.cancel_reason is not None,
            timedelta(days=self.terms.override_window_days),
            "eligibility override window",
        )
        self.s.override_window_open = False
        if self.s.override_reason is None:
            return False
        self._note("refusal overridden", codes)
        return True

    @workflow.update
    def override_eligibility(self, req: OverrideEligibility) -> UpdateAck:
        self.s.override_reason = req.reason
        return self._ack()

    @override_eligibility.validator
    def _validate_override(self, req: OverrideEligibility) -> None:
        expect(req, OverrideEligibility)
        self._require_stage(Stage.INELIGIBLE)
        if not self.s.override_window_open:
            raise ValueError("the override window has closed")
        if self.s.override_reason is not None or self.s.cancel_reason is not None:
            raise ValueError("the refusal has already been acted on")
