"""Signed, expiring links to a case's documents, each naming the one right it carries.

Records and reports are delivered by e-mailing a link rather than the document itself. The
link names whose right it is (the case's member, or one assignment: its number and its
specialist) and carries an expiry time; an HMAC-SHA256 over (case id, document id, right,
expiry) means none of them can be changed without the server's secret. The signature says
only that we issued the link: whether the right still holds (the assignment is the active
one, consent is given, the case is open) is the edge's check against the live case, on every
use (`web.links`).

Links signed before rights existed (message version 1) name no right; `verify` recognises a
genuine one (`LinkWithoutRight`) so the edge can tell its holder what to do, and never serves it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote, urlencode

MIN_SECRET_BYTES = 32

_SIG_RE = re.compile(r"[0-9a-f]{64}")
# Unix seconds, no sign/whitespace/leading garbage; 12 digits is year 33658.
_EXP_RE = re.compile(r"[0-9]{1,12}")
_ASSIGNMENT_NO_RE = re.compile(r"[1-9][0-9]{0,5}")
# The roster's ids (SP-ONC-001); the column holds 40 characters.
_SPECIALIST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")

# The signed message's first element: a new layout gets a new version, so that no message of
# one layout can be read as another's.
_V1 = "smo-report-link/v1"  # (case, doc, exp): no right; only recognised, never issued
_V2 = "smo-document-link/v2"  # (case, doc, holder, assignment no, specialist, exp)


class LinkError(Exception):
    """A document link was refused."""


class LinkExpired(LinkError):
    """The link's signature is valid but its expiry time has passed."""


class LinkInvalid(LinkError):
    """The link is malformed or its signature does not match."""


class LinkWithoutRight(LinkError):
    """A genuine, unexpired link from before links named a right: it opens nothing now."""


class RightHolder(StrEnum):
    MEMBER = "member"
    ASSIGNMENT = "assignment"


@dataclass(frozen=True, slots=True)
class Right:
    """Whose right a link carries: the case's member, or one assignment (number and specialist)."""

    holder: RightHolder
    assignment_no: int | None = None
    specialist_id: str | None = None

    def __post_init__(self) -> None:
        if self.holder is RightHolder.MEMBER:
            ok = self.assignment_no is None and self.specialist_id is None
        else:
            ok = (
                self.assignment_no is not None
                and _ASSIGNMENT_NO_RE.fullmatch(str(self.assignment_no)) is not None
                and self.specialist_id is not None
                and _SPECIALIST_RE.fullmatch(self.specialist_id) is not None
            )
        if not ok:
            raise ValueError("a right is the member's, or an assignment number with its specialist id")

    @classmethod
    def member(cls) -> Right:
        return cls(RightHolder.MEMBER)

    @classmethod
    def assignment(cls, assignment_no: int, specialist_id: str) -> Right:
        return cls(RightHolder.ASSIGNMENT, assignment_no, specialist_id)

    def query(self) -> dict[str, str]:
        if self.holder is RightHolder.MEMBER:
            return {"for": self.holder.value}
        return {"for": self.holder.value, "n": str(self.assignment_no), "sp": str(self.specialist_id)}

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Right | None:
        """The right a link's query names; None when it names none (a version 1 link)."""
        holder = query.get("for")
        if holder is None:
            return None
        if holder == RightHolder.MEMBER.value:
            return cls.member()
        n, sp = query.get("n", ""), query.get("sp", "")
        if holder != RightHolder.ASSIGNMENT.value or not (
            _ASSIGNMENT_NO_RE.fullmatch(n) and _SPECIALIST_RE.fullmatch(sp)
        ):
            raise LinkInvalid("malformed right")
        return cls.assignment(int(n), sp)

    def __str__(self) -> str:
        # For the audit trail: a specialist's roster id is no PHI.
        if self.holder is RightHolder.MEMBER:
            return "member"
        return f"assignment {self.assignment_no} ({self.specialist_id})"


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")


class LinkSigner:
    """Creates and checks ``{base_url}/reports/{case}/{doc}?for=..&exp=..&sig=..`` links."""

    __slots__ = ("_base_url", "_secret")

    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"link signing secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = bytes(secret)
        self._base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"LinkSigner(base_url={self._base_url!r})"

    def _mac(self, case_id: str, doc_id: str, right: Right | None, exp: str) -> str:
        # A JSON array keeps the fields unambiguous: no choice of ids can make ("a/b", "c")
        # and ("a", "b/c") sign the same message, and the version tag (with its own length)
        # keeps a message of one layout from reading as another's.
        if right is None:
            fields: list[object] = [_V1, case_id, doc_id, exp]
        else:
            fields = [_V2, case_id, doc_id, right.holder.value, right.assignment_no, right.specialist_id, exp]
        return hmac.new(self._secret, json.dumps(fields).encode("utf-8"), hashlib.sha256).hexdigest()

    def sign(self, case_id: str, doc_id: str, right: Right, expires_at: datetime) -> str:
        """Return a link to the document for `right`, valid until ``expires_at`` (timezone-aware)."""
        _require_aware(expires_at, "expires_at")
        if not case_id or not doc_id:
            raise ValueError("case_id and doc_id must be non-empty")
        exp = str(int(expires_at.timestamp()))
        query = urlencode({**right.query(), "exp": exp, "sig": self._mac(case_id, doc_id, right, exp)})
        return f"{self._base_url}/reports/{quote(case_id, safe='')}/{quote(doc_id, safe='')}?{query}"

    def verify(
        self, case_id: str, doc_id: str, right: Right | None, exp: str, sig: str, *, now: datetime
    ) -> None:
        """Raise LinkInvalid for a bad signature, LinkExpired once ``now`` >= exp, and
        LinkWithoutRight for a genuine unexpired link that names no right (`right` None).

        The signature is checked first so an expired-but-forged link is reported as
        invalid, not expired.
        """
        _require_aware(now, "now")
        if not isinstance(exp, str) or not _EXP_RE.fullmatch(exp):
            raise LinkInvalid("malformed expiry")
        if not isinstance(sig, str) or not _SIG_RE.fullmatch(sig.lower()):
            raise LinkInvalid("malformed signature")
        expected = self._mac(case_id, doc_id, right, exp)
        if not hmac.compare_digest(expected.encode("ascii"), sig.lower().encode("ascii")):
            raise LinkInvalid("signature mismatch")
        if now.timestamp() >= int(exp):
            raise LinkExpired("link has expired")
        if right is None:
            raise LinkWithoutRight("the link names no right")
