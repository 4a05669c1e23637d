"""The member's part of an opinion as the edges take it: a summary and one answer per question.

The specialist's page sends one field per question (the API takes a JSON body: models/opinion.py
`OpinionBody`); the text is checked here (422, naming the rule, never the text) before the
encrypted sheet is stored.
"""

from __future__ import annotations

from pydantic import ValidationError

from models.opinion import ANSWER_CHARS, SUMMARY_CHARS, OpinionSheet, Outcome
from web.errors import WebError, validation_message
from web.uploads import MultipartForm

# UTF-8 takes at most 4 bytes a character: the field's bytes are bounded before its text is read.
SUMMARY_BYTES = 4 * SUMMARY_CHARS


async def read_opinion(form: MultipartForm) -> tuple[OpinionSheet, Outcome] | None:
    """The specialist page's opinion fields, if the form has them: `summary`, one `answer` per
    question, `diagnosis`, `treatment` and `surgery_avoided` (a checkbox: present when ticked).
    None when there are none, or all were left empty (the report alone, as before)."""
    summary = await form.optional_field("summary", SUMMARY_BYTES)
    if summary is None:
        return None
    answers = []
    while (answer := await form.optional_field("answer", 4 * ANSWER_CHARS)) is not None:
        answers.append(answer)
    diagnosis = await form.optional_field("diagnosis") or ""
    treatment = await form.optional_field("treatment") or ""
    surgery = await form.optional_field("surgery_avoided")
    if not (summary.strip() or diagnosis or treatment or any(a.strip() for a in answers)):
        return None
    try:
        outcome = Outcome.model_validate(
            {"diagnosis": diagnosis, "treatment": treatment, "surgery_avoided": surgery == "yes"}
        )
    except ValidationError:
        raise WebError(422, "Choose what the opinion did to the diagnosis and to the treatment.") from None
    return opinion_sheet(summary, answers), outcome


def opinion_sheet(summary: str, answers: list[str]) -> OpinionSheet:
    try:
        return OpinionSheet(summary=summary, answers=answers)
    except ValidationError as exc:
        raise WebError(422, validation_message(exc)) from None
