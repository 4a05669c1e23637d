"""The patient's intake sheet: PHI. It lives only in the encrypted document store.

The workflow holds its sha256 (`intake_doc_id`) and a keyed hash of the life assured
(`life_assured_ref`), never these fields.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from models.case import Icd10
from models.input_text import LANGUAGE_PATTERN, NO_NUL_PATTERN, Email
from models.vocabulary import Sex


class PatientIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Every limit is stated on the field, so the API's schema takes nothing the service refuses.
    patient_name: str = Field(min_length=2, max_length=120, pattern=NO_NUL_PATTERN)
    date_of_birth: date
    email: Email
    phone: str = Field(default="", max_length=40, pattern=NO_NUL_PATTERN)
    diagnosis_text: str = Field(min_length=3, max_length=500, pattern=NO_NUL_PATTERN)
    icd10: Icd10
    policy_number: str = Field(min_length=3, max_length=40, pattern=NO_NUL_PATTERN)  # as CaseInput's
    treating_doctor: str = Field(default="", max_length=120, pattern=NO_NUL_PATTERN)
    # The member's language, as a tag (en, km, en-US) or its name in Latin letters; every
    # page and notice to the member follows it (models.vocabulary.language_of).
    language: str = Field(default="en", max_length=35, pattern=LANGUAGE_PATTERN)
    # What the specialist reads beside the member's age; sheets from before it was asked have none.
    sex: Sex | None = None


def life_assured_ref(key: bytes, policy_number: str, patient_name: str, dob: date) -> str:
    """A keyed hash that identifies one life assured without revealing who it is."""
    material = "|".join(
        [policy_number.strip().upper(), " ".join(patient_name.lower().split()), dob.isoformat()]
    )
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()
