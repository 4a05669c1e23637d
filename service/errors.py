"""A case's refusals as the edges see them: a mistake the caller can fix, a missing case, a conflict.

Each edge words them its own way (a JSON error, a plain page, an `error:` line); what is a
refusal, and its one readable line, is decided here.
"""

from __future__ import annotations

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode


class UserError(Exception):
    """A mistake the coordinator can fix; shown as one line, never a traceback."""


class NoCase(UserError):
    """The case does not exist (the API answers 404)."""


class CaseConflict(UserError):
    """The case exists but its state refuses the request (the API answers 409)."""


def explain(exc: BaseException) -> str | None:
    """One readable line for a refusal the caller can act on, else None."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        while cause is not None and isinstance(cause, ApplicationError) and cause.cause is not None:
            cause = cause.cause
        return getattr(cause, "message", None) or str(cause or exc)
    return None


def is_refusal(exc: BaseException) -> bool:
    """A definite refusal (the change was not applied), as opposed to a timeout or a crash."""
    if isinstance(exc, RPCError):
        # The case ended between the caller's check and the update: nothing was applied.
        return exc.status is RPCStatusCode.NOT_FOUND
    return isinstance(exc, (WorkflowUpdateFailedError, UserError))
