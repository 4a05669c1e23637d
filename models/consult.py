"""What the desk, the member and the specialist ask of a booked telephone consult.

A consult has a number (its invitation's UID names it) and a sequence (how often it moved):
a reschedule or a cancel names the number it means, so a stale page or a repeated command
never moves another consult. After the call, the outcome says whether it took place: a
specialist who did not come owes the member a free rebooking, and so does a member's first
absence.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from models.case import Actor, AwareDatetime, Frozen


class ConsultOutcome(StrEnum):
    DONE = "done"
    MEMBER_ABSENT = "member_absent"
    SPECIALIST_ABSENT = "specialist_absent"


class BookConsult(Frozen):
    slot: AwareDatetime
    by: Actor


class CompleteConsult(Frozen):
    by: Actor
    # Older clients send no outcome: they only ever marked a consult held.
    outcome: ConsultOutcome = ConsultOutcome.DONE


class RescheduleConsult(Frozen):
    number: int = Field(ge=1, le=999)
    slot: AwareDatetime
    by: Actor


class CancelConsult(Frozen):
    number: int = Field(ge=1, le=999)
    by: Actor


class ConsultAvailabilityRequest(Frozen):
    """Whether any slot fits the member and the specialist (asked when the report is out)."""

    case_id: str
    specialist_id: str
    calendars: list[str]
    length_minutes: int
    notice_working_days: int
    at: AwareDatetime  # the case's own "now" (a test server's skipped clock included)


class NearMiss(Frozen):
    start: AwareDatetime
    reason: str  # the one rule it breaks, in the rule's plain English


class ConsultAvailability(Frozen):
    slots: int
    near_misses: list[NearMiss] = Field(default_factory=list)
