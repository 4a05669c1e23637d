"""The document store stops answering while a case works alone: the case's activities are retried
under their policy, then the case says so in SmoAttention ("document store unavailable") and
tries again later; once the store is back the work is done and the flag goes.

The service keeps its documents in SeaweedFS through a relay the test cuts, then restores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import Stage
from models.notices import NoticeKind
from tests import scenario
from tests.polling import eventually
from tests.relayed import cut_relay, relayed_services  # noqa: F401  (fixtures, used by name)
from tests.seaweed import Relay
from tests.test_consult_lifecycle import attention
from tests.test_notice_moments import member_mail
from worker import Services
from workflows.case.options import ESCALATION_PAUSE, STORE_DOWN

pytestmark = pytest.mark.s3


def later(env: WorkflowEnvironment, handle: scenario.Handle) -> Callable[[], Awaitable[str | None]]:
    """The case's attention, each time 20 s later on the test server's clock: the retries'
    backoffs are timers there, skipped rather than waited for."""

    async def probe() -> str | None:
        await env.sleep(timedelta(seconds=20))
        return await attention(handle)

    return probe


async def test_a_case_whose_store_is_down_says_so_and_sends_its_email_once_the_store_is_back(
    ts_env: WorkflowEnvironment, services: Services, ts_worker: Worker, relay: Relay
) -> None:
    inp = scenario.case_input(services, "KH-STORE-DOWN")  # the details sheet is in the store
    relay.cut()
    handle = await scenario.start(ts_env.client, services.settings, inp)
    # The welcome email reads the member's details sheet from the store: it cannot.
    await eventually(later(ts_env, handle), lambda flag: flag == STORE_DOWN)
    assert NoticeKind.CASE_OPENED not in member_mail(services, "KH-STORE-DOWN")
    escalated = await scenario.noted(handle, "escalated")
    first = next(t.detail for t in escalated.timeline if t.event == "escalated")
    assert first.startswith("email case_opened")

    relay.restore()
    # The case waits out its escalation pause (15 minutes at first), then tries again.
    await ts_env.sleep(ESCALATION_PAUSE + timedelta(minutes=1))
    await eventually(lambda: attention(handle), lambda flag: flag is None)
    assert NoticeKind.CASE_OPENED in member_mail(services, "KH-STORE-DOWN")
    assert (await scenario.status(handle)).stage is Stage.GATHERING_RECORDS
