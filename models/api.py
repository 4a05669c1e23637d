"""The JSON API's request and response bodies (`/api/v1/...`); they are its OpenAPI schemas.

Request bodies never carry who is acting: the API takes that from the caller's token.
Case views reuse the workflow's own models (`CaseStatus`, `UpdateAck`'s fields).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Self
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from models.case import (
    AwareDatetime,
    CaseId,
    EligibilityFacts,
    InfoReason,
    RecordType,
    Stage,
)
from models.consult import ConsultOutcome
from models.input_text import LANGUAGE_PATTERN, NO_NUL_PATTERN, REASON_PATTERN, Email, Phone
from models.intake import PatientIntake
from models.vocabulary import Language

# Every limit the server enforces is stated here, so the OpenAPI document (built from these
# models) takes nothing the server refuses for its form alone: no NUL in any text, and a
# reason of at least three characters once its ends are stripped.
# The OpenAPI document lists the programs the service runs where a field carries this mark.
PROGRAMS_MARK = "x-smo-programs"
ProgramName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40, pattern=NO_NUL_PATTERN),
    Field(json_schema_extra={PROGRAMS_MARK: True}),
]
# A roster id's shape (SP-ONC-001), as the signed assignment links take it.
SpecialistId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
ReasonText = Annotated[
    str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True, pattern=REASON_PATTERN)
]


# The names and tags (en, km-KH, English, Khmer) the service reads as a language it speaks
# (`models.vocabulary.language_of`); a tag of any other language is refused, never read as
# English without a word. Spelled out case by case, so the schema's pattern means the same
# to an ECMA reader as to Python.
SPOKEN_NAMES = ("en", "eng", "english", "km", "khm", "kh", "khmer")
SPOKEN = "the service speaks en and km"
_EITHER_CASE = "|".join("".join(f"[{c}{c.upper()}]" for c in name) for name in SPOKEN_NAMES)
SPOKEN_PATTERN = rf"^(?:{_EITHER_CASE})(-[A-Za-z0-9]{{1,8}}){{0,3}}$"


def _spoken(tag: str) -> str:
    # LANGUAGE_PATTERN has checked the tag's shape; this, that it names a language we speak.
    if not re.fullmatch(SPOKEN_PATTERN, tag):
        raise ValueError(SPOKEN)
    return tag


SpokenLanguage = Annotated[
    str,
    StringConstraints(max_length=35, pattern=LANGUAGE_PATTERN),
    AfterValidator(_spoken),
    WithJsonSchema({"type": "string", "maxLength": 35, "pattern": SPOKEN_PATTERN}),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberDetails(PatientIntake):
    """The member's details as the API takes them: the intake sheet, in a language we speak.

    A sheet that leaves out `language` or `sex` on a replacement keeps the case's own
    (web.api.cases.update_details).
    """

    language: SpokenLanguage = "en"


class DetailsReplacement(MemberDetails):
    """A replacement of the member's details. The member's questions are those asked when the
    case opened: a replacement keeps them (it sends none)."""

    questions: list[str] = Field(default=[], max_length=0)


class OpenCase(Body):
    """A new case: the member's details (stored encrypted) and what the coordinator asserts."""

    program: ProgramName
    details: MemberDetails
    facts: EligibilityFacts = EligibilityFacts()
    case_id: CaseId | None = None
    treating_institution: str | None = Field(default=None, max_length=120, pattern=NO_NUL_PATTERN)
    follow_up_of: CaseId | None = None
    override_reason: ReasonText | None = None


class CompleteRecordsBody(Body):
    waive: list[RecordType] = Field(default=[], max_length=8)
    # The completeness check's other items, as `status` lists them in `records_unmet`.
    waive_checks: list[Annotated[str, Field(pattern=r"^(translation|recent):[0-9a-f]{12}$")]] = Field(
        default=[], max_length=50
    )
    waive_reason: ReasonText | None = None


class AssignBody(Body):
    specialist_id: SpecialistId


class DeclineBody(Body):
    specialist_id: SpecialistId
    reason: ReasonText


class RequestInfoBody(Body):
    reason: InfoReason
    record_types: list[RecordType] = Field(default=[], max_length=8)


class BookConsultBody(Body):
    slot: AwareDatetime


class RescheduleConsultBody(BookConsultBody):
    """The consult's new slot (the path names the consult by its number)."""


def _digits(value: object) -> object:
    # A path's text: digits only (pydantic would read " 1", "+1", "1_0" or "1.0" as a number).
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,9}", value):
        raise ValueError("a consult number is 1 to 999, in digits")
    return value


class ConsultNumber(Body):
    """The consult a call means, by the number its invitation carries: a stale page or a repeated
    command never moves another one."""

    number: Annotated[int, Field(ge=1, le=999), BeforeValidator(_digits)]


class CompleteConsultBody(Body):
    """How the booked consult went; a call without an outcome (or without a body) says it was held."""

    outcome: ConsultOutcome = ConsultOutcome.DONE


def _hours_after(hour: int) -> str:
    """A pattern of the two-digit hours after `hour`, to 23: 8 gives 09|1[0-9]|2[0-3]."""
    parts = []
    for tens in range(3):
        low, high = max(hour + 1, tens * 10), min(23, tens * 10 + 9)
        if low <= high:
            parts.append(f"{tens}{low % 10}" if low == high else f"{tens}[{low % 10}-{high % 10}]")
    return "|".join(parts)


def _span_pattern() -> str:
    """HH:MM-HH:MM on the hour or half hour, the end after the start, at 24:00 at the latest: the
    slot rule's span (calendars.consult_slots.parse_span) spelled out for the schema, whose
    readers cannot compare two times."""
    starts = []
    for hour in range(24):
        later = _hours_after(hour)
        ends = f"(?:(?:{later}):[03]0|24:00)" if later else "24:00"
        starts.append(f"{hour:02d}:(?:00-(?:{hour:02d}:30|{ends})|30-{ends})")
    return "^(?:" + "|".join(starts) + ")$"


SPAN_PATTERN = _span_pattern()
SPAN = "HH:MM-HH:MM on the hour or half hour, the end after the start (at 24:00 at the latest)"
# The IANA zones this machine's zone data holds, which the slot rule loads; "localtime" is the
# server's own clock and "Factory" no one's.
TIME_ZONES = sorted(available_timezones() - {"localtime", "Factory", "posixrules"})
ZONE_SET = frozenset(TIME_ZONES)  # the API's and the portal's one list of zones
ZONE = "not a time zone the service knows (an IANA name such as Asia/Phnom_Penh)"


def _span(text: str) -> str:
    if not re.fullmatch(SPAN_PATTERN, text):
        raise ValueError(SPAN)
    return text


def _zone(name: str) -> str:
    if name not in ZONE_SET:
        raise ValueError(ZONE)
    return name


class ConsultHoursBody(Body):
    """The hours the member takes calls, every day, in their own zone (the desk sets them for
    the member as the member's page does)."""

    zone: Annotated[
        str,
        StringConstraints(max_length=64),
        AfterValidator(_zone),
        WithJsonSchema({"type": "string", "enum": TIME_ZONES}),
    ]
    hours: Annotated[
        str,
        StringConstraints(max_length=11),
        AfterValidator(_span),
        WithJsonSchema({"type": "string", "maxLength": 11, "pattern": SPAN_PATTERN}),
    ]


class ConsultHours(BaseModel):
    """The hours the member takes calls now: their setting, or 08:00-21:00 in Asia/Phnom_Penh."""

    case_id: str
    zone: str
    hours: str


class ConsultSlot(BaseModel):
    """A consult slot, its start and end in the member's zone with their UTC offsets."""

    start: AwareDatetime
    end: AwareDatetime
    specialist_local: str  # "Mon 14 Dec 2026 18:00 CST"
    member_local: str  # "Tue 15 Dec 2026 07:00 ICT"
    reason: str | None = None  # a near-miss's one broken rule


class ConsultSlots(BaseModel):
    case_id: str
    specialist_id: str
    # The earliest start the notice allows now: a booked consult before it can no longer move.
    earliest: AwareDatetime
    slots: list[ConsultSlot]
    near_misses: list[ConsultSlot] = []  # when no slot fits: the nearest that break one rule


class ReasonBody(Body):
    reason: ReasonText


class Empty(Body):
    pass


def _spoken_code(value: object) -> object:
    # A list or an object is not hashable: test the type before the set, or it raises TypeError.
    if not isinstance(value, str) or value not in {language.value for language in Language}:
        raise ValueError(SPOKEN)
    return value


def _given_or_left_out(schema: dict[str, Any]) -> None:
    """The schema of a change: at least one field, and each one a value (null is not one)."""
    schema["minProperties"] = 1
    for prop in schema["properties"].values():
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        prop.update(options[0] if options else {})


class DetailsChange(Body):
    """A change to some of the member's details; what is left out stays as the case has it.

    An empty `phone` removes the number on file. A language is its code: en or km.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_given_or_left_out)

    language: Annotated[Language, BeforeValidator(_spoken_code)] | None = None
    email: Email | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.changes():
            raise ValueError("give at least one of language, email, phone")
        return self

    def changes(self) -> dict[str, str]:
        """The fields given, as the intake sheet stores them."""
        return {k: str(v) for k, v in self.model_dump(mode="json", exclude_none=True).items()}


class ActionResult(BaseModel):
    """The answer to a case-changing call; `done` is false (HTTP 202) while the case finishes it."""

    case_id: str
    stage: Stage | None
    detail: str = ""
    done: bool = True


class CaseSummary(BaseModel):
    """One line of a case list, from the case read model (no PHI)."""

    case_id: str
    stage: str
    program: str
    specialty: str
    sla_state: str
    due_at: datetime | None
    status: str
    attention: str | None = None


class CaseList(BaseModel):
    cases: list[CaseSummary]


class AuditEntry(BaseModel):
    at: datetime
    case_id: str | None
    actor: str
    action: str
    outcome: str
    detail: str


class AuditTrail(BaseModel):
    events: list[AuditEntry]


class SpecialistEntry(BaseModel):
    specialist_id: str
    name: str
    specialty: str
    board: str
    board_certified: bool
    capacity: int
    affiliation: str


class Roster(BaseModel):
    specialists: list[SpecialistEntry]


class OutboxMessage(BaseModel):
    to: str
    subject: str
    case_id: str | None


class Outbox(BaseModel):
    messages: list[OutboxMessage]
    directory: str


class ErrorBody(BaseModel):
    """Every refusal: one sentence a coordinator can act on, and the request's id."""

    error: str
    request_id: str | None = None
