"""The JSON API's request and response bodies (`/api/v1/...`); they are its OpenAPI schemas.

Request bodies never carry who is acting: the API takes that from the caller's token.
Case views reuse the workflow's own models (`CaseStatus`, `UpdateAck`'s fields).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.case import (
    AwareDatetime,
    CaseId,
    EligibilityFacts,
    InfoReason,
    RecordType,
    Stage,
)
from models.input_text import NO_NUL_PATTERN, REASON_PATTERN
from models.intake import PatientIntake

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


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenCase(Body):
    """A new case: the member's details (stored encrypted) and what the coordinator asserts."""

    program: ProgramName
    details: PatientIntake
    facts: EligibilityFacts = EligibilityFacts()
    case_id: CaseId | None = None
    treating_institution: str | None = Field(default=None, max_length=120, pattern=NO_NUL_PATTERN)
    follow_up_of: CaseId | None = None
    override_reason: ReasonText | None = None


class CompleteRecordsBody(Body):
    waive: list[RecordType] = Field(default=[], max_length=8)
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


class ReasonBody(Body):
    reason: ReasonText


class Empty(Body):
    pass


class ActionResult(BaseModel):
    """The answer to a case-changing call; `done` is false (HTTP 202) while the case finishes it."""

    case_id: str
    stage: Stage | None
    detail: str = ""
    done: bool = True


class CaseSummary(BaseModel):
    """One line of a case list, from the visibility store's search attributes (no PHI)."""

    case_id: str
    stage: str
    program: str
    specialty: str
    sla_state: str
    due_at: datetime | None
    status: str


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
