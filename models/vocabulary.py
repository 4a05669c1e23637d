"""The case's word lists (stages, record types, reasons for more information), without pydantic.

The thin CLI offers these as choices and must start fast, so it imports them from here
rather than from `models.case` (which pulls in pydantic); `models.case` re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    INTAKE = "INTAKE"
    ELIGIBILITY = "ELIGIBILITY"
    GATHERING_RECORDS = "GATHERING_RECORDS"
    ASSIGNING_SPECIALIST = "ASSIGNING_SPECIALIST"
    UNDER_REVIEW = "UNDER_REVIEW"
    REPORT_DELIVERED = "REPORT_DELIVERED"
    CONSULT = "CONSULT"
    CLOSED = "CLOSED"
    INELIGIBLE = "INELIGIBLE"
    LAPSED = "LAPSED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STAGES


TERMINAL_STAGES = frozenset({Stage.CLOSED, Stage.INELIGIBLE, Stage.LAPSED, Stage.CANCELLED})


class RecordType(StrEnum):
    OPERATIVE_REPORT = "operative_report"
    BIOPSY_REPORT = "biopsy_report"
    DISCHARGE_SUMMARY = "discharge_summary"
    TREATMENT_PLAN = "treatment_plan"
    IMAGING = "imaging"
    LAB_RESULT = "lab_result"
    OTHER = "other"
    SMO_REPORT = "smo_report"


class InfoReason(StrEnum):
    MISSING_RECORD = "missing_record"
    ILLEGIBLE_RECORD = "illegible_record"
    CLARIFICATION = "clarification"
