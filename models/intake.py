"""The patient's intake sheet: PHI. It lives only in the encrypted document store.

The workflow holds its sha256 (`intake_doc_id`) and a keyed hash of the life assured
(`life_assured_ref`), never these fields.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from models.case import Icd10


class PatientIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_name: str = Field(min_length=2, max_length=120)
    date_of_birth: date
    email: EmailStr
    phone: str = Field(default="", max_length=40)
    diagnosis_text: str = Field(min_length=3, max_length=500)
    icd10: Icd10
    policy_number: str
    treating_doctor: str = Field(default="", max_length=120)
    language: str = "en"


def life_assured_ref(key: bytes, policy_number: str, patient_name: str, dob: date) -> str:
    """A keyed hash that identifies one life assured without revealing who it is."""
    material = "|".join(
        [policy_number.strip().upper(), " ".join(patient_name.lower().split()), dob.isoformat()]
    )
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()
