"""Records gathered for the member: releases, requests to providers, translations.

A provider sends records only under a release the member signed, naming the provider, the
scope (record types, from a date) and an expiry of at most a year; revoking it stops every
open request under it. A request has a number, a state and its chasing; a document not in
English opens a translation, and counts only once its English version is linked to it.

Everything here crosses the Temporal boundary: the provider's name and address are PHI (they
say where the member is treated), so they live in the encrypted store as a `ProviderSheet`,
and the case holds its id and a hash of the name (`provider_key`) to match a request to
its release.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.input_text import Actor, Email, Sha256
from models.vocabulary import Language, RecordType

# "A US HIPAA authorization must state an expiry": ours is at most a year from signing.
RELEASE_LONGEST = timedelta(days=366)
MAX_RELEASES = 20
MAX_REQUESTS = 20


# At least two characters once its ends are stripped (U+0085 named apart, as in REASON_PATTERN).
PROVIDER_PATTERN = r"^\s*[^\s\x00\x85][^\x00]*[^\s\x00\x85]\s*$"
ProviderName = Annotated[
    str, StringConstraints(min_length=2, max_length=120, strip_whitespace=True, pattern=PROVIDER_PATTERN)
]


def provider_key(name: str) -> str:
    """What matches a request to its release without the name in history: case, spaces and
    punctuation do not make another provider ("Calmette Hospital" = "calmette  hospital.")."""
    folded = " ".join("".join(c for c in name.casefold() if c.isalnum() or c.isspace()).split())
    return hashlib.sha256(folded.encode()).hexdigest()


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProviderSheet(Frozen):
    """A provider as the desk or the member named it: PHI, kept in the encrypted store."""

    name: ProviderName
    email: Email | None = None
    language: Language = Language.EN  # the provider's email is in English, and Khmer with `km`


class ReleaseSource(StrEnum):
    PAPER = "paper"  # a signed paper release, attested by the desk
    PORTAL = "portal"  # signed by the member in the portal


class Release(Frozen):
    """One signed release: whom it lets send what, until when."""

    release_no: int = Field(ge=1)
    provider_key: Sha256
    document_id: Sha256  # the signed paper, or the text the member signed (encrypted)
    types: list[RecordType] = []  # empty: every record type
    records_from: date | None = None
    expires_on: date
    source: ReleaseSource
    signed_by: Actor
    signed_at: datetime
    revoked_at: datetime | None = None

    def in_force(self, today: date) -> bool:
        return self.revoked_at is None and today <= self.expires_on

    def covers(self, types: list[RecordType]) -> bool:
        return not self.types or set(types) <= set(self.types)


class RequestState(StrEnum):
    SENT = "sent"
    REMINDED = "reminded"
    PARTIAL = "received_in_part"
    RECEIVED = "received"
    REFUSED = "refused"  # the provider answered that it will not send them
    EXPIRED = "expired"  # its release expired, or the records were declared complete first
    REVOKED = "revoked"  # the member revoked its release

    @property
    def open(self) -> bool:
        return self in {RequestState.SENT, RequestState.REMINDED, RequestState.PARTIAL}


class ProviderRequest(BaseModel):
    """One request to a provider, as the case keeps it (no PHI: the sheet is a reference)."""

    request_no: int = Field(ge=1)
    release_no: int = Field(ge=1)
    provider_key: Sha256
    provider_doc_id: Sha256
    types: list[RecordType]
    state: RequestState = RequestState.SENT
    sent_at: datetime
    reminders: int = 0
    escalated: bool = False  # the desk was told after the last reminder
    next_chase_at: datetime | None = None
    received: list[RecordType] = []
    documents: int = 0
    ended_at: datetime | None = None
    by: str


class Translation(BaseModel):
    """A document not in English, until its English version is linked to it (or waived)."""

    doc_id: Sha256
    record_type: RecordType = RecordType.OTHER  # the original's, which its translation shares
    language: str
    opened_at: datetime
    due_at: datetime | None = None  # the translator's working-day deadline
    reminded: bool = False
    escalated: bool = False
    translation_doc_id: Sha256 | None = None
    waived: bool = False  # the desk waived it, with a reason, when it declared the records complete

    @property
    def open(self) -> bool:
        return self.translation_doc_id is None and not self.waived


class Gathering(BaseModel):
    """The case's releases, requests and translations: part of the carried state and of status."""

    releases: list[Release] = []
    requests: list[ProviderRequest] = []
    translations: list[Translation] = []

    def request(self, request_no: int) -> ProviderRequest | None:
        return next((r for r in self.requests if r.request_no == request_no), None)

    def release(self, release_no: int) -> Release | None:
        return next((r for r in self.releases if r.release_no == release_no), None)

    def waiting_on(self, records_missing: bool, today: date) -> str | None:
        """What gathering waits on, for the desk's list: an open request to a provider, a
        translation, or the member (records missing, and no release in force to ask anyone)."""
        for r in self.requests:
            if r.state.open:
                since = r.sent_at.date().isoformat()
                return f"provider request {r.request_no} since {since}, {r.reminders} reminder(s)"
        for t in self.translations:
            if t.open:
                return f"translation of {t.doc_id[:12]}"
        if records_missing and not any(r.in_force(today) for r in self.releases):
            return "records or a release from the member"
        return None
