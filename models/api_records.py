"""What the API takes to gather records: a release, a request to a provider, a record's facts.

Record types travel in a query as one comma-separated list (`types=imaging,lab_result`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from models.case import Sha256
from models.input_text import Email, LanguageCode
from models.records import MAX_RELEASES, ProviderName
from models.vocabulary import Language, RecordType


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# What a provider may be asked for and a release may cover: medical records, not the
# specialist's report or a consent form.
MEDICAL = [t for t in RecordType if t not in {RecordType.SMO_REPORT, RecordType.CONSENT}]


def _medical(value: RecordType) -> RecordType:
    if value not in MEDICAL:
        raise ValueError("a provider is asked for medical records, not a report or a consent")
    return value


_MEDICAL_SCHEMA = {"type": "string", "enum": [t.value for t in MEDICAL]}
MedicalType = Annotated[RecordType, AfterValidator(_medical), WithJsonSchema(_MEDICAL_SCHEMA)]
RecordTypes = Annotated[list[MedicalType], BeforeValidator(_comma_list), Field(max_length=10)]


def ascii_digits(value: object) -> object:
    # ASCII digits only: "²".isdigit() is true, and int() refuses it.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("a number, in digits")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordsQuery(Strict):
    """One upload's records: their type, and what the completeness check reads."""

    record_type: RecordType
    language: LanguageCode = Field(default="en", description="ISO 639-1: what the records are written in")
    dated: date | None = Field(default=None, description="the records' date (not in the future)")
    translation_of: Sha256 | None = Field(default=None, description="the record this one translates")


class ReleaseQuery(Strict):
    """A signed paper release the desk attests: the provider, the scope and the expiry."""

    provider: ProviderName
    expires: date
    types: RecordTypes = []
    records_from: date | None = None


class ReleaseNumber(Strict):
    number: Annotated[int, Field(ge=1, le=MAX_RELEASES), BeforeValidator(ascii_digits)]


class RecordsRequestBody(Strict):
    """Ask a provider for records, under a release in force for it."""

    provider: ProviderName
    email: Email
    types: RecordTypes = []  # none: the program's required types the case still lacks
    release: int | None = Field(default=None, ge=1, le=MAX_RELEASES)
    language: Language = Language.EN  # the provider's email: English, or Khmer too with km
