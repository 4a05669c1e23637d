"""The opinion in two forms: the full report for the treating doctor, and for the member a
plain-language summary with an answer to each of their questions; and what the opinion changed.

The summary and the answers are PHI: they live in the encrypted store as an `OpinionSheet`,
and the case holds its id and the number of answers. The outcome is a few codes (no free text):
the case keeps it, and the case DB keeps one row per report for the outcomes report
(`smo report outcomes`), the figures an insurer buys the service for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.input_text import MAX_QUESTIONS, Actor, Sha256
from models.vocabulary import Diagnosis as Diagnosis
from models.vocabulary import Treatment as Treatment

# The languages a member's summary is translated into: the members' languages besides English.
TranslatedInto = Literal["km"]
SUMMARY_CHARS = 20_000
ANSWER_CHARS = 5_000
# Written text once its ends are stripped (U+0085 named apart, as REASON_PATTERN does).
_TEXT = r"^\s*[^\s\x00\x85][^\x00]*$"


class Outcome(BaseModel):
    """What the opinion changed, as the specialist (or the desk for them) states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    diagnosis: Diagnosis
    treatment: Treatment
    surgery_avoided: bool = False  # surgery the member was told to have was recommended against


class OpinionSheet(BaseModel):
    """The member's part of the opinion (PHI, encrypted): a summary and one answer per question."""

    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=SUMMARY_CHARS)] = ""
    answers: list[
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=ANSWER_CHARS, pattern=_TEXT)]
    ] = Field(default=[], max_length=MAX_QUESTIONS)


class OpinionTranslation(BaseModel):
    """The member's summary and answers on their way into the member's language: the translator's
    task, with a working-day deadline, a reminder at it and one more working day, then the desk
    told (as a record's translation is, models/records.py `Translation`)."""

    language: TranslatedInto
    opened_at: datetime
    due_at: datetime  # the member is told the translation follows by then
    reminded: bool = False  # at `due_at`, with one more working day (`late_at`)
    late_at: datetime | None = None
    escalated: bool = False  # at `late_at`: the desk is told
    sheet_doc_id: Sha256 | None = None  # the translated sheet, once it is there
    translated_by: str | None = None
    at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.sheet_doc_id is None

    def next_instant(self) -> datetime | None:
        """The reminder's or the deadline's instant while the translation is awaited."""
        if not self.open or self.escalated:
            return None
        return self.late_at if self.reminded else self.due_at


class Opinion(BaseModel):
    """The opinion as the case keeps it: references and codes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sheet_doc_id: Sha256 | None = None  # none: the outcome alone, no summary for the member
    answers: int = Field(ge=0, le=MAX_QUESTIONS)
    outcome: Outcome | None = None  # none: the summary and answers alone, no outcome to count
    at: datetime | None = None
    # The member's language when the summary is to be translated into it (the edge that takes
    # the opinion reads it from the intake sheet); the translation, once the report is out.
    translate_to: TranslatedInto | None = None
    translation: OpinionTranslation | None = None


class TranslateOpinion(BaseModel):
    """The translator's version of the member's sheet (stored encrypted; the case checks it is there)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sheet_doc_id: Sha256
    by: Actor


class OpinionRecord(BaseModel):
    """One report's outcome for the case DB (activity `record_opinion`)."""

    case_id: str
    program: str
    reported_at: datetime
    specialist_id: str
    outcome: Outcome


class OpinionBody(BaseModel):
    """The API's opinion, ahead of the report: the member's summary and an answer to each of
    their questions, in the order asked, and the outcome (what the opinion changed)."""

    model_config = ConfigDict(extra="forbid")

    specialist_id: Annotated[
        str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ]
    summary: Annotated[str, StringConstraints(max_length=SUMMARY_CHARS)] = ""
    answers: list[Annotated[str, StringConstraints(max_length=ANSWER_CHARS, pattern=_TEXT)]] = Field(
        default=[], max_length=MAX_QUESTIONS
    )
    outcome: Outcome | None = None


class GiveOpinion(BaseModel):
    """The opinion a report will carry, given before it (the API's two calls)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specialist_id: str = Field(min_length=1, max_length=40)
    opinion: Opinion
    by: Actor
