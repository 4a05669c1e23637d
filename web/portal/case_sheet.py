"""What the specialist reads about the case: the question, the member, the due date and the
booked consult in their zone.

The assignment page shows the diagnosis as the request wrote it and its ICD-10 code, the
member's age and sex, and the report's due date in the specialist's own zone (the roster's
`timezone`; the tz database applies DST, so Texas reads CDT in summer and CST in winter),
with the desk's time (ICT) beside it. The member's name appears only where the program
requires it (`Program.specialist_sees_name`). The treating doctor's plan is a document:
the page lists it beside the other records (web.portal.specialist).

Once a consult is booked, the page shows it in the specialist's zone too (with the desk's
time), and the member's phone number from the intake: the specialist calls the member, and
this section is the one place of the page that number appears, as in their invitation email.
While the consult is more than the notice away the page offers the slots to move it to, in
the specialist's zone (web.portal.slot_picker); once it has started, its outcome.

The intake sheet is PHI: it is read from the encrypted store on the server for this one page,
and nothing of it goes into a URL, a log or the case's history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from models.case import CaseStatus
from models.db import Specialist
from models.intake import PatientIntake
from runtime import i18n, words
from runtime.i18n import ICT, Language, zone_of
from web.links import specialist_sees_names
from web.portal.base import Portal
from web.portal.slot_picker import Day, days, offer

NOT_GIVEN = "not given"  # a sheet from before the member's sex was asked


@dataclass(frozen=True, slots=True)
class ConsultSheet:
    """The booked consult as the specialist reads it."""

    number: int
    at: datetime | None  # None: booked before the case kept its time
    when: str  # in the specialist's zone, named as they name it (CST, CDT); "" without a time
    at_desk: str  # the same instant in ICT
    phone: str  # the member's phone on file, to call; "" when there is none
    started: bool  # its outcome may be told
    changeable: bool = False  # more than the notice away: it may be moved or cancelled here
    days: list[Day] = field(default_factory=list)  # the slots to move it to, in the specialist's zone


@dataclass(frozen=True, slots=True)
class CaseSheet:
    diagnosis: str
    icd10: str
    age: int
    sex: str
    patient_name: str | None  # None unless the program requires the specialist to see it
    due: str  # in the specialist's zone; "" while the report clock has not started
    due_at_desk: str  # the same instant in ICT, as the desk and the member read it
    consult: ConsultSheet | None = None  # the booked consult, while there is one
    questions: tuple[str, ...] = ()  # the member's own questions, each to be answered in the report


def age_on(born: date, today: date) -> int:
    """Whole years from `born` to `today` (a birthday not yet reached this year does not count)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def case_sheet(
    intake: PatientIntake,
    *,
    sees_name: bool,
    zone: ZoneInfo,
    due_at: datetime | None,
    now: datetime,
    consult: ConsultSheet | None = None,
) -> CaseSheet:
    """The page's facts, in English, with the member's age on the specialist's own today."""
    return CaseSheet(
        diagnosis=intake.diagnosis_text,
        icd10=intake.icd10,
        age=age_on(intake.date_of_birth, now.astimezone(zone).date()),
        sex=words.sex(intake.sex, Language.EN) if intake.sex is not None else NOT_GIVEN,
        patient_name=intake.patient_name if sees_name else None,
        due=i18n.when(due_at, Language.EN, zone),
        due_at_desk=i18n.when(due_at, Language.EN, ICT),
        consult=consult,
        questions=tuple(intake.questions),
    )


async def consult_sheet(
    portal: Portal, status: CaseStatus, zone: ZoneInfo, phone: str, now: datetime
) -> ConsultSheet | None:
    """The booked consult in the specialist's zone; the slots to move it to only while it may move."""
    if not status.consult_pending:
        return None
    at = status.consult_at
    sheet = ConsultSheet(
        number=status.consult_number,
        at=at,
        when=i18n.when(at, Language.EN, zone),
        at_desk=i18n.when(at, Language.EN, ICT),
        phone=phone,
        started=at is None or at <= now,
    )
    if sheet.started:
        return sheet
    found = await offer(portal.backends, status.case_id, at)
    return replace(sheet, changeable=found.changeable, days=days(found.starts, zone, Language.EN))


async def read_sheet(portal: Portal, status: CaseStatus, specialist_id: str, now: datetime) -> CaseSheet:
    """The sheet for one specialist's page: the member's details and the specialist's zone."""
    backends = portal.backends

    def zone_name() -> str:
        with Session(backends.engine) as session:
            row = session.get(Specialist, specialist_id)
            return row.timezone if row is not None else ICT.key

    intake, zone_key = await asyncio.gather(
        asyncio.to_thread(backends.store.load_intake, status.case_id, status.intake_doc_id),
        asyncio.to_thread(zone_name),
    )
    zone = zone_of(zone_key)
    return case_sheet(
        intake,
        sees_name=specialist_sees_names(backends, status.program),
        zone=zone,
        due_at=status.sla.due_at,
        now=now,
        consult=await consult_sheet(portal, status, zone, intake.phone, now),
    )
