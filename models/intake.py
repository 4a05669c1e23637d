"""The patient's intake sheet: PHI. It lives only in the encrypted document store.

The workflow holds its sha256 (`intake_doc_id`) and a keyed hash of the life assured
(`life_assured_ref`), never these fields.

A new sheet keeps every edge's rules (the phone rule among them: `models.input_text.Phone`).
A sheet read back from the store was checked when it was written, under the rules of its day:
`stored_sheet` loads it as it is, and `changed_sheet` keeps a phone that was on file before
the phone rule, so that a member whose sheet holds "012 345 678 ext 5" can still sign in,
be emailed and change their language.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from models.case import Icd10
from models.input_text import LANGUAGE_PATTERN, MAX_QUESTIONS, NO_NUL_PATTERN, Email, Phone
from models.vocabulary import Sex

# The validation context's key for the phone already on file: True for a sheet read back from
# the store (any phone it holds), else the one phone a change may keep as it is.
PHONE_ON_FILE = "phone_on_file"
# What the sheet took before the phone rule (its old field's limits).
_OLD_PHONE_LENGTH = 40


def _phone_on_file(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> str:
    """The phone rule, waived for a phone that was on file before it (see the module's docstring)."""
    try:
        phone: str = handler(value)
    except ValidationError:
        on_file = (info.context or {}).get(PHONE_ON_FILE)
        old = isinstance(value, str) and len(value) <= _OLD_PHONE_LENGTH and "\x00" not in value
        if old and (on_file is True or (isinstance(on_file, str) and on_file == value)):
            return str(value)
        raise
    return phone


# One question: written text, at least one character once its ends are stripped, at most 1,000.
Question = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=1000, pattern=r"^\s*[^\s\x00\x85][^\x00]*$"
    ),
]


class PatientIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Every limit is stated on the field, so the API's schema takes nothing the service refuses.
    patient_name: str = Field(min_length=2, max_length=120, pattern=NO_NUL_PATTERN)
    date_of_birth: date
    email: Email
    # The same rule as at every edge (the request form, the contact form, the API, the CLI).
    phone: Annotated[Phone, WrapValidator(_phone_on_file)] = ""
    diagnosis_text: str = Field(min_length=3, max_length=500, pattern=NO_NUL_PATTERN)
    icd10: Icd10
    policy_number: str = Field(min_length=3, max_length=40, pattern=NO_NUL_PATTERN)  # as CaseInput's
    treating_doctor: str = Field(default="", max_length=120, pattern=NO_NUL_PATTERN)
    # The member's language, as a tag (en, km, en-US) or its name in Latin letters; every
    # page and notice to the member follows it (models.vocabulary.language_of).
    language: str = Field(default="en", max_length=35, pattern=LANGUAGE_PATTERN)
    # What the specialist reads beside the member's age; sheets from before it was asked have none.
    sex: Sex | None = None
    # The member's own questions for the specialist ("experts answer the questions they are
    # given"): up to 5, each answered in the report. PHI, so only their count leaves this sheet.
    questions: list[Question] = Field(default=[], max_length=MAX_QUESTIONS)


def stored_sheet(data: Any) -> PatientIntake:
    """A sheet read back from the store (its JSON, parsed): as it was written, whatever its phone."""
    return PatientIntake.model_validate(data, context={PHONE_ON_FILE: True})


def changed_sheet(current: PatientIntake, changes: Mapping[str, Any]) -> PatientIntake:
    """`current` with `changes`: each changed field keeps its rule; a phone left as it was stays."""
    return PatientIntake.model_validate(
        current.model_dump() | dict(changes), context={PHONE_ON_FILE: current.phone}
    )


def life_assured_ref(key: bytes, policy_number: str, patient_name: str, dob: date) -> str:
    """A keyed hash that identifies one life assured without revealing who it is."""
    material = "|".join(
        [policy_number.strip().upper(), " ".join(patient_name.lower().split()), dob.isoformat()]
    )
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()
