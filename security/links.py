"""Signed, expiring links to second-opinion reports.

Reports are delivered by e-mailing a link rather than the document itself. The
link carries an expiry timestamp and an HMAC-SHA256 over (case id, document
id, expiry), so it cannot be extended or pointed at another document without
the server's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from urllib.parse import quote

MIN_SECRET_BYTES = 32

_SIG_RE = re.compile(r"[0-9a-f]{64}")
# Unix seconds, no sign/whitespace/leading garbage; 12 digits is year 33658.
_EXP_RE = re.compile(r"[0-9]{1,12}")


class LinkError(Exception):
    """A report link was refused."""


class LinkExpired(LinkError):
    """The link's signature is valid but its expiry time has passed."""


class LinkInvalid(LinkError):
    """The link is malformed or its signature does not match."""


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")


class LinkSigner:
    """Creates and checks ``{base_url}/reports/{case}/{doc}?exp=..&sig=..`` links."""

    __slots__ = ("_base_url", "_secret")

    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"link signing secret must be at least {MIN_SECRET_BYTES} bytes"
            )
        self._secret = bytes(secret)
        self._base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"LinkSigner(base_url={self._base_url!r})"

    def _mac(self, case_id: str, doc_id: str, exp: str) -> str:
        # JSON array encoding keeps the fields unambiguous: no choice of ids
        # can make ("a/b", "c") and ("a", "b/c") sign the same message.
        message = json.dumps(["smo-report-link/v1", case_id, doc_id, exp])
        return hmac.new(
            self._secret, message.encode("utf-8"), hashlib.sha256
        ).hexdigest()

    def sign(self, case_id: str, doc_id: str, expires_at: datetime) -> str:
        """Return a link to the report valid until ``expires_at`` (timezone-aware)."""
        _require_aware(expires_at, "expires_at")
        if not case_id or not doc_id:
            raise ValueError("case_id and doc_id must be non-empty")
        exp = str(int(expires_at.timestamp()))
        sig = self._mac(case_id, doc_id, exp)
        return (
            f"{self._base_url}/reports/{quote(case_id, safe='')}/{quote(doc_id, safe='')}"
            f"?exp={exp}&sig={sig}"
        )

    def verify(
        self, case_id: str, doc_id: str, exp: str, sig: str, *, now: datetime
    ) -> None:
        """Raise LinkInvalid for a bad signature, LinkExpired once ``now`` >= exp.

        The signature is checked first so an expired-but-forged link is
        reported as invalid, not expired.
        """
        _require_aware(now, "now")
        if not isinstance(exp, str) or not _EXP_RE.fullmatch(exp):
            raise LinkInvalid("malformed expiry")
        if not isinstance(sig, str) or not _SIG_RE.fullmatch(sig.lower()):
            raise LinkInvalid("malformed signature")
        expected = self._mac(case_id, doc_id, exp)
        if not hmac.compare_digest(
            expected.encode("ascii"), sig.lower().encode("ascii")
        ):
            raise LinkInvalid("signature mismatch")
        if now.timestamp() >= int(exp):
            raise LinkExpired("link has expired")
