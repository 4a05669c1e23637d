"""The JSON API's request and response bodies (`/api/v1/...`); they are its OpenAPI schemas.

Request bodies never carry who is acting: the API takes that from the caller's token.
Case views reuse the workflow's own models (`CaseStatus`, `UpdateAck`'s fields).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from models.case import (
    AwareDatetime,
    CaseId,
    EligibilityFacts,
    InfoReason,
    RecordType,
    ShortText,
    Stage,
)
from models.intake import PatientIntake


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenCase(Body):
    """A new case: the member's details (stored encrypted) and what the coordinator asserts."""

    program: str = Field(min_length=1, max_length=40)
    details: PatientIntake
    facts: EligibilityFacts = EligibilityFacts()
    case_id: CaseId | None = None
    treating_institution: str | None = Field(default=None, max_length=120)
    follow_up_of: CaseId | None = None
    override_reason: ShortText | None = None


class CompleteRecordsBody(Body):
    waive: list[RecordType] = Field(default=[], max_length=8)
    waive_reason: ShortText | None = None


class AssignBody(Body):
    specialist_id: str = Field(min_length=1, max_length=40)


class DeclineBody(Body):
    specialist_id: str = Field(min_length=1, max_length=40)
    reason: ShortText


class RequestInfoBody(Body):
    reason: InfoReason
    record_types: list[RecordType] = Field(default=[], max_length=8)


class BookConsultBody(Body):
    slot: AwareDatetime


class ReasonBody(Body):
    reason: ShortText


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
