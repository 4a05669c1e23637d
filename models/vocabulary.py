"""The case's word lists (stages, record types, reasons for more information), without pydantic.

The thin CLI offers these as choices and must start fast, so it imports them from here
rather than from `models.case` (which pulls in pydantic); `models.case` re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


def N_(message: str) -> str:
    """Marks a sentence for the catalog where it is defined; it is translated where shown
    (`runtime.i18n.gettext`). Here, below every layer that defines a member's words."""
    return message


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
    CONSENT = "consent"  # the member's signed consent to the transfer, attested by the desk


class Diagnosis(StrEnum):
    """What the opinion did to the diagnosis (models.opinion)."""

    CONFIRMED = "confirmed"
    REFINED = "refined"
    CHANGED = "changed"


class Treatment(StrEnum):
    """What the opinion did to the treatment plan."""

    CONFIRMED = "confirmed"
    CHANGED = "changed"


class InfoReason(StrEnum):
    MISSING_RECORD = "missing_record"
    ILLEGIBLE_RECORD = "illegible_record"
    CLARIFICATION = "clarification"


class Sex(StrEnum):
    """The member's sex as the specialist reads it with their age: clinically relevant."""

    FEMALE = "female"
    MALE = "male"


class Language(StrEnum):
    """The languages a member reads their case in. English is the source of every sentence."""

    EN = "en"
    KM = "km"

    @property
    def native_name(self) -> str:
        return _NATIVE_NAMES[self]


_NATIVE_NAMES = {Language.EN: "English", Language.KM: "ខ្មែរ"}

# What a member or a client may have written for a language: a BCP 47 tag (km, km-KH, en-US)
# or its name. Anything else reads as English, the programs' common language.
_KHMER_NAMES = frozenset({"km", "khm", "kh", "khmer", "cambodian", "ខ្មែរ", "ភាសាខ្មែរ"})


def language_of(tag: str | None) -> Language:
    """The language a stored tag names: Khmer for `km`, `km-KH`, `Khmer`; English otherwise."""
    if not tag:
        return Language.EN
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    return Language.KM if primary in _KHMER_NAMES else Language.EN
