"""Activity options, retry policies and the small helpers every stage uses."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.billing import PAYMENT_DECLINED


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


DB: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
}


def _outside(*, non_retryable_error_types: frozenset[str] = frozenset()) -> ActivityOptions:
    """An outside system (mail, payments): six attempts over about a minute, then escalation."""
    return {
        "start_to_close_timeout": timedelta(seconds=60),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
            maximum_attempts=6,
            non_retryable_error_types=sorted(non_retryable_error_types) or None,
        ),
    }


# Error types that are business answers whatever flag they arrive with: the retry policy
# stops on them, so the case must not treat them as an outage either.
BUSINESS_ERROR_TYPES = frozenset({PAYMENT_DECLINED})
EMAIL = _outside()
BILLING = _outside(non_retryable_error_types=BUSINESS_ERROR_TYPES)
# After an activity exhausts its retry policy the case escalates, then tries again later.
ESCALATION_PAUSE = timedelta(minutes=15)
MAX_ESCALATION_PAUSE = timedelta(days=1)
DELIVERY_SLACK = timedelta(minutes=1)


class CaseCancelled(Exception):
    """Raised inside the run when a coordinator cancelled the case."""


async def wait(condition: Callable[[], bool], timeout: timedelta | None, summary: str) -> bool:
    """True when the condition held, False when the timer won the race."""
    try:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    except TimeoutError:
        return False
    return True


async def next_deadline(next_instant: Callable[[], datetime | None], summary: str) -> None:
    """Until `next_instant()` names an instant and it passes unchanged (a new one restarts the wait).

    The clocks that run beside the stages wait on this with no timer until they have a deadline,
    so a case that never has one adds nothing to its history.
    """
    while True:
        await workflow.wait_condition(lambda: next_instant() is not None)
        at = next_instant()
        assert at is not None
        moved = await wait(
            lambda at=at: next_instant() != at,  # type: ignore[misc]
            max(at - workflow.now(), timedelta(0)),
            summary,
        )
        if not moved:
            return


# What the case's attention says while the document store does not answer its activities
# (runtime/blobs.py: StoreUnavailable, StoreRefused), whatever they were doing with it.
STORE_DOWN = "document store unavailable"
STORE_ERROR_TYPES = frozenset({"StoreError", "StoreUnavailable", "StoreRefused"})
STORE_ATTENTION_PATCH = "store-attention"
# A document check on the case's own path: a few attempts, then the case escalates and waits.
STORE: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=5
    ),
}


def store_outage(err: BaseException) -> bool:
    """Whether an activity failed because the document store could not be used."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.type in STORE_ERROR_TYPES


def business_error(err: BaseException) -> ApplicationError | None:
    """The business answer inside an activity failure, if that is what it is.

    A failed activity arrives as ActivityError(cause=ApplicationError); a failed local
    activity can arrive as the ApplicationError itself. A business answer is one the
    activity marked non-retryable, or one of the types the retry policies stop on.
    """
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and (cause.non_retryable or cause.type in BUSINESS_ERROR_TYPES):
        return cause
    return None


@contextlib.contextmanager
def refused_on_business_error() -> Iterator[None]:
    """Inside an update: an activity's business refusal becomes the update's own refusal."""
    try:
        yield
    except (ActivityError, ApplicationError) as err:
        business = business_error(err)
        if business is None:
            raise
        raise ApplicationError(business.message, type=business.type, non_retryable=True) from err


def expect(req: object, model: type) -> None:
    """Validators see raw input first: refuse a missing or mistyped payload outright."""
    if not isinstance(req, model):
        raise ValueError(f"expected a {model.__name__} payload")
