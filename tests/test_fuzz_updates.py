"""Fuzzing the case workflow's updates: every payload is accepted or refused cleanly.

Hypothesis draws a case (one per stage a coordinator meets), an update name (real or not)
and a payload (a well-formed model, a raw dict with hostile fields, a JSON string, garbage,
no argument or two). Each one must be accepted, or refused with a readable error; a refusal
must leave the case exactly as it was, and no update may fail a workflow task or the case.

One time-skipping environment and one worker serve the whole run. The worker has the
production configuration (no `workflow_failure_exception_types`), so an exception that
escapes workflow code shows as a WORKFLOW_TASK_FAILED event, which the harness looks for.
Time never skips here (nothing awaits a result), so no SLA timer fires during the run.

The system under test is stateful, so shrinking is off: a problem is reported with the
exact case, stage, update and payload, and the run carries on with a fresh case.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import FailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.case import (
    AddRecords,
    AssignSpecialist,
    BookConsult,
    Cancel,
    CaseStatus,
    Close,
    CompleteConsult,
    CompleteRecords,
    Decline,
    DocumentRef,
    InfoReason,
    OverrideEligibility,
    RecordType,
    RequestInfo,
    RequestThirdOpinion,
    Stage,
    SubmitReport,
    SupplyInfo,
    UpdateAck,
    UpdateDetails,
)
from tests import scenario
from worker import Services, build_worker

EXAMPLES = 600
UPDATE_TIMEOUT = 5.0  # a clean update answers in well under a second
SETTLE_TIMEOUT = 5.0
QUERY_TIMEOUT = 3.0
T = TypeVar("T")

MODELS: dict[str, type[BaseModel]] = {
    "add_record": AddRecords,
    "mark_records_complete": CompleteRecords,
    "assign_specialist": AssignSpecialist,
    "decline": Decline,
    "request_more_info": RequestInfo,
    "supply_info": SupplyInfo,
    "submit_report": SubmitReport,
    "book_consult": BookConsult,
    "complete_consult": CompleteConsult,
    "request_third_opinion": RequestThirdOpinion,
    "close": Close,
    "cancel": Cancel,
    "override_eligibility": OverrideEligibility,
    "update_details": UpdateDetails,
}
UPDATES = list(MODELS)
NOT_UPDATES = ["status", "run", "Add_Record", "add_records", " cancel", "_validate_close", "x" * 300]

# ICD-10 codes of several specialties, rotated so fresh cases never exhaust one roster.
CODES = ["C50.912", "I21.9", "G40.909", "K50.90", "M17.11", "N18.3", "E11.9", "H40.11", "L40.0", "D50.9"]


# ---- the cases the fuzzer talks to -----------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    program: str
    stage: Stage
    policy: str | None = None


KINDS = [
    Kind("prudential-gathering", "prudential-kh", Stage.GATHERING_RECORDS),
    Kind("prudential-review", "prudential-kh", Stage.UNDER_REVIEW),
    Kind("prudential-report", "prudential-kh", Stage.REPORT_DELIVERED),
    Kind("prudential-ineligible", "prudential-kh", Stage.INELIGIBLE, policy="KH-DEMO-0002"),
    Kind("assist-america-review", "assist-america", Stage.UNDER_REVIEW),
]


@dataclass
class Case:
    kind: Kind
    handle: scenario.Handle
    seen_events: int = 0
    last: str = "opening"


@dataclass
class Pools:
    """Things that exist in the store, for payloads that look right."""

    records: list[DocumentRef]
    reports: list[DocumentRef]
    intakes: list[str]
    roster: list[str]
    now: datetime


@dataclass
class Harness:
    env: WorkflowEnvironment
    services: Services
    pools: Pools | None = None
    cases: dict[str, Case] = field(default_factory=dict)
    retired: list[Case] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    examples: int = 0
    opened: int = 0

    # -- setup

    async def start(self) -> None:
        store = self.services.store

        def stored(content: bytes, record_type: RecordType) -> DocumentRef:
            s = store.put_bytes(content)
            return DocumentRef(doc_id=s.doc_id, record_type=record_type, size=s.size)

        records = [
            stored(f"fuzz record {i}: {t.value}".encode(), t)
            for i in range(3)
            for t in RecordType
            if t is not RecordType.SMO_REPORT
        ]
        reports = [stored(f"fuzz second opinion {i}".encode(), RecordType.SMO_REPORT) for i in range(3)]
        intakes = [store.put_intake(scenario.intake(patient_name=f"Fuzz Member {i}")).doc_id for i in range(3)]
        roster_file = self.services.settings.specialists_file
        roster = [str(r["specialist_id"]) for r in yaml.safe_load(roster_file.read_text(encoding="utf-8"))]
        self.pools = Pools(records, reports, intakes, roster, await self.env.get_current_time())
        await asyncio.gather(*(self.provision(kind) for kind in KINDS))

    async def provision(self, kind: Kind) -> Case:
        self.opened += 1
        n = self.opened
        code = CODES[n % len(CODES)]
        policy = kind.policy or scenario.POLICIES[kind.program]
        patient = scenario.intake(kind.program, code, patient_name=f"Fuzz Patient {n}", policy_number=policy)
        inp = scenario.case_input(self.services, f"FUZZ-{n:04d}", kind.program, patient=patient)
        handle = await scenario.start(self.env.client, self.services.settings, inp)
        if kind.stage is Stage.INELIGIBLE:
            await scenario.until(self.env, handle, Stage.INELIGIBLE)
        elif kind.stage is Stage.GATHERING_RECORDS:
            await scenario.until(self.env, handle, Stage.GATHERING_RECORDS)
        else:
            review = await scenario.to_review(self.env, handle, self.services, kind.program)
            if kind.stage is Stage.REPORT_DELIVERED:
                assert review.specialist_id
                await scenario.submit_report(handle, self.services, review.specialist_id)
                await scenario.until(self.env, handle, Stage.REPORT_DELIVERED)
        case = Case(kind, handle)
        await self.settle(case)
        self.cases[kind.name] = case
        return case

    # -- bookkeeping

    def found(self, signature: str, detail: str) -> None:
        self.findings.setdefault(signature, []).append(detail)

    async def retire(self, case: Case, why: str) -> None:
        """Replace a case that finished (or broke) with a fresh one of the same kind."""
        self.retired.append(case)
        self.outcomes[f"case replaced: {why}"] += 1
        with contextlib.suppress(RPCError):  # it may have finished already
            await case.handle.terminate(reason=f"fuzz harness: {why}")
        await self.provision(case.kind)

    async def settle(self, case: Case) -> tuple[bool, list[str]]:
        """Wait until no workflow task, activity or update handler is in flight.

        Returns (still running, problems): new WORKFLOW_TASK_FAILED events, a failed case,
        or work that does not finish.
        """
        problems: list[str] = []
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            history = await case.handle.fetch_history()
            events = list(history.events)
            n: Counter[int] = Counter(e.event_type for e in events)
            for e in events[case.seen_events :]:
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = e.workflow_task_failed_event_attributes.failure
                    err = await self.env.client.data_converter.decode_failure(failure)
                    problems.append(f"WORKFLOW_TASK_FAILED: {type(err).__name__}: {err}")
            case.seen_events = len(events)
            last = events[-1].event_type
            if last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                failure = events[-1].workflow_execution_failed_event_attributes.failure
                err = await self.env.client.data_converter.decode_failure(failure)
                problems.append(f"the case FAILED: {_chain(err)}")
                return False, problems
            if last in _CLOSED_EVENTS:
                return False, problems
            pending_tasks = n[EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED] - sum(
                n[t] for t in _TASK_DONE
            )
            pending_activities = n[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] - sum(
                n[t] for t in _ACTIVITY_DONE
            )
            pending_updates = (
                n[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
                - n[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
            )
            if not (pending_tasks or pending_activities or pending_updates) and not problems:
                return True, problems
            if problems or time.monotonic() > deadline:
                if not problems:
                    problems.append(
                        f"still busy after {SETTLE_TIMEOUT}s: {pending_tasks} workflow task(s),"
                        f" {pending_activities} activit(ies), {pending_updates} update handler(s);"
                        f" {await self._pending_detail(case)}"
                    )
                return True, problems
            await asyncio.sleep(0.02)

    async def _pending_detail(self, case: Case) -> str:
        # The raw call: the test server's search attribute values do not decode in describe().
        desc = await self.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.env.client.namespace, execution=WorkflowExecution(workflow_id=case.handle.id)
            )
        )
        parts = []
        for a in desc.pending_activities:
            failure = ""
            if a.HasField("last_failure"):
                err = await self.env.client.data_converter.decode_failure(a.last_failure)
                failure = f", last failure: {_chain(err)}"
            parts.append(f"activity {a.activity_type.name} attempt {a.attempt}{failure}")
        return "; ".join(parts) or "no pending activity"

    # -- one example

    async def check(self, kind: Kind, name: str, args: list[Any]) -> None:
        self.examples += 1
        case = self.cases[kind.name]
        before = await self._status(case)
        if before is None:
            _, problems = await self.settle(case)
            self.found("a case stopped answering queries", f"{case.handle.id} after {case.last}: {problems}")
            await self.retire(case, "broken")
            return
        shown = f"{case.handle.id} ({before.stage.value}) {name}({_short(args)})"
        case.last = shown
        ack: UpdateAck | None = None
        refusal: BaseException | None = None
        try:
            ack = await asyncio.wait_for(
                case.handle.execute_update(name, args=args, result_type=UpdateAck), UPDATE_TIMEOUT
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            self.outcomes["no answer"] += 1
            _, problems = await self.settle(case)
            detail = "; ".join(problems) or "nothing pending"
            self.found(f"{name}: no answer within {UPDATE_TIMEOUT}s", f"{shown}: {detail}")
            await self.retire(case, "broken")
            return
        except (WorkflowUpdateFailedError, RPCError, ValueError, TypeError, RuntimeError) as err:
            refusal = err
        running, problems = await self.settle(case)
        for p in problems:
            self.found(f"{name}: {p.split(':')[0]}", f"{shown}: {p}")
        after = await self._status(case) if running else None
        broken = bool(problems) or (running and after is None)
        if running and after is None:
            self.found(f"{name}: the case stopped answering queries", shown)

        if refusal is not None:
            self.outcomes[f"{name} refused"] += 1
            message = _refusal_message(refusal)
            first = message.strip().splitlines()[0] if message.strip() else ""
            if not first or "Traceback" in message or len(first) > 1000:
                self.found(f"{name}: unreadable refusal", f"{shown}: {type(refusal).__name__}: {message!r}")
            if isinstance(refusal, (ValueError, TypeError, RuntimeError)) and not _client_side(refusal):
                self.found(f"{name}: unexpected {type(refusal).__name__}", f"{shown}: {message}")
            if not running:
                self.found(f"{name}: refused, yet the case ended", shown)
            elif after is not None and after != before:
                self.found(
                    f"{name}: refused but changed the case",
                    f"{shown}: refused with {message!r}, yet {_diff(before, after)}",
                )
        else:
            self.outcomes[f"{name} accepted"] += 1
            assert isinstance(ack, UpdateAck)
            parsed = _parse(name, args)
            if parsed is None:
                self.found(f"{name}: accepted a payload its model refuses", shown)
            if after is not None and isinstance(parsed, AddRecords):
                added = after.records.documents - before.records.documents
                distinct = len({d.doc_id for d in parsed.documents})
                if not 0 <= added <= distinct:
                    self.found(f"{name}: document count off", f"{shown}: {added} added of {distinct}")
        if broken or not running:
            await self.retire(case, "broken" if broken else "finished")

    async def _status(self, case: Case) -> CaseStatus | None:
        try:
            return await asyncio.wait_for(scenario.status(case.handle), QUERY_TIMEOUT)
        except (TimeoutError, RPCError):
            return None

    async def final_check(self) -> None:
        for case in [*self.cases.values(), *self.retired]:
            history = await case.handle.fetch_history()
            failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            if failed:
                self.outcomes["cases with a workflow task failure"] += 1
        for case in self.cases.values():
            history = await case.handle.fetch_history()
            if history.events[-1].event_type in _CLOSED_EVENTS:
                self.found("a live case is not running", f"{case.handle.id} after {case.last}")
            with contextlib.suppress(RPCError):
                await case.handle.terminate(reason="fuzz run over")


_TASK_DONE = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
)
_ACTIVITY_DONE = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
)
_CLOSED_EVENTS = (
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
)


def _chain(err: BaseException | None) -> str:
    parts = []
    while err is not None:
        parts.append(getattr(err, "message", None) or str(err) or type(err).__name__)
        err = err.__cause__ or getattr(err, "cause", None)
    return " <- ".join(parts)


def _refusal_message(err: BaseException) -> str:
    """What a coordinator would read: the innermost cause, as the CLI shows it."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause: BaseException | None = err.cause
        while isinstance(cause, FailureError) and cause.cause is not None:
            cause = cause.cause
        return getattr(cause, "message", None) or str(cause or err)
    return str(err)


def _client_side(err: BaseException) -> bool:
    """A payload the client's converter cannot serialize never leaves the process."""
    text = f"{type(err).__module__}.{type(err).__name__}: {err}"
    return "pydantic" in text.lower() or "serializ" in text.lower() or "surrogate" in text.lower()


def _parse(name: str, args: list[Any]) -> BaseModel | None:
    """The payload as the worker's converter reads it, or None if it cannot."""
    model = MODELS.get(name)
    if model is None or len(args) != 1:
        return None
    conv = pydantic_data_converter.payload_converter
    try:
        parsed = conv.from_payloads(conv.to_payloads(args), [model])[0]
    except Exception:
        return None
    return parsed if isinstance(parsed, model) else None


def _short(args: list[Any]) -> str:
    text = ", ".join(repr(a) for a in args)
    return text if len(text) <= 400 else text[:400] + f"... ({len(text)} chars)"


def _diff(before: CaseStatus, after: CaseStatus) -> str:
    a, b = before.model_dump(mode="json"), after.model_dump(mode="json")
    changed = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    if "timeline" in changed:
        old, new = changed["timeline"]
        changed["timeline"] = (len(old), new[len(old) :] if len(new) > len(old) else new)
    return "; ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in changed.items())[:1500]


# ---- strategies ------------------------------------------------------------------------------

SHA = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
BAD_SHA = st.one_of(
    SHA.map(str.upper),
    SHA.map(lambda s: s[:-1]),
    SHA.map(lambda s: s + "0"),
    SHA.map(lambda s: f" {s}"),
    SHA.map(lambda s: f"../{s[3:]}"),
    st.just("g" * 64),
    st.just(""),
    st.text(max_size=70),
    st.integers(),
)
HUGE = st.sampled_from(["x" * 100_000, "é" * 20_000, "\u202e" * 1_000, "\x00" * 100, "😀" * 5_000])
TEXT = st.one_of(st.text(max_size=80), HUGE)
ACTOR = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20)
BAD_ACTOR = st.one_of(st.just(""), st.just("   "), st.text(min_size=65, max_size=90), HUGE, st.integers(), st.none())
SHORT_TEXT = st.text(st.characters(categories=["L", "N", "Zs"]), min_size=3, max_size=60).filter(
    lambda s: len(s.strip()) >= 3
)
BAD_SHORT_TEXT = st.one_of(st.just(""), st.just("ab"), st.just("  a  "), st.text(min_size=501, max_size=520), HUGE)
BAD_ENUM = st.one_of(
    st.sampled_from(["SMO_REPORT", "Imaging", "x-ray", "", "null", "operative report", "smo_report "]),
    st.text(max_size=20),
    st.integers(),
)
BAD_INT = st.one_of(
    st.integers(max_value=-1), st.floats(allow_nan=True, allow_infinity=True), st.just("12"), st.just("twelve"),
    st.just(2**64), st.just(True), st.none(),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
GARBAGE = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=4),
    st.dictionaries(st.text(max_size=8), SCALAR, max_size=4),
    st.just({"by": "c"} | {f"k{i}": i for i in range(200)}),
)
EXTRA = st.dictionaries(st.sampled_from(["extra", "patient_name", "admin", "stage", "by "]), SCALAR, max_size=2)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _either(valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, bad)


def _loose(fields: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]) -> st.SearchStrategy[Any]:
    """A raw dict: each field valid or hostile, sometimes missing, sometimes with extras."""
    required = {k: _either(v, bad) for k, (v, bad) in fields.items()}
    return st.tuples(
        st.fixed_dictionaries(required), st.sets(st.sampled_from(list(fields)), max_size=1), EXTRA
    ).map(lambda t: {k: v for k, v in t[0].items() if k not in t[1]} | t[2])


def payloads(pools: Pools) -> dict[str, st.SearchStrategy[Any]]:
    """name -> strategy of an argument list for that update."""
    stored_record = st.sampled_from(pools.records)
    unstored_record = st.builds(
        DocumentRef, doc_id=SHA, record_type=st.sampled_from(RecordType), size=st.integers(0, 10**7)
    )
    odd_size = st.builds(
        lambda d, size: d.model_copy(update={"size": size}), stored_record, st.integers(min_value=0)
    )
    document = st.one_of(stored_record, stored_record, stored_record, unstored_record, odd_size)
    report = st.one_of(st.sampled_from(pools.reports), st.sampled_from(pools.reports), stored_record,
                       unstored_record.map(lambda d: d.model_copy(update={"record_type": RecordType.SMO_REPORT})))
    doc_dict = _loose({
        "doc_id": (st.one_of(stored_record.map(lambda d: d.doc_id), SHA), BAD_SHA),
        "record_type": (st.sampled_from([t.value for t in RecordType]), BAD_ENUM),
        "size": (st.integers(0, 10**6), BAD_INT),
    })
    documents = st.lists(document, min_size=1, max_size=5)
    bad_documents = st.one_of(
        st.just([]), st.lists(doc_dict, max_size=4), document.map(lambda d: [d] * 51), GARBAGE
    )
    specialist = st.one_of(st.sampled_from(pools.roster), st.sampled_from(pools.roster),
                           st.text(min_size=1, max_size=40))
    bad_specialist = st.one_of(st.just(""), st.text(min_size=41, max_size=60), st.integers(), st.none())
    now = pools.now
    slot = st.builds(lambda days, minutes, tz: (now + timedelta(days=days, minutes=minutes)).astimezone(tz),
                     st.integers(-30, 400), st.integers(0, 1440), OFFSETS)
    bad_slot = st.one_of(
        slot.map(lambda d: d.replace(tzinfo=None).isoformat()),  # naive
        slot.map(lambda d: d.date().isoformat()),
        st.sampled_from(["tomorrow", "", "2026-13-01T09:00+07:00", "2026-12-14T09:00+25:00",
                         "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-12-14 09:00 ICT"]),
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(),
    )
    waive = st.lists(st.sampled_from(RecordType), max_size=3)

    models: dict[str, st.SearchStrategy[Any]] = {
        "add_record": st.builds(AddRecords, documents=documents, by=ACTOR),
        "mark_records_complete": st.builds(
            CompleteRecords, waive=waive, waive_reason=st.one_of(st.none(), SHORT_TEXT), by=ACTOR
        ),
        "assign_specialist": st.builds(AssignSpecialist, specialist_id=specialist, by=ACTOR),
        "decline": st.builds(Decline, specialist_id=specialist, reason=SHORT_TEXT, by=ACTOR),
        "request_more_info": st.builds(
            RequestInfo, reason=st.sampled_from(InfoReason), record_types=waive, by=ACTOR
        ),
        "supply_info": st.builds(SupplyInfo, documents=st.lists(document, max_size=3), by=ACTOR),
        "submit_report": st.builds(SubmitReport, document=report, specialist_id=specialist, by=ACTOR),
        "book_consult": st.builds(BookConsult, slot=slot, by=ACTOR),
        "complete_consult": st.builds(CompleteConsult, by=ACTOR),
        "request_third_opinion": st.builds(RequestThirdOpinion, by=ACTOR),
        "close": st.builds(Close, by=ACTOR),
        "cancel": st.builds(Cancel, reason=SHORT_TEXT, by=ACTOR),
        "override_eligibility": st.builds(OverrideEligibility, reason=SHORT_TEXT, by=ACTOR),
        "update_details": st.builds(
            UpdateDetails, intake_doc_id=st.one_of(st.sampled_from(pools.intakes), SHA), by=ACTOR
        ),
    }
    by = (ACTOR, BAD_ACTOR)
    raw: dict[str, st.SearchStrategy[Any]] = {
        "add_record": _loose({"documents": (st.lists(doc_dict, min_size=1, max_size=4), bad_documents),
                              "by": by}),
        "mark_records_complete": _loose({
            "waive": (waive.map(lambda w: [t.value for t in w]), st.one_of(st.lists(BAD_ENUM, max_size=2), GARBAGE)),
            "waive_reason": (st.one_of(st.none(), SHORT_TEXT), BAD_SHORT_TEXT),
            "by": by,
        }),
        "assign_specialist": _loose({"specialist_id": (specialist, bad_specialist), "by": by}),
        "decline": _loose({"specialist_id": (specialist, bad_specialist),
                           "reason": (SHORT_TEXT, BAD_SHORT_TEXT), "by": by}),
        "request_more_info": _loose({
            "reason": (st.sampled_from([r.value for r in InfoReason]), BAD_ENUM),
            "record_types": (waive.map(lambda w: [t.value for t in w]), st.lists(BAD_ENUM, max_size=2)),
            "by": by,
        }),
        "supply_info": _loose({"documents": (st.lists(doc_dict, max_size=3), bad_documents), "by": by}),
        "submit_report": _loose({
            "document": (report.map(lambda d: d.model_dump(mode="json")), st.one_of(doc_dict, GARBAGE)),
            "specialist_id": (specialist, bad_specialist),
            "by": by,
        }),
        "book_consult": _loose({"slot": (slot.map(datetime.isoformat), bad_slot), "by": by}),
        "complete_consult": _loose({"by": by}),
        "request_third_opinion": _loose({"by": by}),
        "close": _loose({"by": by}),
        "cancel": _loose({"reason": (SHORT_TEXT, BAD_SHORT_TEXT), "by": by}),
        "override_eligibility": _loose({"reason": (SHORT_TEXT, BAD_SHORT_TEXT), "by": by}),
        "update_details": _loose({
            "intake_doc_id": (st.one_of(st.sampled_from(pools.intakes), SHA), BAD_SHA), "by": by
        }),
    }
    out = {}
    for name in UPDATES:
        model, loose = models[name], raw[name]
        out[name] = st.one_of(
            model.map(lambda m: [m]),
            model.map(lambda m: [m]),
            loose.map(lambda d: [d]),
            loose.map(lambda d: [d]),
            loose.map(lambda d: [json.dumps(d, default=str)]),  # a JSON string, not an object
            GARBAGE.map(lambda g: [g]),
            st.just([]),
            st.tuples(model, GARBAGE).map(list),
        )
    return out


def _naive_datetimes() -> st.SearchStrategy[Any]:
    """Datetime objects without an offset, as a careless client would send them."""
    return st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
        lambda d: [{"slot": d, "by": "c"}]
    )


# ---- the test --------------------------------------------------------------------------------


async def test_every_fuzzed_update_is_accepted_or_refused_cleanly_and_leaves_no_partial_state(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    started = time.monotonic()
    worker = build_worker(ts_env.client, services)  # production config: see the module docstring
    async with worker:
        h = Harness(ts_env, services)
        await h.start()
        assert h.pools is not None
        strategies = payloads(h.pools)
        loop = asyncio.get_running_loop()

        def run(coro: Awaitable[T]) -> T:
            async def wrapped() -> T:
                return await coro

            return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(timeout=120)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def one_update(data: st.DataObject) -> None:
            kind = data.draw(st.sampled_from(KINDS), label="case")
            name = data.draw(
                st.one_of(st.sampled_from(UPDATES), st.sampled_from(UPDATES), st.sampled_from(UPDATES),
                          st.sampled_from(NOT_UPDATES), st.text(max_size=12)),
                label="update",
            )
            # Mostly the update's own payloads; sometimes another update's, or naive datetimes.
            source = data.draw(
                st.one_of(st.just(name), st.just(name), st.just(name), st.sampled_from(UPDATES)),
                label="payload of",
            )
            if source == "book_consult" and data.draw(st.booleans(), label="naive"):
                args = data.draw(_naive_datetimes(), label="args")
            else:
                args = data.draw(strategies.get(source, strategies["close"]), label="args")
            run(h.check(kind, name, args))

        await asyncio.to_thread(one_update)
        await h.final_check()

    elapsed = time.monotonic() - started
    accepted = sum(v for k, v in h.outcomes.items() if k.endswith(" accepted"))
    refused = sum(v for k, v in h.outcomes.items() if k.endswith(" refused"))
    print(f"\nupdate fuzzing: {h.examples} examples in {elapsed:.1f}s, {accepted} accepted,"
          f" {refused} refused, {h.opened} cases opened")
    for key, count in sorted(h.outcomes.items()):
        print(f"  {count:4d}  {key}")
    report = "\n".join(
        f"- {sig} (x{len(details)})\n    e.g. {details[0][:1500]}" for sig, details in h.findings.items()
    )
    assert not h.findings, f"{len(h.findings)} kind(s) of problem:\n{report}"
    assert h.examples >= EXAMPLES

