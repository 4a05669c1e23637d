"""Follow-up questions after the report: asked by the member or the desk within the program's
window and count, each answered by the specialist within its own working-day deadline, with
the report's warning and breach escalation.

The question and the answer are PHI: each is an encrypted sheet (`FollowUpText`) the case
holds by id. The case keeps the rest: when, by whom, the deadline and whether it was kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.input_text import Actor, Sha256

FOLLOW_UP_CHARS = 5_000
# Written text once its ends are stripped (U+0085 named apart, as REASON_PATTERN does).
FollowUpWords = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=FOLLOW_UP_CHARS, pattern=r"^\s*[^\s\x00\x85][^\x00]*$"
    ),
]


class FollowUpText(BaseModel):
    """A follow-up question or its answer, as stored (encrypted)."""

    model_config = ConfigDict(extra="forbid")

    text: FollowUpWords


class FollowUp(BaseModel):
    n: int = Field(ge=1)
    question_doc_id: Sha256
    asked_by: str
    asked_at: datetime
    due_at: datetime
    warn_at: datetime | None = None
    warned: bool = False
    breached: bool = False
    answer_doc_id: Sha256 | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.answer_doc_id is None


class FollowUps(BaseModel):
    """The case's follow-up questions, and until when the member may ask one."""

    window_closes_at: datetime | None = None  # set when the report is delivered
    asked: list[FollowUp] = []

    def get(self, n: int) -> FollowUp | None:
        return next((f for f in self.asked if f.n == n), None)

    def next_instant(self) -> datetime | None:
        """The next warning or deadline of an unanswered question, if any."""
        times = [f.warn_at for f in self.asked if f.open and not f.warned and f.warn_at is not None]
        times += [f.due_at for f in self.asked if f.open and not f.breached]
        return min(times, default=None)


class AskFollowUp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    question_doc_id: Sha256
    by: Actor


class AnswerFollowUp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(ge=1, le=20)
    answer_doc_id: Sha256
    by: Actor


class FollowUpRoundRecord(BaseModel):
    """One answered question's SLA facts for the case DB (activity `record_follow_up_round`)."""

    case_id: str
    program: str
    n: int = Field(ge=1)
    specialist_id: str = ""
    working_days: int = Field(ge=1)
    calendars: list[str]
    asked_at: datetime
    due_at: datetime
    answered_at: datetime
    warned: bool = False
    breached: bool = False
