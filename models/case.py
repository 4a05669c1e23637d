"""The case as the workflow sees it: stages, inputs, update payloads and the status view.

Everything here crosses the Temporal boundary, so it carries references and hashes,
never PHI: names, dates of birth and diagnosis text live in the encrypted document
store and are reached through `intake_doc_id`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

if TYPE_CHECKING:
    from models.case_state import CaseState

# The word lists live in a pydantic-free module so that the thin CLI starts fast.
from models.case_terms import ProgramTerms as ProgramTerms
from models.consent import ConsentState
from models.doctor import DoctorShare
from models.follow_up import FollowUp
from models.input_text import NO_NUL_PATTERN, LanguageCode
from models.input_text import SHA256_PATTERN as SHA256_PATTERN
from models.input_text import Actor as Actor
from models.input_text import Sha256 as Sha256
from models.input_text import ShortText as ShortText
from models.opinion import Opinion
from models.records import Gathering
from models.survey import Survey
from models.vocabulary import TERMINAL_STAGES as TERMINAL_STAGES
from models.vocabulary import InfoReason as InfoReason
from models.vocabulary import RecordType as RecordType
from models.vocabulary import Stage as Stage

CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
ICD10_PATTERN = r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"
# A run's history events past which the case continues as new at its next idle point.
HISTORY_BUDGET = 2000
# How long a request from the public form waits for its confirmation link to be followed.
CONFIRMATION_WINDOW = timedelta(hours=24)

# Python's `re` lets `$` match before a final newline: Python code checks with `fullmatch`.
CASE_ID_RE = re.compile(CASE_ID_PATTERN)
MAX_EXCLUSIONS = 32

# No ".." in a case id, so an id never reads as a path (the schema says so with `not`).
CASE_ID_SCHEMA = {"type": "string", "pattern": CASE_ID_PATTERN, "not": {"pattern": r"\.\."}}


def is_case_id(text: str) -> bool:
    """Whether `text` is a case id, whole (a trailing newline is not part of one)."""
    return CASE_ID_RE.fullmatch(text) is not None and ".." not in text


def _case_id(value: str) -> str:
    if ".." in value:
        raise ValueError("a case id may not contain '..'")
    return value


CaseId = Annotated[
    str, StringConstraints(pattern=CASE_ID_PATTERN), AfterValidator(_case_id), WithJsonSchema(CASE_ID_SCHEMA)
]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone offset")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def _icd10(value: str) -> str:
    code = value.strip().upper()
    # The message names the rule, never the value: an error may be shown, and a code is PHI.
    if not re.fullmatch(ICD10_PATTERN, code):
        raise ValueError("must be an ICD-10 code (e.g. C50.912)")
    return code


# The server also takes a code in lower case or with spaces around it; the schema states the
# canonical form, which it always takes.
Icd10 = Annotated[
    str,
    AfterValidator(_icd10),
    WithJsonSchema({"type": "string", "pattern": ICD10_PATTERN, "minLength": 3, "maxLength": 8}),
]


def workflow_id_for(case_id: str) -> str:
    return f"smo-{case_id}"


def case_id_from_workflow_id(workflow_id: str) -> str:
    return workflow_id.removeprefix("smo-")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlaState(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    WARNING = "WARNING"
    BREACHED = "BREACHED"
    MET = "MET"


class DocumentRef(Frozen):
    """A claim check: the bytes are in the encrypted store under this sha256."""

    doc_id: Sha256
    record_type: RecordType
    size: int = Field(ge=0, le=1 << 50)  # no program caps file size; this bounds nonsense
    # Declared at upload (`models.records`): the language, the date, and the original it translates.
    language: LanguageCode | None = None
    dated: date | None = None
    translation_of: Sha256 | None = None


class EligibilityFacts(Frozen):
    """What the coordinator asserts at intake. Codes name rules in the program file."""

    emergency: bool = False
    critical_care: bool = False
    common_issue: bool = False
    prior_diagnosis: bool = True
    complex_condition: bool = True
    # A set iterates in a per-process hash order: serialise it sorted, so the same facts make
    # the same activity input (and the same history) in every worker.
    exclusions: Annotated[
        frozenset[Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=NO_NUL_PATTERN)]],
        Field(max_length=MAX_EXCLUSIONS),
        PlainSerializer(sorted, return_type=list[str]),
    ] = frozenset()


class Reason(Frozen):
    code: str
    text: str


class EligibilityDecision(Frozen):
    eligible: bool
    reasons: list[Reason] = []
    first_case_id: str | None = None


class CaseInput(Frozen):
    case_id: CaseId
    program: str
    policy_number: str = Field(min_length=3, max_length=40)
    life_assured_ref: Sha256
    intake_doc_id: Sha256
    icd10: Icd10
    facts: EligibilityFacts = EligibilityFacts()
    treating_institution: str | None = Field(default=None, max_length=120)
    opened_by: Actor
    follow_up_of: CaseId | None = None
    override_reason: ShortText | None = None
    # Past this many history events, at an idle point, the case continues as new. A budget
    # of 80 keeps every run within 120 events: the longest stretch from one idle point to
    # the next is about 30 events (tests/test_case_continue_as_new.py).
    history_budget: int = Field(default=HISTORY_BUDGET, ge=40, le=40_000)
    # Hold the case until the member consents to records going abroad (Settings.consent_required).
    consent_required: bool = True
    # A request from the public form: the case emails one confirmation link and sends nothing
    # else until it is followed (unconfirmed, it ends after a day); refused, it ends once told.
    self_service: bool = False
    # The form's documents: registered once the request is confirmed and eligible, else removed.
    form_records: list[DocumentRef] = Field(default=[], max_length=50)
    read_model: bool = True  # False only on the time-skipping test server (tests/scenario.py)
    questions: int = Field(default=0, ge=0, le=5)  # the member's questions (their text: the sheet)
    survey: bool = False  # the member's survey after the report (the case service opens cases with it)
    # A continued run's state (set by the case itself when it continues as new; never by a client).
    carried: CaseState | None = None


class Registered(BaseModel):
    """What registering the case answers: the program's terms snapshotted at intake."""

    terms: ProgramTerms
    specialty: str


class CaseOutcome(BaseModel):
    case_id: str
    stage: Stage
    eligible: bool | None = None


class EligibilityRequest(Frozen):
    case_id: CaseId
    program: str = Field(min_length=1, max_length=40)
    policy_number: str = Field(min_length=3, max_length=40)
    life_assured_ref: Sha256
    icd10: Icd10
    facts: EligibilityFacts = EligibilityFacts()
    follow_up_of: CaseId | None = None
    override_reason: ShortText | None = None
    by: Actor


class TimelineEntry(Frozen):
    at: datetime
    stage: Stage
    event: str
    detail: str = ""


class RecordsChecklist(Frozen):
    required: list[RecordType]
    received: dict[RecordType, int]
    waived: list[RecordType] = []
    documents: int
    cap: int | None
    # Whether the case takes records now, by the rule its `add_record` validator applies: while
    # records are gathered, and later only where the program allows late documents.
    accepting: bool = False

    @property
    def missing(self) -> list[RecordType]:
        return [t for t in self.required if t not in self.received and t not in self.waived]


class SlaView(Frozen):
    state: SlaState = SlaState.NOT_STARTED
    working_days: int | None = None
    elapsed_working_days: int = 0
    day0: str | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    # Years in the SLA window whose holidays are the calendar's projection, not yet decreed:
    # the deadline may move when the decree comes out.
    provisional: bool = False
    provisional_years: list[int] = []


class CaseStatus(Frozen):
    case_id: str
    program: str
    intake_doc_id: str
    stage: Stage
    specialist_id: str | None
    specialty: str | None
    records: RecordsChecklist
    sla: SlaView
    consults_booked: int
    consults_completed: int
    free_consults_left: int
    consult_pending: bool
    reassignment_offered: bool
    eligibility: EligibilityDecision | None
    report_doc_ids: list[str]
    follow_up_of: str | None
    follow_up_allowed: bool
    timeline: list[TimelineEntry]
    # Side effects the case has accepted and not yet performed (e.g. "charge consult:2").
    pending: list[str] = []
    # Older entries than the timeline holds (the audit trail and history keep them all).
    timeline_dropped: int = 0
    consent: ConsentState = ConsentState()
    # Whether a consult can be booked now (the `book_consult` validator's rule, but the slot),
    # and the booked one's time while it is pending (None for a booking from before it was kept).
    consult_open: bool = False
    consult_at: datetime | None = None
    consult_length_minutes: int = 30
    consult_notice_working_days: int = 1
    calendars: list[str] = ["KH", "US"]
    # The pending consult's number and SEQUENCE, free rebookings owed, its outcome awaited.
    consult_number: int = 0
    consult_sequence: int = 0
    consult_rebook_free: int = 0
    consult_outcome_asked: bool = False
    attention: str | None = None  # what the desk is asked to look at (SmoAttention)
    version: int = 0  # raised by every change the edges could see (the read model's)
    opened_at: datetime | None = None  # None for a case opened before it was kept
    # Releases, requests to providers and translations, and what the completeness check lacks.
    gathering: Gathering | None = None
    records_unmet: list[str] = []
    waiting_on: str | None = None  # what gathering waits on (the desk's list shows it)
    questions: int = 0  # how many questions the member asked (their text is on the intake sheet)
    opinion: Opinion | None = None  # the report's summary, answers and outcome (references, codes)
    follow_ups: list[FollowUp] = []  # follow-up questions after the report (references, deadlines)
    survey: Survey | None = None  # the member's survey after the report, once it is sent
    doctor: DoctorShare | None = None  # the report shared with the member's treating doctor


class CaseResult(Frozen):
    case_id: str
    stage: Stage
    reports: int
    charges: int


# ---- update payloads ------------------------------------------------------------------


class AddRecords(Frozen):
    documents: list[DocumentRef] = Field(min_length=1, max_length=50)
    by: Actor
    request_no: int | None = Field(default=None, ge=1)  # a provider's upload, to its request


class CompleteRecords(Frozen):
    waive: list[RecordType] = []
    waive_reason: ShortText | None = None
    # The completeness check's other items waived: `translation:<doc>`, `recent:<doc>`.
    waive_checks: list[Annotated[str, StringConstraints(pattern=r"^(translation|recent):[0-9a-f]{12}$")]] = []
    by: Actor


class AssignSpecialist(Frozen):
    specialist_id: str = Field(min_length=1, max_length=40)
    by: Actor


class Decline(Frozen):
    specialist_id: str = Field(min_length=1, max_length=40)
    reason: ShortText
    by: Actor


class RequestInfo(Frozen):
    reason: InfoReason
    record_types: list[RecordType] = []
    by: Actor


class SupplyInfo(Frozen):
    documents: list[DocumentRef] = Field(default=[], max_length=50)
    by: Actor


class SubmitReport(Frozen):
    document: DocumentRef
    specialist_id: str = Field(min_length=1, max_length=40)
    by: Actor
    opinion: Opinion | None = None  # the member's summary and answers (a sheet), and the outcome


class Cancel(Frozen):
    reason: ShortText
    by: Actor


class Close(Frozen):
    by: Actor


class OverrideEligibility(Frozen):
    reason: ShortText
    by: Actor


class RequestThirdOpinion(Frozen):
    by: Actor


class ConfirmRequest(Frozen):
    """The member followed the confirmation link of a request from the public form."""

    by: Actor


class UpdateDetails(Frozen):
    intake_doc_id: Sha256
    by: Actor
    questions: int | None = Field(default=None, ge=0, le=5)  # the member's new count (before assignment)


class UpdateAck(Frozen):
    """The small result every update returns, so history stays lean."""

    stage: Stage
    detail: str = ""
    version: int = 0  # what the case shows once the update is in: a read after it waits for it


# The carried state is built from the models above; importing it completes CaseInput.

# The consult's updates live with their kin; these two were always named from here.
from models.consult import BookConsult as BookConsult  # noqa: E402
from models.consult import CompleteConsult as CompleteConsult  # noqa: E402
