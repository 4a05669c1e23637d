"""Retention, legal hold and erasure at the service's boundaries: a program's rule, the erase and
purge activities' inputs and results, and what the API shows of a hold or an erasure.

A program keeps a closed case's documents and member data for `years_after_close` years; the
daily purge then erases it (`how="purged"`), unless it is under legal hold. A supervisor may
erase a closed case on request at any time (`how="erased"`). Either way what is left is the
stub: the case id, its program, dates and counts. No model here carries PHI: a case is known
by its id, its documents only by how many there were.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from models.case import Actor, AwareDatetime, CaseId, CaseStatus, Frozen, ShortText

HowErased = Literal["erased", "purged"]
RETENTION_ACTOR = "retention"  # who the daily purge acts as, in the stub and the audit trail
# Cases one purge run erases before it continues as new with the next ones: about nine history
# events each, so a run stays near 100 events (tests/test_retention_workflows.py).
PURGE_BATCH = 10

# What the program file says of its retention, and what a purged case's stub keeps as its
# reason: the stub's column holds 500 characters.
RetentionReason = Annotated[str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True)]


class RetentionConfig(Frozen):
    """How long a program keeps a closed case, and why (written in the program file)."""

    years_after_close: int = Field(ge=1, le=50)
    reason: RetentionReason


class EraseCase(Frozen):
    """Erase one closed case: its documents, its key and its member data in the case DB."""

    case_id: CaseId
    how: HowErased
    reason: ShortText
    by: Actor


class ErasureResult(Frozen):
    """The stub an erased case leaves (`case_erasures`): its id, dates and counts, no PHI.

    `documents` are the documents the case had registered; `objects` what the store removed on
    the run that completed the erasure (a run resumed after a kill counts only what was left).
    """

    case_id: str
    how: HowErased
    reason: str
    erased_by: str
    program: str
    opened_at: datetime | None
    closed_at: datetime | None
    erased_at: datetime
    documents: int
    objects: int


class PurgeDue(Frozen):
    """Which closed cases are due at `now`: ids after `after`, in id order, at most `limit`."""

    now: AwareDatetime
    after: str = ""
    limit: int = Field(default=PURGE_BATCH, ge=1, le=200)


class DueCase(Frozen):
    case_id: str
    program: str
    reason: RetentionReason  # the program's, kept in the stub


class PurgeList(Frozen):
    cases: list[DueCase]
    more: bool  # the batch was full: there may be more due after its last case


class PurgeCounts(Frozen):
    erased: int = 0
    skipped: int = 0  # refused at the last moment: held, reopened, a legacy case
    failed: int = 0  # the store or the case DB did not answer: due again on the next run
    documents: int = 0
    objects: int = 0


class PurgeRequest(Frozen):
    """The purge's input; a run that continues as new carries its cursor, cut-off time and counts."""

    batch: int = Field(default=PURGE_BATCH, ge=1, le=200)
    after: str = ""
    now: AwareDatetime | None = None  # the first run's time: every run of one purge uses it
    done: PurgeCounts = PurgeCounts()


class HoldState(BaseModel):
    """A case's legal hold as the API shows it: `held` false once released (or never placed)."""

    case_id: str
    held: bool
    reason: str | None = None
    held_by: str | None = None
    held_at: datetime | None = None
    detail: str = ""


class ErasureStarted(BaseModel):
    """An erasure taken on: the erase workflow runs; `GET …/erasure` shows the stub once it is done."""

    case_id: str
    workflow_id: str
    pending: bool = True
    detail: str = "erasure started; GET the case's erasure to see it done"


class CaseView(CaseStatus):
    """A case's status as the API shows it: the workflow's, with its legal hold and its erasure."""

    hold: HoldState | None = None
    erasure: ErasureResult | None = None
