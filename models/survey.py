"""The member's three-question survey after the report: how satisfied (1 to 5), whether they
will follow the advice, and a comment. Sent by a signed link in their language, reminded once,
then it lapses. The comment is PHI (an encrypted sheet); the two answers are codes the case
keeps and the case DB counts in the outcomes report."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from models.input_text import Actor, Sha256

SEND_AFTER = timedelta(days=1)  # a day after the report: the member has read it first
REMIND_AFTER = timedelta(days=3)
LAPSE_AFTER = timedelta(days=10)


class Survey(BaseModel):
    due_at: datetime | None = None  # when it goes out (set when the report is delivered)
    sent_at: datetime | None = None
    reminded: bool = False
    lapsed: bool = False
    answered_at: datetime | None = None
    satisfaction: int | None = None
    will_follow: bool | None = None

    @property
    def open(self) -> bool:
        return self.sent_at is not None and self.answered_at is None and not self.lapsed

    def next_instant(self) -> datetime | None:
        """When the survey goes out, then its reminder, then its lapse (None once it is done)."""
        if self.sent_at is None:
            return self.due_at
        if not self.open:
            return None
        return self.sent_at + (LAPSE_AFTER if self.reminded else REMIND_AFTER)


class AnswerSurvey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    satisfaction: int = Field(ge=1, le=5)
    will_follow: bool
    comment_doc_id: Sha256 | None = None
    by: Actor


class SendSurvey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: Actor


class SurveyRecord(BaseModel):
    """One answered survey for the case DB (activity `record_survey`)."""

    case_id: str
    program: str
    answered_at: datetime
    satisfaction: int
    will_follow: bool
