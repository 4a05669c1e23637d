import asyncio, time
from temporalio.testing import WorkflowEnvironment
from temporalio.api.enums.v1 import EventType
from tests import scenario
from worker import Services, build_worker
from models.case import UpdateAck, Stage

async def test_none(ts_env: WorkflowEnvironment, services: Services) -> None:
    async with build_worker(ts_env.client, services):
        inp = scenario.case_input(services, "DBG-1")
        h = await scenario.start(ts_env.client, services.settings, inp)
        await scenario.until(ts_env, h, Stage.GATHERING_RECORDS)
        t = time.monotonic()
        try:
            r = await asyncio.wait_for(h.execute_update("cancel", args=[None], result_type=UpdateAck), 5)
            print("accepted", r)
        except BaseException as e:
            print("ERR", type(e), e, getattr(e, "cause", None))
        print("took", time.monotonic() - t)
        hist = await h.fetch_history()
        print([EventType.Name(e.event_type) for e in hist.events][-8:])
        try:
            print(await asyncio.wait_for(scenario.status(h), 3))
        except BaseException as e:
            print("QERR", type(e), e)
