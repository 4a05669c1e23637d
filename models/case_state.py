"""Everything a running case knows, in one model: it is what continue-as-new carries.

The case workflow keeps one `CaseState`; each stage changes its own part. Each review
round is one `ReviewRound` (a new round is a new object, nothing is reset by hand), and
side effects an update asks for wait in `intents` until the main flow performs them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from models.billing import ChargeRequest
from models.case import (
    CaseInput,
    DocumentRef,
    EligibilityDecision,
    ProgramTerms,
    RecordType,
    RequestInfo,
    Stage,
    SupplyInfo,
    TimelineEntry,
)
from models.consent import ConsentState
from models.doctor import DoctorShare
from models.follow_up import FollowUps
from models.notices import Notice
from models.opinion import Opinion
from models.records import Gathering
from models.roster import AssignmentResult
from models.sla import CalendarChange
from models.sla_clock import SlaClockRecord
from models.survey import Survey

TIMELINE_KEPT = 60  # entries the status query returns; history and the audit trail keep all


class Phase(StrEnum):
    """Where a continued run picks the case up."""

    OPENING = "opening"
    RECORDS = "records"  # the case-opened notice went out; gathering records
    REVIEW = "review"
    CONSULT = "consult"


class Records(BaseModel):
    docs: dict[str, DocumentRef] = {}
    waived: list[RecordType] = []
    waived_checks: list[str] = []  # the completeness check's items waived (models/records_check.py)
    complete: bool = False
    reminders: int = 0
    # When the next reminder is due: a continued run waits out the rest, not a fresh interval.
    next_reminder_at: datetime | None = None


class ReviewRound(BaseModel):
    """One specialist's round: from the records reaching them to a report or a reassignment."""

    assignment_no: int
    specialist_id: str
    report: DocumentRef | None = None
    declined: bool = False
    info_request: RequestInfo | None = None
    info_supplied: SupplyInfo | None = None
    info_rounds: int = 0
    reassignment_offered: bool = False
    started: bool = False  # the records went out and the clock runs (a continued run skips that)


class ThirdOpinion(StrEnum):
    NONE = "none"
    PAYING = "paying"  # the charge is accepted and not yet taken
    REQUESTED = "requested"


class Consults(BaseModel):
    booked: int = 0
    completed: int = 0
    pending: bool = False  # booked and not yet completed
    slot: datetime | None = None  # the pending consult's time
    third_opinion: ThirdOpinion = ThirdOpinion.NONE
    close_requested: bool = False
    window_closes_at: datetime | None = None
    # Consult numbers given out (each invitation's UID names one; a declined charge never
    # takes a number back), the pending one's number and how often it moved (its SEQUENCE).
    issued: int = 0
    number: int = 0
    sequence: int = 0
    # The pending consult's moments already passed ("24h", "1h" before it; "check" after it).
    reminded: list[str] = []
    # Bookings owed free of charge (a cancel, the specialist absent, the member's first
    # absence), and the bookings that used one (they count against no free consult).
    credits: int = 0
    rebooked: int = 0
    member_absences: int = 0
    outcome_asked: bool = False

    def counted(self) -> int:
        """Bookings counted against the program's free consults."""
        return self.booked - self.rebooked


class Intent(BaseModel):
    """A side effect an update accepted: a notice, or a charge and what follows it."""

    group: str  # a declined charge drops the rest of its group (the booking's notice)
    notice: Notice | None = None
    charge: ChargeRequest | None = None

    @property
    def label(self) -> str:
        if self.charge is not None:
            return f"charge {self.charge.idempotency_key.split(':', 1)[-1]}"
        assert self.notice is not None
        return f"email {self.notice.notice_id.split(':', 1)[-1]}"


class CaseState(BaseModel):
    phase: Phase = Phase.OPENING
    stage: Stage = Stage.INTAKE
    intake_doc_id: str
    terms: ProgramTerms | None = None
    specialty: str | None = None
    eligibility: EligibilityDecision | None = None
    override_window_open: bool = False
    override_reason: str | None = None
    cancel_reason: str | None = None
    attention: str | None = None
    records: Records = Field(default_factory=Records)
    gathering: Gathering = Field(default_factory=Gathering)
    opinion: Opinion | None = None  # the last report's summary, answers and outcome
    pending_opinion: Opinion | None = None  # given ahead of its report (the API's two calls)
    follow_ups: FollowUps = Field(default_factory=FollowUps)
    survey: Survey = Field(default_factory=Survey)
    questions: int | None = None  # the member's questions as changed before assignment (None: the input's)
    doctor: DoctorShare | None = None  # the member's consent to share the report with their doctor
    assign_seq: int = 0
    excluded: list[str] = []  # specialists who declined or gave an earlier opinion
    next_assignment: AssignmentResult | None = None  # a coordinator's choice, not yet in effect
    round: ReviewRound | None = None
    sla: SlaClockRecord = Field(default_factory=SlaClockRecord)
    reports: list[str] = []
    consults: Consults = Field(default_factory=Consults)
    charges: int = 0
    consent: ConsentState = Field(default_factory=ConsentState)
    portal_links: int = 0  # sign-in links re-sent on request (the first goes with case_opened)
    intents: list[Intent] = []
    calendar_changes: list[CalendarChange] = []
    timeline: list[TimelineEntry] = []
    timeline_dropped: int = 0
    # When the case was opened (None in a state carried from before it was kept), and the
    # version of what it shows: every change the edges could see raises it (the read model).
    opened_at: datetime | None = None
    view_version: int = 0

    def note(self, entry: TimelineEntry) -> None:
        self.view_version += 1
        self.timeline.append(entry)
        if len(self.timeline) > TIMELINE_KEPT:
            drop = len(self.timeline) - TIMELINE_KEPT
            del self.timeline[:drop]
            self.timeline_dropped += drop

    @property
    def charging(self) -> bool:
        return any(i.charge is not None for i in self.intents)


# CaseInput carries a continued run's state; it can name CaseState only once it exists.
CaseInput.model_rebuild(_types_namespace={"CaseState": CaseState})
