"""The slice of a program's rules that the workflow needs, snapshotted at intake.

Apart from `models.case` so that the case's models stay one concern each: what the case is,
and what its program asks of it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.vocabulary import RecordType


class ProgramTerms(BaseModel):
    """The program's terms as the case applies them; a case keeps the terms it was opened under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sla_working_days: int = Field(ge=1)
    calendars: list[str]
    sla_timezone: str = "Asia/Phnom_Penh"
    close_of_business: str = "17:00"
    warn_ratio: float | None = 0.8
    required_records: list[RecordType]
    document_cap: int | None = None
    free_consults: int | None = Field(ge=0, default=1)  # None: unlimited
    consult_price_cents: int = Field(ge=0)
    third_opinion_price_cents: int | None = None
    currency: str = "USD"
    follow_up_allowed: bool = False
    late_documents_allowed: bool = False
    reminder_every_days: float = Field(gt=0, default=3)
    reminders_before_lapse: int = Field(ge=0, default=3)
    consult_window_days: int = Field(ge=1, default=30)
    override_window_days: int = Field(ge=1, default=14)
    report_notice: str = ""  # e.g. the program's no-reimbursement statement
    consult_length_minutes: int = Field(ge=15, default=30)
    consult_notice_working_days: int = Field(ge=0, default=1)
    # Records gathered for the member (`models.records`): how old a record of a type may be
    # (days), whether every document must be in English or translated into it, how often a
    # provider is chased (KH working days) and how many times before the desk is told, and the
    # working days a translation is given.
    recency_days: dict[RecordType, int] = {}
    english_required: bool = False
    chase_every_working_days: int = Field(ge=1, default=3)
    chase_times: int = Field(ge=0, default=2)
    translation_working_days: int = Field(ge=1, default=1)
    # Follow-up questions after the report: how many, within how many days of it, and the
    # working days (on the case's calendars) each answer is given.
    follow_up_questions: int = Field(ge=0, default=0)
    follow_up_window_days: int = Field(ge=1, default=30)
    follow_up_answer_working_days: int = Field(ge=1, default=2)
