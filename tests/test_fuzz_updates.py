"""Fuzzing the case workflow's updates: every payload is accepted or refused cleanly.

Hypothesis draws a case (one per stage a coordinator meets), an update name (real or not)
and a payload (a well-formed model, a raw dict with hostile fields, a JSON string, garbage,
no argument or two). Each one must be accepted, or refused with a readable error; a refusal
must leave the case exactly as it was, and no update may fail a workflow task or the case.

One time-skipping environment and one worker serve the whole run. The worker has the
production configuration (no `workflow_failure_exception_types`), so an exception that
escapes workflow code shows as a WORKFLOW_TASK_FAILED event, which the harness watches for.
Time never skips here (nothing awaits a result), so no SLA timer fires during the run.

The system under test is stateful, so shrinking is off: a problem is reported with the
exact case, stage, update and payload, and the run carries on with a fresh case. What the
fuzzer found is also kept below as fixed scenarios (`test_fixed_*`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlmodel import Session, select
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import FailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

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
    case_id_from_workflow_id,
)
from models.db import Assignment
from tests import scenario
from worker import Services, build_worker

EXAMPLES = 600
# An update that is never going to answer is told from the history (accepted, then the case
# went quiet: nothing in flight that could complete it), not from the clock. These are only
# backstops for what the history cannot show (a local activity retrying inside its task), set
# far beyond what a loaded machine takes: a wall-clock limit near the normal time flakes.
UPDATE_BACKSTOP = 120.0
SETTLE_BACKSTOP = 120.0
QUERY_TIMEOUT = 60.0
ASSIGNED = "<the assigned specialist>"  # replaced by the case's specialist when sent
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


# ---- sending one update and watching what it does --------------------------------------------

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


@dataclass
class Watched:
    """One case, with how much of its history has been inspected."""

    env: WorkflowEnvironment
    handle: scenario.Handle
    seen_events: int = 0
    last: str = "opening"

    async def new_problems(self) -> tuple[bool, bool, list[str]]:
        """(running, idle, problems) from the history since the last look and the pending activities.

        Problems: a WORKFLOW_TASK_FAILED event, a failed case, an activity that is failing, an
        update accepted that nothing left in flight can complete (no workflow task or activity:
        it waits for something that is not coming).
        Idle: no workflow task, activity or update handler in flight.
        """
        convert = self.env.client.data_converter
        events = list((await self.handle.fetch_history()).events)
        problems = []
        for e in events[self.seen_events :]:
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                err = await convert.decode_failure(e.workflow_task_failed_event_attributes.failure)
                problems.append(f"WORKFLOW_TASK_FAILED: {type(err).__name__}: {_chain(err)}")
        self.seen_events = len(events)
        last = events[-1]
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            err = await convert.decode_failure(last.workflow_execution_failed_event_attributes.failure)
            problems.append(f"the case FAILED: {_chain(err)}")
        if last.event_type in _CLOSED_EVENTS:
            return False, True, problems
        n: Counter[int] = Counter(e.event_type for e in events)
        working = (
            n[EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED] > sum(n[t] for t in _TASK_DONE)
            or n[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] > sum(n[t] for t in _ACTIVITY_DONE)
        )
        open_updates = (
            n[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
            - n[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
        )
        if open_updates and not working:
            problems.append(f"{open_updates} update(s) accepted and never answered: the case is idle")
        if working:
            problems.extend(await self.failing_activities())
        busy = working or open_updates > 0
        return True, not busy, problems

    async def failing_activities(self) -> list[str]:
        # The raw call: the test server's search attribute values do not decode in describe().
        desc = await self.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.env.client.namespace, execution=WorkflowExecution(workflow_id=self.handle.id)
            )
        )
        out = []
        for a in desc.pending_activities:
            if a.HasField("last_failure"):
                err = await self.env.client.data_converter.decode_failure(a.last_failure)
                out.append(f"activity {a.activity_type.name} failing (attempt {a.attempt}): {_chain(err)}")
        return out

    async def settle(self) -> tuple[bool, list[str]]:
        """Wait until the case is idle or shows a problem: (running, problems)."""
        deadline = time.monotonic() + SETTLE_BACKSTOP
        while True:
            running, idle, problems = await self.new_problems()
            if problems or idle:
                return running, problems
            if time.monotonic() > deadline:
                return running, [f"still busy {SETTLE_BACKSTOP:.0f}s later (a local activity retrying?)"]
            await asyncio.sleep(0.02)

    async def status(self) -> CaseStatus | None:
        try:
            return await asyncio.wait_for(scenario.status(self.handle), QUERY_TIMEOUT)
        except (TimeoutError, RPCError):
            return None


@dataclass
class Sent:
    ack: UpdateAck | None = None
    refusal: BaseException | None = None
    stuck: list[str] = field(default_factory=list)  # why it never answered


async def send(case: Watched, name: str, args: list[Any]) -> Sent:
    """Send one update; stop early when the case shows a problem instead of answering."""
    update = asyncio.ensure_future(case.handle.execute_update(name, args=args, result_type=UpdateAck))

    async def watch() -> list[str]:
        while True:
            await asyncio.sleep(0.1)
            _, _, problems = await case.new_problems()
            if problems:
                return problems

    watcher = asyncio.ensure_future(watch())
    await asyncio.wait({update, watcher}, timeout=UPDATE_BACKSTOP, return_when=asyncio.FIRST_COMPLETED)
    for task in (watcher, update):
        if not task.done():
            task.cancel()
    await asyncio.gather(watcher, update, return_exceptions=True)
    if watcher.done() and not watcher.cancelled():
        return Sent(stuck=watcher.result())
    if update.cancelled():
        return Sent(stuck=[f"no answer within {UPDATE_BACKSTOP:.0f}s"])
    try:
        return Sent(ack=update.result())
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return Sent(stuck=[f"no answer within {UPDATE_BACKSTOP:.0f}s"])
    except (WorkflowUpdateFailedError, RPCError, ValueError, TypeError, RuntimeError) as err:
        return Sent(refusal=err)


def _with_specialist(args: list[Any], specialist_id: str | None) -> list[Any]:
    """Put the case's own specialist where a payload asks for ASSIGNED."""
    sid = specialist_id or "SP-NONE"
    out: list[Any] = []
    for a in args:
        if isinstance(a, BaseModel) and getattr(a, "specialist_id", None) == ASSIGNED:
            a = a.model_copy(update={"specialist_id": sid})
        elif isinstance(a, dict) and a.get("specialist_id") == ASSIGNED:
            a = a | {"specialist_id": sid}
        elif isinstance(a, str) and ASSIGNED in a:
            a = a.replace(ASSIGNED, sid)
        out.append(a)
    return out


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


async def open_case(env: WorkflowEnvironment, services: Services, kind: Kind, n: int) -> Watched:
    """A case of this kind, waiting in its stage; patient and specialty vary with n."""
    code = CODES[n % len(CODES)]
    policy = kind.policy or scenario.POLICIES[kind.program]
    patient = scenario.intake(kind.program, code, patient_name=f"Fuzz Patient {n}", policy_number=policy)
    inp = scenario.case_input(services, f"FUZZ-{n:04d}", kind.program, patient=patient)
    handle = await scenario.start(env.client, services.settings, inp)
    if kind.stage in (Stage.INELIGIBLE, Stage.GATHERING_RECORDS):
        await scenario.until(env, handle, kind.stage)
    else:
        review = await scenario.to_review(env, handle, services, kind.program)
        if kind.stage is Stage.REPORT_DELIVERED:
            assert review.specialist_id
            await scenario.submit_report(handle, services, review.specialist_id)
            await scenario.until(env, handle, Stage.REPORT_DELIVERED)
    case = Watched(env, handle)
    await case.settle()
    return case


@dataclass
class Pools:
    """Things that exist in the store for every case the fuzzer drives, for payloads that look right.

    A document is stored for one case only (runtime/documents.py), under its content's sha256:
    the same files stored for every case give the same ids, so one payload fits any of them.
    """

    records: list[DocumentRef]
    reports: list[DocumentRef]
    intakes: list[str]
    roster: list[str]
    now: datetime
    files: list[bytes]  # stored again for each case the fuzzer opens

    @classmethod
    async def fill(cls, env: WorkflowEnvironment, services: Services, case_ids: list[str]) -> Pools:
        kinds = [t for t in RecordType if t is not RecordType.SMO_REPORT]
        records = [(f"fuzz record {i}: {t.value}".encode(), t) for i in range(3) for t in kinds]
        reports = [(f"fuzz second opinion {i}".encode(), RecordType.SMO_REPORT) for i in range(3)]
        # A details sheet is stored as its JSON (DocumentStore.put_intake).
        sheets = [scenario.intake(patient_name=f"Fuzz Member {i}").model_dump_json() for i in range(3)]
        files = [content for content, _ in records + reports] + [sheet.encode() for sheet in sheets]

        def refs(pool: Sequence[tuple[bytes, RecordType]]) -> list[DocumentRef]:
            return [DocumentRef(doc_id=_sha(c), record_type=t, size=len(c)) for c, t in pool]

        roster_file = services.settings.specialists_file
        roster = [str(r["specialist_id"]) for r in yaml.safe_load(roster_file.read_text(encoding="utf-8"))]
        intakes = [_sha(sheet.encode()) for sheet in sheets]
        pools = cls(refs(records), refs(reports), intakes, roster, await env.get_current_time(), files)
        for case_id in case_ids:
            await pools.store_for(services, case_id)
        return pools

    async def store_for(self, services: Services, case_id: str) -> None:
        """The pool's files stored for the case: its payloads name documents the case holds."""
        for content in self.files:
            stored = await asyncio.to_thread(services.store.put_bytes, content, case_id)
            assert (stored.doc_id, stored.size) == (_sha(content), len(content))


def _sha(content: bytes) -> str:
    """A document's id: its plaintext's sha256, the same for every case it is stored for."""
    return hashlib.sha256(content).hexdigest()


@dataclass
class Harness:
    env: WorkflowEnvironment
    services: Services
    cases: dict[str, Watched] = field(default_factory=dict)
    retired: list[Watched] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    examples: int = 0
    opened: int = 0
    pools: Pools | None = None  # stored for each case opened once the pools are filled

    async def start(self) -> None:
        await asyncio.gather(*(self.provision(kind) for kind in KINDS))

    async def provision(self, kind: Kind) -> None:
        for _ in range(3):  # another specialty when one has nobody free (see the fixed scenarios)
            self.opened += 1
            try:
                case = await open_case(self.env, self.services, kind, self.opened)
                if self.pools is not None:
                    await self.pools.store_for(self.services, scenario.case_of(case.handle))
                self.cases[kind.name] = case
                return
            except AssertionError as err:
                self.found("a fresh case did not reach its stage", f"{kind.name}: {str(err)[:300]}")
        raise AssertionError(f"could not open a {kind.name} case")

    def found(self, signature: str, detail: str) -> None:
        self.findings.setdefault(signature, []).append(detail)

    async def retire(self, kind: Kind, why: str) -> None:
        """Replace a case that finished (or broke) with a fresh one of the same kind."""
        case = self.cases[kind.name]
        self.retired.append(case)
        self.outcomes[f"case replaced: {why}"] += 1
        with contextlib.suppress(RPCError):  # it may have finished already
            await case.handle.terminate(reason=f"fuzz harness: {why}")
        # What an operator does after terminating a case: free its specialist for others.
        await asyncio.to_thread(_release_specialists, self.services, case_id_from_workflow_id(case.handle.id))
        await self.provision(kind)

    async def check(self, kind: Kind, name: str, args: list[Any]) -> None:
        """One example: send, then judge the answer and the case afterwards."""
        self.examples += 1
        case = self.cases[kind.name]
        before = await case.status()
        if before is None:
            _, problems = await case.settle()
            self.found("a case stopped answering queries", f"{case.handle.id} after {case.last}: {problems}")
            await self.retire(kind, "broken")
            return
        args = _with_specialist(args, before.specialist_id)
        shown = f"{case.handle.id} ({before.stage.value}) {name}({_short(args)})"
        case.last = shown
        sent = await send(case, name, args)
        if sent.stuck:
            self.outcomes["no answer"] += 1
            for p in sent.stuck:
                self.found(f"{name}: no answer, {_signature(p)}", f"{shown}: {p}")
            await self.retire(kind, "broken")
            return
        running, problems = await case.settle()
        for p in problems:
            self.found(f"{name}: {_signature(p)}", f"{shown}: {p}")
        after = await case.status() if running else None
        broken = bool(problems) or (running and after is None)
        if running and after is None:
            self.found(f"{name}: the case stopped answering queries", shown)

        if sent.refusal is not None:
            self.outcomes[f"{name} refused"] += 1
            message = _refusal_message(sent.refusal)
            first = message.strip().splitlines()[0] if message.strip() else ""
            if not first or "Traceback" in message or len(first) > 1000:
                self.found(
                    f"{name}: unreadable refusal", f"{shown}: {type(sent.refusal).__name__}: {message!r}"
                )
            if not isinstance(sent.refusal, (WorkflowUpdateFailedError, RPCError)) and not _client_side(
                sent.refusal
            ):
                self.found(f"{name}: unexpected {type(sent.refusal).__name__}", f"{shown}: {message}")
            if not running:
                self.found(f"{name}: refused, yet the case ended", shown)
            elif after is not None and not _same_case(before, after):
                self.found(
                    f"{name}: refused but changed the case",
                    f"{shown}: refused with {message!r}, yet {_diff(before, after)}",
                )
        else:
            self.outcomes[f"{name} accepted"] += 1
            parsed = _parse(name, args)
            if parsed is None:
                self.found(f"{name}: accepted a payload its model refuses", shown)
            if after is not None and isinstance(parsed, AddRecords):
                added = after.records.documents - before.records.documents
                distinct = len({d.doc_id for d in parsed.documents})
                if not 0 <= added <= distinct:
                    self.found(f"{name}: document count off", f"{shown}: {added} added of {distinct}")
        if broken or not running:
            await self.retire(kind, "broken" if broken else "finished")

    async def final_check(self) -> None:
        for case in [*self.cases.values(), *self.retired]:
            history = await case.handle.fetch_history()
            if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events):
                self.outcomes["cases with a workflow task failure"] += 1
        for case in self.cases.values():
            history = await case.handle.fetch_history()
            if history.events[-1].event_type in _CLOSED_EVENTS:
                self.found("a live case is not running", f"{case.handle.id} after {case.last}")
            with contextlib.suppress(RPCError):
                await case.handle.terminate(reason="fuzz run over")


def _release_specialists(services: Services, case_id: str) -> None:
    with Session(services.engine) as session:
        for a in session.exec(
            select(Assignment).where(Assignment.case_id == case_id, Assignment.status == "active")
        ):
            a.status = "released"
            session.add(a)
        session.commit()


def _signature(problem: str) -> str:
    """The kind of a problem, without the details that vary between examples."""
    return problem.split(":")[0] if not problem.startswith("activity ") else problem.split(" (")[0]


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
    text = f"{type(err).__module__}.{type(err).__name__}: {err}".lower()
    return "pydantic" in text or "serializ" in text or "surrogate" in text


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


CONTINUED = "history continued in a new run"


def _same_case(before: CaseStatus, after: CaseStatus) -> bool:
    """Equal but for the case continuing as new meanwhile (its history reached the budget).

    That note is the workflow's own bookkeeping at an idle point, not the update's doing; a
    note past the kept timeline pushes the oldest entry out, so `after` may start later, and
    the view's version counts that note.
    """
    if after == before:
        return True
    old = [t for t in before.timeline if t.event != CONTINUED]
    new = [t for t in after.timeline if t.event != CONTINUED]
    pushed_out = after.timeline_dropped - before.timeline_dropped
    if len(new) == len(after.timeline) or not 0 <= pushed_out <= len(old) or new != old[pushed_out:]:
        return False
    same = {"timeline": [], "timeline_dropped": 0, "version": 0}
    return after.model_copy(update=same) == before.model_copy(update=same)


def _diff(before: CaseStatus, after: CaseStatus) -> str:
    a, b = before.model_dump(mode="json"), after.model_dump(mode="json")
    changed = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    if "timeline" in changed:
        old, new = changed["timeline"]
        changed["timeline"] = (f"{len(old)} entries", new[len(old) :] if len(new) > len(old) else new)
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
BAD_ACTOR = st.one_of(
    st.just(""), st.just("   "), st.text(min_size=65, max_size=90), HUGE, st.integers(), st.none()
)
SHORT_TEXT = st.text(st.characters(categories=["L", "N", "Zs"]), min_size=3, max_size=60).filter(
    lambda s: len(s.strip()) >= 3
)
BAD_SHORT_TEXT = st.one_of(
    st.just(""), st.just("ab"), st.just("  a  "), st.text(min_size=501, max_size=520), HUGE
)
BAD_ENUM = st.one_of(
    st.sampled_from(["SMO_REPORT", "Imaging", "x-ray", "", "null", "operative report", "smo_report "]),
    st.text(max_size=20),
    st.integers(),
)
BAD_INT = st.one_of(
    st.integers(max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just("12"),
    st.just("twelve"),
    st.just(2**64),
    st.just(True),
    st.none(),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
GARBAGE = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=4),
    st.dictionaries(st.text(max_size=8), SCALAR, max_size=4),
    st.just({"by": "c"} | {f"k{i}": i for i in range(200)}),
)
EXTRA = st.dictionaries(
    st.sampled_from(["extra", "patient_name", "admin", "stage", "by "]), SCALAR, max_size=2
)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Pick among strategies by weight (`one_of` counts a repeated strategy object once)."""
    index = [i for i, (weight, _) in enumerate(options) for _ in range(weight)]
    return st.sampled_from(index).flatmap(lambda i: options[i][1])


def _either(valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return weighted((2, valid), (1, bad))


def _loose(
    fields: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]],
) -> st.SearchStrategy[Any]:
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
    document = weighted((6, stored_record), (1, unstored_record), (1, odd_size))
    report = weighted(
        (4, st.sampled_from(pools.reports)),
        (1, stored_record),
        (1, unstored_record.map(lambda d: d.model_copy(update={"record_type": RecordType.SMO_REPORT}))),
    )
    doc_dict = _loose(
        {
            "doc_id": (st.one_of(stored_record.map(lambda d: d.doc_id), SHA), BAD_SHA),
            "record_type": (st.sampled_from([t.value for t in RecordType]), BAD_ENUM),
            "size": (st.integers(0, 10**6), BAD_INT),
        }
    )
    documents = st.lists(document, min_size=1, max_size=5)
    bad_documents = st.one_of(
        st.just([]), st.lists(doc_dict, max_size=4), document.map(lambda d: [d] * 51), GARBAGE
    )
    specialist = weighted(
        (3, st.just(ASSIGNED)), (2, st.sampled_from(pools.roster)), (1, st.text(min_size=1, max_size=40))
    )
    bad_specialist = st.one_of(st.just(""), st.text(min_size=41, max_size=60), st.integers(), st.none())
    now = pools.now
    slot = st.builds(
        lambda days, minutes, tz: (now + timedelta(days=days, minutes=minutes)).astimezone(tz),
        st.integers(-30, 400),
        st.integers(0, 1440),
        OFFSETS,
    )
    bad_slot = st.one_of(
        slot.map(lambda d: d.replace(tzinfo=None).isoformat()),  # naive
        slot.map(lambda d: d.date().isoformat()),
        st.sampled_from(
            [
                "tomorrow",
                "",
                "2026-13-01T09:00+07:00",
                "2026-12-14T09:00+25:00",
                "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00",
                "2026-12-14 09:00 ICT",
            ]
        ),
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
        "add_record": _loose(
            {"documents": (st.lists(doc_dict, min_size=1, max_size=4), bad_documents), "by": by}
        ),
        "mark_records_complete": _loose(
            {
                "waive": (
                    waive.map(lambda w: [t.value for t in w]),
                    st.one_of(st.lists(BAD_ENUM, max_size=2), GARBAGE),
                ),
                "waive_reason": (st.one_of(st.none(), SHORT_TEXT), BAD_SHORT_TEXT),
                "by": by,
            }
        ),
        "assign_specialist": _loose({"specialist_id": (specialist, bad_specialist), "by": by}),
        "decline": _loose(
            {"specialist_id": (specialist, bad_specialist), "reason": (SHORT_TEXT, BAD_SHORT_TEXT), "by": by}
        ),
        "request_more_info": _loose(
            {
                "reason": (st.sampled_from([r.value for r in InfoReason]), BAD_ENUM),
                "record_types": (waive.map(lambda w: [t.value for t in w]), st.lists(BAD_ENUM, max_size=2)),
                "by": by,
            }
        ),
        "supply_info": _loose({"documents": (st.lists(doc_dict, max_size=3), bad_documents), "by": by}),
        "submit_report": _loose(
            {
                "document": (report.map(lambda d: d.model_dump(mode="json")), st.one_of(doc_dict, GARBAGE)),
                "specialist_id": (specialist, bad_specialist),
                "by": by,
            }
        ),
        "book_consult": _loose({"slot": (slot.map(datetime.isoformat), bad_slot), "by": by}),
        "complete_consult": _loose({"by": by}),
        "request_third_opinion": _loose({"by": by}),
        "close": _loose({"by": by}),
        "cancel": _loose({"reason": (SHORT_TEXT, BAD_SHORT_TEXT), "by": by}),
        "override_eligibility": _loose({"reason": (SHORT_TEXT, BAD_SHORT_TEXT), "by": by}),
        "update_details": _loose(
            {"intake_doc_id": (st.one_of(st.sampled_from(pools.intakes), SHA), BAD_SHA), "by": by}
        ),
    }
    out = {}
    for name in UPDATES:
        model, loose = models[name], raw[name]
        out[name] = weighted(
            (5, model.map(lambda m: [m])),
            (3, loose.map(lambda d: [d])),
            (1, loose.map(lambda d: [json.dumps(d, default=str)])),  # a JSON string, not an object
            (1, GARBAGE.map(lambda g: [g])),
            (1, st.just([])),
            (1, st.tuples(model, GARBAGE).map(list)),
        )
    return out


def _naive_datetimes() -> st.SearchStrategy[Any]:
    """Datetime objects without an offset, as a careless client would send them."""
    return st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
        lambda d: [{"slot": d, "by": "c"}]
    )


# ---- the fuzz run ----------------------------------------------------------------------------


@pytest.fixture
async def production_worker(ts_env: WorkflowEnvironment, services: Services) -> AsyncIterator[Worker]:
    """The worker as `smo worker` builds it: a workflow bug is a task failure, not a failed case."""
    async with build_worker(ts_env.client, services) as worker:
        yield worker


async def test_every_fuzzed_update_is_accepted_or_refused_cleanly_and_leaves_no_partial_state(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    started = time.monotonic()
    h = Harness(ts_env, services)
    await h.start()
    h.pools = await Pools.fill(ts_env, services, [scenario.case_of(case.handle) for case in h.cases.values()])
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
            weighted(
                (8, st.sampled_from(UPDATES)), (1, st.sampled_from(NOT_UPDATES)), (1, st.text(max_size=12))
            ),
            label="update",
        )
        # Mostly the update's own payloads; sometimes another update's, or naive datetimes.
        source = data.draw(
            weighted((5, st.just(name)), (1, st.sampled_from(UPDATES))),
            label="payload of",
        )
        if source == "book_consult" and data.draw(st.booleans(), label="naive"):
            args = data.draw(_naive_datetimes(), label="args")
        else:
            args = data.draw(strategies.get(source, strategies["close"]), label="args")
        run(h.check(kind, name, args))

    # Hypothesis runs in a thread; the worker and the client stay on this event loop.
    await asyncio.to_thread(one_update)
    await h.final_check()

    elapsed = time.monotonic() - started
    accepted = sum(v for k, v in h.outcomes.items() if k.endswith(" accepted"))
    refused = sum(v for k, v in h.outcomes.items() if k.endswith(" refused"))
    print(
        f"\nupdate fuzzing: {h.examples} examples in {elapsed:.1f}s: {accepted} accepted,"
        f" {refused} refused, {h.outcomes['no answer']} without an answer; {h.opened} cases opened"
    )
    for key, count in sorted(h.outcomes.items()):
        if key.split(" ")[0] in MODELS or key.startswith(("case", "no answer")):
            print(f"  {count:4d}  {key}")
    report = "\n".join(
        f"- {sig} (x{len(details)})\n    e.g. {details[0][:1500]}"
        for sig, details in sorted(h.findings.items())
    )
    assert not h.findings, f"{len(h.findings)} kind(s) of problem:\n{report}"
    assert h.examples >= EXAMPLES


# ---- what the fuzzer found, kept as fixed scenarios ------------------------------------------


async def _judged(
    case: Watched, name: str, arg: Any
) -> tuple[Sent, CaseStatus, CaseStatus | None, list[str]]:
    before = await case.status()
    assert before is not None
    sent = await send(case, name, [arg])
    running, problems = (True, sent.stuck) if sent.stuck else await case.settle()
    after = await case.status() if running and not sent.stuck else None
    return sent, before, after, problems


def _assert_refused_cleanly(
    sent: Sent, before: CaseStatus, after: CaseStatus | None, problems: list[str]
) -> None:
    assert not problems, f"the case broke: {problems}"
    assert sent.refusal is not None, f"accepted: {sent.ack}"
    assert _refusal_message(sent.refusal).strip()
    assert after is not None and _same_case(before, after), (
        f"refused, yet {_diff(before, after) if after else 'the case no longer answers'}"
    )


async def _in_consult(env: WorkflowEnvironment, services: Services, n: int) -> Watched:
    case = await open_case(env, services, KINDS[2], n)
    slot = (await env.get_current_time()) + timedelta(days=2)
    await case.handle.execute_update("book_consult", BookConsult(slot=slot, by="c"), result_type=UpdateAck)
    await case.settle()
    return case


NULL_PAYLOAD_STAGES = {
    "cancel": "prudential-gathering",
    "update_details": "prudential-gathering",
    "request_more_info": "prudential-review",
    "close": "prudential-report",
    "request_third_opinion": "prudential-report",
    "override_eligibility": "prudential-ineligible",
    "complete_consult": "consult",
}


@pytest.mark.parametrize("name", list(NULL_PAYLOAD_STAGES))
async def test_fixed_a_null_payload_is_refused_and_nothing_is_charged(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker, name: str
) -> None:
    where = NULL_PAYLOAD_STAGES[name]
    if where == "consult":
        case = await _in_consult(ts_env, services, 900)
    else:
        case = await open_case(ts_env, services, next(k for k in KINDS if k.name == where), 900)
    charges = len(services.ledger.entries())
    # `execute_update(name, None)`: the converter hands the handler None for any model type.
    _assert_refused_cleanly(*await _judged(case, name, None))
    assert len(services.ledger.entries()) == charges, "a refused update charged the customer"


async def test_fixed_a_late_record_missing_from_storage_is_refused_and_the_records_stay_as_they_were(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    case = await open_case(ts_env, services, KINDS[4], 901)  # assist-america takes late documents
    missing = DocumentRef(
        doc_id=hashlib.sha256(b"never stored").hexdigest(), record_type="lab_result", size=9
    )
    _assert_refused_cleanly(*await _judged(case, "add_record", AddRecords(documents=[missing], by="c")))


async def test_fixed_a_record_missing_from_storage_does_not_fail_the_case_when_the_records_are_complete(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    case = await open_case(ts_env, services, KINDS[0], 906)
    missing = DocumentRef(doc_id=hashlib.sha256(b"never stored").hexdigest(), record_type="imaging", size=9)
    docs = [*scenario.required_records(services, "prudential-kh", scenario.case_of(case.handle)), missing]
    sent, _, _, problems = await _judged(case, "add_record", AddRecords(documents=docs, by="c"))
    assert not problems, problems
    if sent.refusal is None:  # accepted: completing the records must not fail the case
        await scenario.attest_consent(case.handle, services)
        done = await _judged(case, "mark_records_complete", CompleteRecords(by="c"))
        assert not done[3], f"the case broke when the records were complete: {done[3]}"


async def test_fixed_a_report_missing_from_storage_is_refused_and_the_case_keeps_running(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    case = await open_case(ts_env, services, KINDS[1], 902)
    review = await case.status()
    assert review is not None and review.specialist_id
    missing = DocumentRef(
        doc_id=hashlib.sha256(b"never stored").hexdigest(), record_type="smo_report", size=9
    )
    report = SubmitReport(document=missing, specialist_id=review.specialist_id, by=review.specialist_id)
    _assert_refused_cleanly(*await _judged(case, "submit_report", report))


async def test_fixed_supplied_information_missing_from_storage_is_refused_and_the_case_keeps_running(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    case = await open_case(ts_env, services, KINDS[1], 903)
    asked = RequestInfo(reason=InfoReason.CLARIFICATION, by="c")
    await case.handle.execute_update("request_more_info", asked, result_type=UpdateAck)
    await case.settle()
    missing = DocumentRef(doc_id=hashlib.sha256(b"never stored").hexdigest(), record_type="imaging", size=9)
    _assert_refused_cleanly(*await _judged(case, "supply_info", SupplyInfo(documents=[missing], by="c")))


async def test_fixed_member_details_missing_from_storage_are_refused_and_notices_keep_working(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    case = await open_case(ts_env, services, KINDS[0], 904)
    details = UpdateDetails(intake_doc_id=hashlib.sha256(b"never stored").hexdigest(), by="c")
    _assert_refused_cleanly(*await _judged(case, "update_details", details))


async def test_fixed_a_document_size_the_case_database_cannot_hold_does_not_stall_the_case(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker
) -> None:
    case = await open_case(ts_env, services, KINDS[0], 905)
    records = scenario.required_records(services, "prudential-kh", scenario.case_of(case.handle))
    docs = [d.model_copy(update={"size": 2**63}) for d in records]
    sent, _, _, problems = await _judged(case, "add_record", AddRecords(documents=docs, by="c"))
    assert not problems, problems
    if sent.refusal is None:  # accepted: completing the records must still lead to a review
        await scenario.attest_consent(case.handle, services)
        done = await _judged(case, "mark_records_complete", CompleteRecords(by="c"))
        assert not done[3], f"the case stalled after the records were complete: {done[3]}"
        current = await scenario.until(ts_env, case.handle, Stage.UNDER_REVIEW)
        assert current.stage is Stage.UNDER_REVIEW


@pytest.mark.parametrize("name", ["request_third_opinion", "decline"])
async def test_fixed_with_no_other_specialist_free_the_case_waits_for_a_coordinator_instead_of_failing(
    ts_env: WorkflowEnvironment, services: Services, production_worker: Worker, name: str
) -> None:
    # K50.90 is gastroenterology, where the roster has one specialist: once that one has
    # given an opinion or declined, nobody else can take the case and a coordinator must
    # assign one (`_auto_assign` escalates and waits).
    n = 903  # CODES[903 % len(CODES)] is K50.90
    assert CODES[n % len(CODES)] == "K50.90"
    kind = KINDS[2] if name == "request_third_opinion" else KINDS[1]
    case = await open_case(ts_env, services, kind, n)
    current = await case.status()
    assert current is not None and current.specialist_id
    arg: BaseModel = (
        RequestThirdOpinion(by="c")
        if name == "request_third_opinion"
        else Decline(specialist_id=current.specialist_id, reason="on leave", by=current.specialist_id)
    )
    sent = await send(case, name, [arg])
    assert sent.ack is not None, sent
    running, problems = await case.settle()
    assert running and not problems, f"the case broke after {name}: {problems}"
    current = await case.status()
    assert current is not None and current.stage is Stage.ASSIGNING_SPECIALIST, current


# ---- the harness's own check: a stuck update is told from the history -------------------------


@workflow.defn(name="NeverAnswers")
class NeverAnswers:
    """An update handler that waits for something nothing will do."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.update
    async def wait_forever(self) -> UpdateAck:
        await workflow.wait_condition(lambda: self._done)
        return UpdateAck(stage=Stage.INTAKE)


async def test_an_update_accepted_that_nothing_will_complete_is_reported_stuck_from_the_history(
    ts_env: WorkflowEnvironment,
) -> None:
    # Unsandboxed: the sandbox would re-import this test module and everything it imports.
    runner = UnsandboxedWorkflowRunner()
    async with Worker(ts_env.client, task_queue="never", workflows=[NeverAnswers], workflow_runner=runner):
        started = await ts_env.client.start_workflow(NeverAnswers.run, id="never-answers", task_queue="never")
        handle = ts_env.client.get_workflow_handle(started.id)
        case = Watched(ts_env, handle)
        sent = await send(case, "wait_forever", [])
        await handle.terminate()
    assert sent.ack is None and sent.refusal is None
    # The history said so: the wall-clock backstop is not what ended the wait.
    assert sent.stuck == ["1 update(s) accepted and never answered: the case is idle"]
