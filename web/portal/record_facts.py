"""What an upload form says of its records besides their type: their language and their date.

The completeness check reads both (models/records_check.py): a record not in English waits for
its translation, one older than its type's limit does not count. A form may leave them out
(a record is then English and undated). Refusals are the reader's words, never the value sent.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from models.input_text import LanguageCode
from runtime.i18n import ICT, N_, gettext
from web.errors import WebError

BAD_LANGUAGE = N_("Choose the language the documents are written in.")
BAD_DATE = N_("Give the documents' date as a day that has passed.")
_LANGUAGE: TypeAdapter[str] = TypeAdapter(LanguageCode)


# The languages a member's records are likely in, offered first on the upload form.
OFFERED = ("en", "km", "fr", "th", "vi", "zh")


def document_languages() -> list[tuple[str, str]]:
    """The offered languages as (code, name in the page's language), from Babel's CLDR data."""
    from runtime import i18n

    return _named(i18n.current().value)


@cache
def _named(language: str) -> list[tuple[str, str]]:
    # Read once per language: every member's case page shows the list.
    from babel import Locale

    names = Locale.parse(language).languages
    return [(code, str(names.get(code, code))) for code in OFFERED]


def record_facts(language: str | None, dated: str | None) -> dict[str, Any]:
    """The records' language (ISO 639-1; English when not given) and date (when given)."""
    facts: dict[str, Any] = {"language": "en"}
    if language:
        try:
            facts["language"] = _LANGUAGE.validate_python(language)
        except ValidationError:
            raise WebError(422, gettext(BAD_LANGUAGE)) from None
    if dated:
        try:
            day = date.fromisoformat(dated)
        except ValueError:
            raise WebError(422, gettext(BAD_DATE)) from None
        if day > datetime.now(ICT).date():
            raise WebError(422, gettext(BAD_DATE))
        facts["dated"] = day
    return facts
