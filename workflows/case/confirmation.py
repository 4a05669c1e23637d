"""A request from the public form: confirmed through its email address before anything else is sent.

Anyone can fill in the form with anyone's address, so such a case (`CaseInput.self_service`)
first sends the fixed `confirm_request` notice (no name, no word from the form, one link) and
nothing else, to the member or to the desk, until the link is followed: its page shows a
button, and the button's POST (which mail scanners do not send) is `confirm_request`. Then
the case goes on as any self-service request. Unconfirmed after `CONFIRMATION_WINDOW`, or
cancelled meanwhile, it ends without another message. The form's documents become the case's
first records once it is confirmed and eligible, and are removed when it is not.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.case import CONFIRMATION_WINDOW, ConfirmRequest, UpdateAck
    from models.notices import NoticeKind
    from models.storage import RegisterDocuments

from workflows.case.effects import EffectsMixin
from workflows.case.options import STORE, business_error, expect, wait

WAITING = "waiting for the member to confirm the request by email"
EXPIRED = "the request was not confirmed within 24 hours"


class ConfirmationStage(EffectsMixin):
    async def _confirmed(self) -> bool:
        """Email the confirmation link and wait; False when the window passed or the desk cancelled."""
        self._set_attention(WAITING)
        await self._notify(NoticeKind.CONFIRM_REQUEST, "1")
        await wait(
            lambda: not self.unconfirmed or self.s.cancel_reason is not None,
            CONFIRMATION_WINDOW,
            "confirmation window",
        )
        self._set_attention(None)
        if not self.unconfirmed and self.s.cancel_reason is None:
            self._note("request confirmed", "by the member, through the emailed link")
            return True
        if self.s.cancel_reason is None:
            self.s.cancel_reason = EXPIRED
        await self._discard_form_records()
        return False

    async def _take_form_records(self) -> None:
        """The form's documents, as the case's first records (it is confirmed and eligible)."""
        docs = [d for d in self._inp.form_records if d.doc_id not in self.s.records.docs]
        if not docs:
            return
        register = RegisterDocuments(case_id=self._inp.case_id, documents=docs)
        try:
            # A store that does not answer: the case says so and tries again later (see _reliably).
            await self._reliably(
                "documents", lambda: workflow.execute_local_activity("register_documents", register, **STORE)
            )
        except (ActivityError, ApplicationError) as err:
            if business_error(err) is None:
                raise
            # Gone from the store: the member adds them again from the case page.
            self._note("documents from the request form not found", str(len(docs)))
            return
        for doc in docs:
            self.s.records.docs[doc.doc_id] = doc
        self._note("records added", f"{len(docs)} by member:{self._inp.case_id} with the request")

    @workflow.update
    def confirm_request(self, req: ConfirmRequest) -> UpdateAck:
        # Confirming twice is confirming once: the link's page may be posted again.
        self.unconfirmed = False
        return self._ack("confirmed")

    @confirm_request.validator
    def _validate_confirm_request(self, req: ConfirmRequest) -> None:
        expect(req, ConfirmRequest)
        if not self._inp.self_service:
            raise ValueError("this case was not requested online; there is nothing to confirm")
        if self.s.cancel_reason is not None or self.s.stage.terminal:
            raise ValueError("the request has ended")
