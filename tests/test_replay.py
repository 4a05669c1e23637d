"""Recorded histories of finished cases replay against the current workflow code.

A change that alters the commands a running case issues fails here: gate it with
`workflow.patched` (CONTRIBUTING.md). The histories come from tests/record_histories.py
and are encrypted with the test-only key in tests/histories/codec-keys.txt.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from models.case import CaseInput, CaseResult
from security.codec import data_converter
from security.keys import KeyRing
from tests import scenario
from tests.record_histories import HISTORIES_DIR, SCENARIOS, fixture_key_spec, workflow_id_for_history
from workflows.smo_case import SmoCaseWorkflow

HISTORIES = sorted(HISTORIES_DIR.glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id_for_history(path.stem), path.read_text(encoding="utf-8"))


def _replayer(changed: type | None = None) -> Replayer:
    """The production workflow in the sandbox, or a changed copy defined in this module.

    The sandbox re-imports a workflow's module; this test module pulls in pytest, which
    the sandbox cannot import, so the changed copies run unsandboxed.
    """
    keys = data_converter(KeyRing.parse(fixture_key_spec()))
    if changed is None:
        return Replayer(workflows=[SmoCaseWorkflow], data_converter=keys)
    return Replayer(workflows=[changed], data_converter=keys, workflow_runner=UnsandboxedWorkflowRunner())


def test_the_recorder_left_a_history_for_every_scenario() -> None:
    # One case per scenario; the assist-america follow-up records its original too.
    assert len(HISTORIES) >= len(SCENARIOS) + 1, [p.name for p in HISTORIES]


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_case_replays_against_the_current_workflow_code(path: Path) -> None:
    history = _history(path)
    last = history.events[-1]
    # A finished case, or an earlier run of one that continued as new (`<name>@run<N>`).
    continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
    completed = last.HasField("workflow_execution_completed_event_attributes")
    assert continued if "@run" in path.stem else completed, path.name
    await _replayer().replay_workflow(history)


# ---- the guard: changed workflow code no longer replays old histories -----------------------


@workflow.defn(name="SmoCase")
class NotifiesFirst(SmoCaseWorkflow):
    """A careless change: a new first activity (an email) before the case is registered."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        await workflow.execute_activity(
            "send_notice", {"case_id": inp.case_id}, start_to_close_timeout=timedelta(seconds=5)
        )
        return await super().run(inp)


@workflow.defn(name="SmoCase")
class EligibilityFirst(SmoCaseWorkflow):
    """A careless change: two local activities swapped (eligibility before registration)."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        await self._eligible()
        return await super().run(inp)


@workflow.defn(name="SmoCase")
class PausesFirst(SmoCaseWorkflow):
    """Another careless change: a new timer before anything else."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


@workflow.defn(name="SmoCase")
class PausesFirstWhenPatched(SmoCaseWorkflow):
    """The same change done right: cases that started before it keep their old path."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        if workflow.patched("pause-before-register"):
            await workflow.sleep(timedelta(seconds=1))
        return await super().run(inp)


@pytest.mark.parametrize("changed", [NotifiesFirst, PausesFirst], ids=lambda c: c.__name__)
async def test_a_workflow_change_that_issues_another_first_command_fails_replay_as_nondeterministic(
    changed: type,
) -> None:
    history = _history(HISTORIES_DIR / "prudential-happy-path.json")
    with pytest.raises(workflow.NondeterminismError):
        await _replayer(changed).replay_workflow(history)


async def test_a_workflow_change_that_swaps_two_local_activities_fails_replay() -> None:
    # Local activity markers are matched by sequence number, not by activity type: the swap
    # surfaces as a result that does not decode into the other activity's type. Swapped local
    # activities with compatible result types would replay silently: gate them all the same.
    history = _history(HISTORIES_DIR / "prudential-happy-path.json")
    # The registration's recorded result does not decode as an eligibility decision: the
    # activation fails with that ValidationError (and with nothing else).
    with pytest.raises(RuntimeError, match=r'activation completion failed.*type: "ValidationError"'):
        await _replayer(EligibilityFirst).replay_workflow(history)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_the_same_change_gated_by_workflow_patched_still_replays_old_cases(path: Path) -> None:
    await _replayer(PausesFirstWhenPatched).replay_workflow(_history(path))


# ---- what the recorded files may contain -----------------------------------------------------


def _payloads(node: Any) -> list[dict[str, Any]]:
    """Every {metadata, data} payload in a history's JSON."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            found.append(node)
        for value in node.values():
            found.extend(_payloads(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_payloads(value))
    return found


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_a_recorded_history_carries_no_patient_details_in_clear(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    clear = [text]
    for payload in _payloads(json.loads(text)):
        encoding = base64.b64decode(payload["metadata"]["encoding"])
        if encoding != b"binary/encrypted" and "data" in payload:
            clear.append(base64.b64decode(payload["data"]).decode("utf-8", "replace"))
    patient = scenario.intake()
    for secret in (
        patient.patient_name,
        "Sokha",
        patient.diagnosis_text,
        "carcinoma",
        patient.email,
        patient.phone,
        patient.date_of_birth.isoformat(),
    ):
        assert not any(secret.lower() in c.lower() for c in clear), f"{secret!r} in clear in {path.name}"
    assert len(text) < 128 * 1024, f"{path.name} is {len(text)} bytes: keep recorded cases small"
