"""The member's sign-in link, re-sent on a coordinator's request.

The first link goes out with the `case_opened` notice; this update queues another as its
own notice (`<case>:portal-link:<n>`), so the request answers at once and the mail, with
its retries, is the main flow's business.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import UpdateAck
    from models.notices import NoticeKind
    from models.portal import SendPortalLink

from workflows.case.effects import EffectsMixin
from workflows.case.options import expect


class PortalLinkStage(EffectsMixin):
    @workflow.update
    def send_portal_link(self, req: SendPortalLink) -> UpdateAck:
        self.s.portal_links += 1
        n = self.s.portal_links
        notice = self._notice(NoticeKind.PORTAL_LINK, str(n))
        notice = notice.model_copy(update={"notice_id": f"{self._inp.case_id}:portal-link:{n}"})
        self._queue_notice(notice.notice_id, notice)
        self._note("sign-in link requested", f"by {req.by}")
        return self._ack(f"sign-in link {n} queued")

    @send_portal_link.validator
    def _validate_send_portal_link(self, req: SendPortalLink) -> None:
        expect(req, SendPortalLink)
        self._require_confirmed()
        if self.s.stage.terminal:
            raise ValueError(f"the case is {self.s.stage.value}; it has no portal to sign in to")
