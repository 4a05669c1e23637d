"""Erasure workflows: one closed case on a supervisor's request, and the daily retention purge.

`EraseCaseWorkflow` (id `erase-<case id>`) runs the erase activity once, retried while the
store or the case DB does not answer; a refusal (not closed, under hold, legacy) fails it with
the refusal's own words. `RetentionPurgeWorkflow` is what the `smo-retention-purge` Schedule
starts every day: it lists the closed cases past their program's retention, a batch at a
time, and erases each (`how="purged"`). A case that fails is counted and left for the next
day's run; a case erased halfway by a run that was killed is due again, and finished. Each run
erases one batch, then continues as new from the last case id, so its history stays short.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.retention import (
        RETENTION_ACTOR,
        DueCase,
        EraseCase,
        ErasureResult,
        PurgeCounts,
        PurgeDue,
        PurgeList,
        PurgeRequest,
    )

ERASE_WORKFLOW_PREFIX = "erase-"
PURGE_WORKFLOW_ID = "smo-retention-purge"

# A requested erasure waits out an outage of the store or the case DB for an hour, then fails
# and may be asked again; the purge gives a case a few minutes and leaves it for tomorrow.
ON_REQUEST = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
IN_PURGE = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
# A large case's objects take a while to remove; the activity heartbeats all the while.
ERASE_TIME = timedelta(minutes=30)
ERASE_HEARTBEAT = timedelta(minutes=1)
LIST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))


def erase_workflow_id(case_id: str) -> str:
    return f"{ERASE_WORKFLOW_PREFIX}{case_id}"


def _refusal(err: ActivityError) -> ApplicationError | None:
    """The activity's own refusal (non-retryable, with its type), if that is what ended it."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause
    return None


@workflow.defn(name="SmoEraseCase")
class EraseCaseWorkflow:
    @workflow.run
    async def run(self, req: EraseCase) -> ErasureResult:
        try:
            done: ErasureResult = await workflow.execute_activity(
                "erase_case",
                req,
                retry_policy=ON_REQUEST,
                schedule_to_close_timeout=timedelta(hours=1),
                summary=f"erase case {req.case_id}",
                result_type=ErasureResult,
                start_to_close_timeout=ERASE_TIME,
                heartbeat_timeout=ERASE_HEARTBEAT,
            )
        except ActivityError as err:
            refused = _refusal(err)
            if refused is None:
                raise
            # The workflow fails with the refusal's words and type, as the API then reports it.
            raise ApplicationError(refused.message, type=refused.type, non_retryable=True) from None
        return done


@workflow.defn(name="SmoRetentionPurge")
class RetentionPurgeWorkflow:
    @workflow.run
    async def run(self, req: PurgeRequest) -> PurgeCounts:
        now = req.now or workflow.now()
        due = await workflow.execute_activity(
            "due_for_purge",
            PurgeDue(now=now, after=req.after, limit=req.batch),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=LIST_RETRY,
            result_type=PurgeList,
        )
        counts = req.done
        for case in due.cases:
            counts = await self._erase(case, counts)
        if due.more:
            workflow.continue_as_new(
                PurgeRequest(batch=req.batch, after=due.cases[-1].case_id, now=now, done=counts)
            )
        workflow.logger.info(
            "retention purge: %d erased, %d skipped, %d failed", counts.erased, counts.skipped, counts.failed
        )
        return counts

    async def _erase(self, case: DueCase, counts: PurgeCounts) -> PurgeCounts:
        req = EraseCase(case_id=case.case_id, how="purged", reason=case.reason, by=RETENTION_ACTOR)
        try:
            done = await workflow.execute_activity(
                "erase_case",
                req,
                retry_policy=IN_PURGE,
                result_type=ErasureResult,
                start_to_close_timeout=ERASE_TIME,
                heartbeat_timeout=ERASE_HEARTBEAT,
            )
        except ActivityError as err:
            refused = _refusal(err)
            if refused is not None:
                workflow.logger.info("retention purge: case %s skipped (%s)", case.case_id, refused.type)
                return counts.model_copy(update={"skipped": counts.skipped + 1})
            workflow.logger.warning("retention purge: case %s failed; due again tomorrow", case.case_id)
            return counts.model_copy(update={"failed": counts.failed + 1})
        return counts.model_copy(
            update={
                "erased": counts.erased + 1,
                "documents": counts.documents + done.documents,
                "objects": counts.objects + done.objects,
            }
        )
