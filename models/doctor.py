"""The member's treating doctor: the member names them and consents to share the full report;
the doctor reads it by a signed link that dies when the consent is withdrawn, and may ask the
desk for a doctor-to-doctor call with the specialist.

Who the doctor is (name, hospital, email) is PHI: an encrypted `ProviderSheet` (models/records.py),
which the notices already address; the case keeps its id and the consent's dates.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from models.input_text import Actor, Sha256


class DoctorShare(BaseModel):
    """The member's consent to share the report with their treating doctor, as the case keeps it."""

    sheet_doc_id: Sha256  # the doctor's ProviderSheet
    consented_at: datetime
    consented_by: str
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    calls_asked: int = 0  # doctor-to-doctor calls the doctor asked the desk for

    @property
    def live(self) -> bool:
        return self.withdrawn_at is None


class ShareWithDoctor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sheet_doc_id: Sha256
    by: Actor


class WithdrawDoctor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: Actor


class AskDoctorCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: Actor
