"""The member's consent to send their records across a border: its text, version and record.

The case holds one `ConsentState`; it is given in the portal by the signed-in member (the
current text's version) or attested by a coordinator with the signed form, stored as a
`consent` document. Withdrawn, it stops further transfers until given again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from models.vocabulary import N_

CONSENT_VERSION = "2026-12-01"


def consent_version(language: str) -> str:
    """The version a member agrees to in the portal: the text's date and the language it was
    read in (`2026-12-01/km`), so the record says which words were accepted. A change to the
    text or to its Khmer in the catalog is a new CONSENT_VERSION."""
    return f"{CONSENT_VERSION}/{language}"


def is_current(version: str) -> bool:
    """The current text, in English or Khmer (or as the desk's attestations name it, bare)."""
    return version in {CONSENT_VERSION, consent_version("en"), consent_version("km")}
# One sentence for the catalog: its Khmer is the text a Khmer-speaking member agrees to.
CONSENT_TEXT = N_(
    "I agree that my medical records and the details of my request may be sent from Cambodia"
    " to a medical specialist in the United States of America, and to that specialist's"
    " hospital, to give me a second medical opinion. They are sent and kept in line with the"
    " data protection laws that apply to the transfer. I can withdraw this consent at any"
    " time; records already sent stay with the specialist, nothing more is sent."
)


class ConsentMethod(StrEnum):
    PORTAL = "portal"  # the member, signed in, agreed to the versioned text
    SIGNED_FORM = "signed_form"  # a coordinator attests it with the member's signed form


class GiveConsent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: ConsentMethod
    version: str = Field(min_length=1, max_length=20)
    form_doc_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    form_size: int = Field(default=0, ge=0)
    by: str = Field(min_length=1, max_length=64)

    @classmethod
    def signed_form(cls, form_doc_id: str, form_size: int, by: str) -> GiveConsent:
        """A coordinator's attestation with the member's signed form, already in the store."""
        return cls(
            method=ConsentMethod.SIGNED_FORM,
            version=CONSENT_VERSION,
            form_doc_id=form_doc_id,
            form_size=form_size,
            by=by,
        )


class WithdrawConsent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: str = Field(min_length=1, max_length=64)


class ConsentState(BaseModel):
    """What `status` shows: whether records may go to a specialist, and why not."""

    required: bool = False
    given: bool = False
    method: ConsentMethod | None = None
    version: str | None = None
    by: str | None = None
    at: AwareDatetime | None = None
    form_doc_id: str | None = None
    withdrawn_at: datetime | None = None
    waiting: bool = False  # the case is held before assignment until consent is given
