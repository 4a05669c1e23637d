"""The coordinator's override still admits a case the code tables now refuse: a symptom code
under prudential-kh (exclusion d) and a minor skin condition under assist-america."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import OverrideEligibility, Stage
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

REFUSED = [
    ("prudential-kh", "R91.1", "d"),  # a lung nodule on a scan, with no diagnosis yet
    ("assist-america", "L70.0", "complex"),  # acne
]


@pytest.mark.parametrize(("program", "icd10", "code"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_an_override_after_the_refusal_lets_the_case_proceed(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, program: str, icd10: str, code: str
) -> None:
    case_id = f"OVR-{code.upper()}"
    inp = scenario.case_input(services, case_id, program, icd10=icd10)
    handle = await scenario.start(ts_env.client, services.settings, inp)
    refused = await scenario.until(ts_env, handle, Stage.INELIGIBLE)
    assert refused.eligibility is not None
    assert [r.code for r in refused.eligibility.reasons] == [code]
    await handle.execute_update(
        SmoCaseWorkflow.override_eligibility,
        OverrideEligibility(reason="The treating doctor's working diagnosis needs review", by="lead"),
    )
    after = await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    assert any(t.event == "refusal overridden" for t in after.timeline)


@pytest.mark.parametrize(("program", "icd10", "code"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_an_override_given_at_opening_admits_the_case_at_once(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, program: str, icd10: str, code: str
) -> None:
    case_id = f"OVR-OPEN-{code.upper()}"
    inp = scenario.case_input(
        services, case_id, program, icd10=icd10, override_reason="Severe and not responding to treatment"
    )
    handle = await scenario.start(ts_env.client, services.settings, inp)
    after = await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    assert after.eligibility is not None and [r.code for r in after.eligibility.reasons] == [code]
    assert any(t.event == "refusal overridden" for t in after.timeline)
