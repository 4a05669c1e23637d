"""The case's words as a member reads them: record types, reasons for more information, sex.

The enums' values are identifiers (`biopsy_report`); these are the plain words for them,
marked for the catalog, so a page or an email shows "Biopsy report" in English and its
Khmer in Khmer. Pages and emails both take them from here.
"""

from __future__ import annotations

from models.vocabulary import InfoReason, Language, RecordType, Sex
from runtime.i18n import N_, gettext

RECORD_TYPES: dict[RecordType, str] = {
    RecordType.OPERATIVE_REPORT: N_("Operation report"),
    RecordType.BIOPSY_REPORT: N_("Biopsy report"),
    RecordType.DISCHARGE_SUMMARY: N_("Hospital discharge summary"),
    RecordType.TREATMENT_PLAN: N_("Your doctor's treatment plan"),
    RecordType.IMAGING: N_("Scans and X-rays"),
    RecordType.LAB_RESULT: N_("Laboratory test results"),
    RecordType.OTHER: N_("Other medical document"),
    RecordType.SMO_REPORT: N_("Second opinion report"),
    RecordType.CONSENT: N_("Signed consent"),
}

INFO_REASONS: dict[InfoReason, str] = {
    InfoReason.MISSING_RECORD: N_("A medical record is missing."),
    InfoReason.ILLEGIBLE_RECORD: N_("A medical record cannot be read."),
    InfoReason.CLARIFICATION: N_("The specialist has a question about your records."),
}

SEXES: dict[Sex, str] = {Sex.FEMALE: N_("Female"), Sex.MALE: N_("Male")}


def record_type(value: RecordType | str, language: Language | None = None) -> str:
    """A record type's name in `language` (the request's by default)."""
    return gettext(RECORD_TYPES[RecordType(value)], language)


def record_types(values: list[RecordType] | list[str], language: Language | None = None) -> list[str]:
    return [record_type(v, language) for v in values]


def info_reason(value: InfoReason | str, language: Language | None = None) -> str:
    return gettext(INFO_REASONS[InfoReason(value)], language)


def sex(value: Sex | str, language: Language | None = None) -> str:
    return gettext(SEXES[Sex(value)], language)
