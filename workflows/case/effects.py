"""Side effects: notices and charges, their retries, escalation, and the intents queue.

The main flow awaits its own notices (`_notify`). What an update asks for (a receipt, a
charge, a team notice) is queued as an `Intent` and performed by `_perform_intents`, a
loop the run starts beside the stages: the update has already answered, `status` lists
the intent as pending, and an outage only delays it. Charges carry an idempotency key
fixed when the intent is queued, so a charge happens once however often it is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.billing import ChargeRequest, ChargeResult
    from models.case_state import Intent, ThirdOpinion
    from models.notices import Notice, NoticeKind, NoticeResult
    from models.sla import DeadlineRequest, SlaRule
    from models.sla_clock import DueDate

from workflows.case.core import CaseCore
from workflows.case.options import (
    BILLING,
    EMAIL,
    ESCALATION_PAUSE,
    MAX_ESCALATION_PAUSE,
    STORE_ATTENTION_PATCH,
    STORE_DOWN,
    business_error,
    store_outage,
)
from workflows.sla import LOCAL

T = TypeVar("T")

# The patch that brought the member the notices between opening and the report (records
# complete, a specialist assigned): runs recorded before it replay without them.
MEMBER_NOTICES = "member-notices"


class EffectsMixin(CaseCore):
    def _notice(
        self,
        kind: NoticeKind,
        suffix: str,
        *,
        link_doc_ids: list[str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Notice:
        clock = self.clock
        return Notice(
            notice_id=f"{self._inp.case_id}:{kind.value}:{suffix}",
            case_id=self._inp.case_id,
            kind=kind,
            intake_doc_id=self.s.intake_doc_id,
            specialist_id=self.specialist_id,
            link_doc_ids=link_doc_ids or [],
            due_at=clock.due_at if clock else None,
            program=self._inp.program,
            params=params or {},
        )

    async def _notify(
        self,
        kind: NoticeKind,
        suffix: str,
        *,
        link_doc_ids: list[str] | None = None,
        params: dict[str, str] | None = None,
    ) -> NoticeResult | None:
        """Send a notice now; a permanent refusal is recorded for a person to fix, not retried."""
        return await self._send(self._notice(kind, suffix, link_doc_ids=link_doc_ids, params=params))

    @staticmethod
    async def _delivered(sending: Awaitable[object]) -> datetime:
        """When a notice being sent was through: a late delivery restarts a clock."""
        await sending
        return workflow.now()

    async def _send(self, notice: Notice) -> NoticeResult | None:
        try:
            return await self._reliably(
                f"email {notice.kind.value}",
                lambda: workflow.execute_activity("send_notice", notice, result_type=NoticeResult, **EMAIL),
            )
        except (ActivityError, ApplicationError) as err:
            business = business_error(err)
            if business is None:
                raise
            # The type only: a mail server's rejection text can quote the address.
            self._note("notice failed", f"{notice.kind.value}: {business.type}")
            self._set_attention(f"email {notice.kind.value} rejected")
            return None

    async def _working_days_on(self, days: int, after: datetime) -> datetime:
        """The close of business `days` KH working days after `after` (the calendar's answer): the
        desk's and the translator's days, for chasing records and translations."""
        terms = self.terms
        rule = SlaRule(
            working_days=days,
            calendars=["KH"],
            timezone=terms.sla_timezone,
            close_of_business=terms.close_of_business,
            warn_ratio=None,
        )
        due: DueDate = await workflow.execute_local_activity(
            "sla_deadline", DeadlineRequest(rule=rule, received_at=after), result_type=DueDate, **LOCAL
        )
        return due.due_at

    # ---- intents: accepted by an update, performed by the main flow ---------------------

    def _queue_notice(self, group: str, notice: Notice) -> None:
        self.s.intents.append(Intent(group=group, notice=notice))

    def _queue_charge(self, group: str, kind: str, key_suffix: str, amount_cents: int) -> None:
        charge = ChargeRequest(
            idempotency_key=f"{self._inp.case_id}:{key_suffix}",
            case_id=self._inp.case_id,
            kind=kind,
            amount_cents=amount_cents,
            currency=self.terms.currency,
        )
        self.s.intents.append(Intent(group=group, charge=charge))

    def pending(self) -> list[str]:
        return [i.label for i in self.s.intents]

    async def _perform_intents(self) -> None:
        """Runs for the life of the case: one intent at a time, in the order accepted."""
        while True:
            await workflow.wait_condition(lambda: bool(self.s.intents))
            intent = self.s.intents[0]
            if intent.notice is not None:
                await self._send(intent.notice)
            elif intent.charge is not None and not await self._charge(intent.charge):
                # Declined: the rest of the booking (its notice) goes with it.
                self.s.intents = [i for i in self.s.intents[1:] if i.group != intent.group]
                self._changed()  # `status` lists what is pending
                continue
            self.s.intents.pop(0)
            self._changed()

    async def _charge(self, req: ChargeRequest) -> bool:
        """Take the charge and send its receipt; False when the payment was declined."""
        amount = f"{req.amount_cents / 100:.2f} {req.currency}"
        suffix = req.idempotency_key.removeprefix(f"{self._inp.case_id}:")
        try:
            result = await self._reliably(
                f"billing {req.kind}",
                lambda: workflow.execute_activity(
                    "charge_customer", req, result_type=ChargeResult, **BILLING
                ),
            )
        except (ActivityError, ApplicationError) as err:
            business = business_error(err)
            if business is None:
                raise
            self._note("charge declined", f"{req.kind} {amount}: {business.type}")
            self._set_attention(f"billing {req.kind} declined")
            self._undo_booking(req.kind)
            await self._notify(
                NoticeKind.ATTENTION,
                f"declined-{suffix}",
                params={"item": f"payment declined for {req.kind}"},
            )
            return False
        self.s.charges += 1
        self._note("charged", f"{req.kind} {amount}")
        self._settle_booking(req.kind)
        # The charge's kind, which the receipt names in the member's language.
        params = {"amount": amount, "charge": req.kind, "reference": str(result.charge_id)}
        await self._notify(NoticeKind.RECEIPT, suffix, params=params)
        return True

    def _settle_booking(self, kind: str) -> None:
        if kind == "third_opinion":
            self.s.consults.third_opinion = ThirdOpinion.REQUESTED

    def _undo_booking(self, kind: str) -> None:
        consults = self.s.consults
        if kind == "third_opinion":
            consults.third_opinion = ThirdOpinion.NONE
        elif consults.pending:
            # Not held yet: the booking goes. A consult already held stays on the record,
            # and the attention flag asks a person to settle the payment.
            consults.booked -= 1
            consults.pending, consults.slot = False, None

    async def _reliably(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run an activity; once its retry policy is spent, escalate and try again later."""
        rounds = 0
        flag = f"{what} failing"
        while True:
            try:
                result = await call()
            except ActivityError as err:
                if business_error(err) is not None:
                    raise
                rounds += 1
                # An email that fails for want of the member's details sheet is the store's
                # fault, not the mail's: the desk is told which one to look at.
                if store_outage(err) and workflow.patched(STORE_ATTENTION_PATCH):
                    flag = STORE_DOWN
                self._note("escalated", f"{what} failing after retries (round {rounds})")
                self._set_attention(flag)
                # Backing off (15 min, 30 min, 1 h ... 1 day) keeps a long outage from
                # flooding the case's history while a supervisor sees the attention flag.
                await workflow.sleep(min(ESCALATION_PAUSE * 2 ** (rounds - 1), MAX_ESCALATION_PAUSE))
                continue
            if self.s.attention == flag:
                self._set_attention(None)
            return result
