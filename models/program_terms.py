"""A program's service terms: the report SLA, the records checklist, consults, the third opinion.

These are the sections of a program file that `Program.terms()` snapshots into
`models.case.ProgramTerms` for the workflow; the eligibility rules are in
`models.program_rules`.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, StringConstraints, field_validator, model_validator

from models.case import Frozen, RecordType
from models.program_fields import ClockTime, Text


def _calendar_code(value: str) -> str:
    # Imported lazily: the calendar module pulls in workalendar, which nothing
    # else in this module needs.
    from calendars.registry import known_calendar_codes

    code = value.strip().upper()
    if code not in known_calendar_codes():
        raise ValueError(f"unknown calendar code {value!r}; use KH, US or US-<state> (e.g. US-TX)")
    return code


class SlaConfig(Frozen):
    """Report turnaround: N working days from receipt of complete records."""

    working_days: int = Field(ge=1, le=60)
    calendars: list[str] = Field(default_factory=lambda: ["KH", "US"], min_length=1)
    timezone: str = "Asia/Phnom_Penh"
    close_of_business: ClockTime = "17:00"
    warn_ratio: float | None = Field(default=0.8, gt=0, lt=1)

    @field_validator("calendars")
    @classmethod
    def _known_calendars(cls, value: list[str]) -> list[str]:
        codes = [_calendar_code(v) for v in value]
        if len(set(codes)) != len(codes):
            raise ValueError("calendar codes must not repeat")
        return codes

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Phnom_Penh)") from exc
        return value


class RecordsConfig(Frozen):
    """The records the specialist needs before the SLA clock starts."""

    required: list[RecordType] = Field(min_length=1)
    document_cap: int | None = Field(default=None, ge=1)
    late_documents_allowed: bool = False
    # Fractions are allowed (0.5 = every 12 hours); days are calendar days, not working days.
    reminder_every_days: float = Field(default=3, gt=0)
    reminders_before_lapse: int = Field(default=3, ge=0)
    # The completeness check (models/records_check.py): the oldest a record of a type may be,
    # in days, and whether every document must be in English or translated into it.
    recency_days: dict[RecordType, Annotated[int, Field(ge=1, le=3660)]] = Field(default_factory=dict)
    english_required: bool = False
    # Chasing a provider asked for records: every N working days (KH), M reminders, then the desk.
    chase_every_working_days: int = Field(default=3, ge=1, le=20)
    chase_times: int = Field(default=2, ge=0, le=10)
    # The working days (KH) a translator has for a document.
    translation_working_days: int = Field(default=1, ge=1, le=20)

    @field_validator("required")
    @classmethod
    def _inputs_only(cls, value: list[RecordType]) -> list[RecordType]:
        if RecordType.SMO_REPORT in value:
            raise ValueError("smo_report is the specialist's output, not a required record")
        if len(set(value)) != len(value):
            raise ValueError("record types must not repeat")
        return value


def _unlimited(value: Any) -> Any:
    # "unlimited" reads better in YAML than null; both mean no cap.
    return None if isinstance(value, str) and value.strip().lower() == "unlimited" else value


class ConsultsConfig(Frozen):
    """Telephone consults with the reviewing doctor after the report."""

    free: Annotated[int | None, BeforeValidator(_unlimited)] = Field(default=1, ge=0)
    price_cents: int = Field(ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    window_days: int = Field(default=30, ge=1)
    # Slots start on the hour or half hour; the notice is counted in working days.
    length_minutes: int = Field(default=30, ge=15, le=120, multiple_of=15)
    notice_working_days: int = Field(default=1, ge=0, le=10)


class FollowUpConfig(Frozen):
    """Written follow-up questions after the report (models/follow_up.py)."""

    questions: int = Field(default=0, ge=0, le=20)
    window_days: int = Field(default=30, ge=1, le=365)
    answer_working_days: int = Field(default=2, ge=1, le=20)


class ThirdOpinionConfig(Frozen):
    enabled: bool = False
    price_cents: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _priced_when_enabled(self) -> ThirdOpinionConfig:
        if self.enabled and self.price_cents is None:
            raise ValueError("price_cents is required when the third opinion is enabled")
        return self


class NoReimbursementNotice(Frozen):
    """The "this service does not pay for treatment" paragraph of the report email."""

    enabled: bool = False
    text: Text | None = None

    @model_validator(mode="after")
    def _text_when_enabled(self) -> NoReimbursementNotice:
        if self.enabled and not self.text:
            raise ValueError("text is required when the notice is enabled")
        return self
