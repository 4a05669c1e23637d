"""What the desk, the member, a provider and a translator send the case to gather records.

The updates of workflows/case/requests.py; their state is `models.records`.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.case import DocumentRef
from models.input_text import Actor, Sha256, ShortText
from models.records import MAX_RELEASES, MAX_REQUESTS, ReleaseSource
from models.vocabulary import RecordType


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordRelease(Frozen):
    provider_key: Sha256
    document: DocumentRef  # the signed release (stored as a `consent` record: the member's authorization)
    types: list[RecordType] = Field(default=[], max_length=10)
    records_from: date | None = None
    expires_on: date
    source: ReleaseSource = ReleaseSource.PAPER
    by: Actor


class RevokeRelease(Frozen):
    release_no: int = Field(ge=1, le=MAX_RELEASES)
    by: Actor


class RequestRecords(Frozen):
    provider_key: Sha256
    provider_doc_id: Sha256
    types: list[RecordType] = Field(default=[], max_length=10)  # none: the required ones still missing
    release_no: int | None = Field(default=None, ge=1, le=MAX_RELEASES)
    by: Actor

    @model_validator(mode="after")
    def _inputs_only(self) -> RequestRecords:
        if {RecordType.SMO_REPORT, RecordType.CONSENT} & set(self.types):
            raise ValueError("a provider is asked for medical records, not a report or a consent")
        return self


class RefuseRequest(Frozen):
    """The provider answered, from its page, that it will not send the records."""

    request_no: int = Field(ge=1, le=MAX_REQUESTS)
    reason: ShortText
    by: Actor
