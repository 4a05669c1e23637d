"""Specialist assignment as the case asks for it, and the roster's answer."""

from __future__ import annotations

from pydantic import BaseModel


class AssignRequest(BaseModel):
    case_id: str
    icd10: str
    assignment_no: int
    requested_id: str | None = None
    exclude: list[str] = []
    treating_institution: str | None = None
    previous_outcome: str = "reassigned"


class AssignmentResult(BaseModel):
    specialist_id: str
    specialty: str
    assignment_no: int


class ReleaseRequest(BaseModel):
    case_id: str
    outcome: str
