"""The case's state and how it shows: timeline, stage changes, search attributes, details.

Every stage mixin builds on `CaseCore`, and on nothing from another stage. It holds the
whole state in one `CaseState` (what continue-as-new carries), one lock for the update
handlers that await an activity, and derives everything else (the SLA clock, the
checklist, the published values). What several stages need lives here too: the documents
on file and their registration with the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import search
    from models.case import (
        CaseInput,
        DocumentRef,
        ProgramTerms,
        RecordsChecklist,
        RecordType,
        SlaState,
        Stage,
        TimelineEntry,
        UpdateAck,
    )
    from models.case_state import CaseState, ReviewRound
    from models.storage import CheckDocuments, RegisterDocuments

from workflows.case.options import DB, CaseCancelled, refused_on_business_error
from workflows.sla import SlaClock

TZ_LABELS = {"Asia/Phnom_Penh": "ICT"}
# The history budget of a run that writes the read model: with its views, every run of a
# finished case stays within 120 events (tests/test_read_model.py, on the dev server).
VIEWS_HISTORY_BUDGET = 70


class CaseCore:
    def __init__(self, inp: CaseInput) -> None:
        # The input stays as the client sent it; a continued run finds its state beside it.
        self._inp = inp.model_copy(update={"carried": None})
        # Only a run this case continued into may bring state; a client's `carried` is ignored.
        carried = inp.carried if workflow.info().continued_run_id else None
        self.s = carried or CaseState(intake_doc_id=inp.intake_doc_id)
        # A request from the public form sends nothing but its confirmation link until the
        # member follows it (workflows/case/confirmation.py). Only the opening phase waits for
        # that, and a case continues as new only later, so a continued run is confirmed.
        self.unconfirmed = inp.self_service and carried is None
        # Handlers that await an activity take it, so two of them never interleave; each
        # re-checks its validator's rules once it holds the lock.
        self._lock = asyncio.Lock()
        # Whether this run writes the read model (workflows/case/view.py decides, once), the
        # version it last wrote, whether a write is under way, and whether the run is
        # continuing as new (no write starts then: the new run writes first thing).
        self._views_on = False
        self._view_written = 0
        self._view_in_flight = False
        self._continuing = False

    # ---- derived ------------------------------------------------------------------------

    @property
    def terms(self) -> ProgramTerms:
        assert self.s.terms is not None
        return self.s.terms

    @property
    def clock(self) -> SlaClock | None:
        return SlaClock(self.s.terms, self.s.sla) if self.s.terms is not None else None

    def _round(self) -> ReviewRound:
        assert self.s.round is not None
        return self.s.round

    @property
    def specialist_id(self) -> str | None:
        return self.s.round.specialist_id if self.s.round else None

    def _checklist(self) -> RecordsChecklist:
        received: dict[RecordType, int] = {}
        for doc in self.s.records.docs.values():
            received[doc.record_type] = received.get(doc.record_type, 0) + 1
        terms = self.s.terms
        return RecordsChecklist(
            required=terms.required_records if terms else [],
            received=received,
            waived=self.s.records.waived,
            documents=len(self.s.records.docs),
            cap=terms.document_cap if terms else None,
        )

    def _missing(self) -> list[str]:
        return [m.value for m in self._checklist().missing]

    def _record_doc_ids(self) -> list[str]:
        return [d for d, ref in self.s.records.docs.items() if ref.record_type is not RecordType.SMO_REPORT]

    # ---- documents: records, information supplied, the report, the consent form ---------

    async def _register(self, documents: list[DocumentRef]) -> None:
        """Check the documents are in the store and record them against the case."""
        if not documents:
            return
        with refused_on_business_error():
            await workflow.execute_local_activity(
                "register_documents",
                RegisterDocuments(case_id=self._inp.case_id, documents=documents),
                **DB,
            )

    async def _check_stored(self, doc_id: str) -> None:
        """A sheet an update names (details, a provider, an opinion, a question) is in the store."""
        with refused_on_business_error():
            await workflow.execute_local_activity("check_documents", CheckDocuments(doc_ids=[doc_id]), **DB)

    async def _discard_form_records(self) -> None:
        """A request from the public form that no case takes (unconfirmed, refused): its documents go."""
        ids = [d.doc_id for d in self._inp.form_records]
        if ids:
            await workflow.execute_local_activity("discard_documents", CheckDocuments(doc_ids=ids), **DB)

    # ---- checks -------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self.s.cancel_reason is not None:
            raise CaseCancelled()

    def _require_terms_for(self, action: str) -> ProgramTerms:
        if self.s.terms is None:
            raise ValueError(f"the case is still at intake; {action} once it is gathering records")
        return self.s.terms

    def _still_valid(self, check: Callable[[], None]) -> None:
        """Under the lock, the validator's rules again: another handler may have changed things."""
        try:
            check()
        except ValueError as err:
            raise ApplicationError(str(err), type="Refused", non_retryable=True) from err

    def _questions_asked(self) -> int:
        """How many questions the member asked: as rewritten before assignment, else at intake."""
        return self.s.questions if self.s.questions is not None else self._inp.questions

    def _require_confirmed(self) -> None:
        if self.unconfirmed:
            raise ValueError("the member has not confirmed the request yet; nothing is sent before that")

    def _require_stage(self, *stages: Stage) -> None:
        if self.s.stage not in stages:
            allowed = " or ".join(s.value for s in stages)
            raise ValueError(f"the case is {self.s.stage.value}; this needs {allowed}")

    # ---- continue-as-new ------------------------------------------------------------------

    def _history_full(self, budget: int | None = None) -> bool:
        """Time to continue as new: a long history, and nothing in flight (a wait may end on it)."""
        info = workflow.info()
        limit = min(self._inp.history_budget, budget or self._inp.history_budget)
        if self._views_on:  # each view written is an event: a run with them continues sooner
            limit = min(limit, VIEWS_HISTORY_BUDGET)
        long = info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit
        return long and not self.s.intents and workflow.all_handlers_finished()

    async def _continue_as_new(self) -> None:
        """At an idle point with a long history: the same case, carried into a fresh run.

        Returns (without continuing) if something arrived while handlers were finishing:
        the stage deals with it first and comes back here at its next idle moment.
        """
        before = self.s.model_dump_json()
        # No view write starts from here: the new run writes its view first thing.
        self._continuing = True
        try:
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() and not self.s.intents and not self._view_in_flight
            )
            if self.s.model_dump_json() != before:
                return
            self._note("history continued in a new run", str(workflow.info().get_current_history_length()))
            workflow.continue_as_new(
                self._inp.model_copy(update={"carried": self.s}),
                search_attributes=workflow.info().typed_search_attributes,
            )
        finally:
            self._continuing = False

    # ---- timeline and stages ------------------------------------------------------------

    def _ack(self, detail: str = "") -> UpdateAck:
        self._changed()
        # The version a read after this update waits for; 0 on a run that writes no views.
        version = self.s.view_version if self._views_on else 0
        return UpdateAck(stage=self.s.stage, detail=detail, version=version)

    def _views_written(self) -> bool:
        """Nothing the case shows is waiting to be written (always so on a run without views)."""
        return not self._views_on or self._view_written == self.s.view_version

    def _changed(self) -> None:
        """What the case shows has changed: the read model is written again (workflows/case/view.py)."""
        self.s.view_version += 1

    def _note(self, event: str, detail: str = "") -> None:
        self.s.note(TimelineEntry(at=workflow.now(), stage=self.s.stage, event=event, detail=detail))

    def _enter(
        self, stage: Stage, event: str | None = None, detail: str = "", *, publish: bool = True
    ) -> None:
        self.s.stage = stage
        self._note(event or stage.value.lower().replace("_", " "), detail)
        # workflow.logger is replay-aware: a replayed transition logs nothing twice.
        workflow.logger.info("case entered %s", stage.value, extra={"stage": stage.value})
        # Stages that pass within one workflow task skip the upsert: each is a history event.
        if publish:
            self._publish()

    def _set_attention(self, what: str | None) -> None:
        self.s.attention = what
        self._publish()

    # ---- what supervisors see -----------------------------------------------------------

    def _due_text(self) -> str:
        clock = self.clock
        if clock is None or clock.due_at is None:
            return ""
        label = TZ_LABELS.get(clock.rule.timezone, clock.rule.timezone)
        return f"due {clock.due_at.strftime('%Y-%m-%d %H:%M')} {label}"

    def _details_line(self) -> str:
        stage = self.s.stage.value.replace("_", " ").capitalize()
        clock = self.clock
        if self.s.stage is Stage.UNDER_REVIEW and clock is not None:
            if clock.state is SlaState.PAUSED:
                return f"{stage}, clock stopped ({clock.elapsed} working days used)"
            if clock.state is SlaState.BREACHED:
                return f"{stage}, BREACHED ({self._due_text()})"
            return f"{stage}, {self._due_text()}"
        if self.s.attention:
            return f"{stage}, attention: {self.s.attention}"
        return stage

    def _publish(self) -> None:
        """Mirror the case into search attributes (only what changed) and the UI details."""
        self._changed()
        clock = self.clock
        values: dict[str, Any] = {
            search.STAGE.name: self.s.stage.value,
            search.PROGRAM.name: self._inp.program,
            search.SPECIALTY.name: self.s.specialty,
            search.SLA_STATE.name: clock.state.value if clock else SlaState.NOT_STARTED.value,
            search.SLA_DEADLINE.name: clock.published_deadline if clock else None,
            search.ATTENTION.name: self.s.attention,
        }
        # The workflow's own search attributes (carried across continue-as-new) say what
        # is already published; an upsert updates them at once.
        current = workflow.info().typed_search_attributes
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in search.ALL_KEYS:
            value, now = values[key.name], current.get(key)
            if value == now:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details_line())
