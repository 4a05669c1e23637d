"""Secrets in free text: the tokens a request may carry, masked before a line is written.

A request line or a header can reach a log (a parser's error quotes the line it refused, a
traceback quotes a value), and every token in one grants something: the API token (`smo_…`,
or whatever follows `Bearer`), the codec token in `/codec/t/<token>`, a member's sign-in link,
a specialist's assignment link and the signature of a document link. Each is masked whether
it is valid or not: an almost-right token is one character from a right one.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

# Each keeps what says which kind of secret it was, and masks the secret itself. Possessive
# quantifiers keep them linear on hostile text.
_SECRETS = re.compile(
    r"(?P<keep>"
    r"\b(?:authorization|proxy-authorization)\s*[:=]\s*['\"]?(?!bearer\b|basic\b)"  # a bare value
    r"|\b(?:bearer|basic)\s++(?!\[REDACTED\])"
    r"|/t/|/signin/|/confirm/"
    r"|/assignments/(?:[^/\s'\"?#]++/){3}"  # case, round, expiry; then the signature
    r"|[?&;](?:sig|token)="
    r"|\bsmo_(?=[A-Za-z0-9_-]{16})"  # shorter is a name (smo_case), not a token
    r")"
    r"[^\s'\"/?&#;,]++",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """`text` with every token in it masked: `Bearer [REDACTED]`, `/codec/t/[REDACTED]`…"""
    return _SECRETS.sub(lambda m: m.group("keep") + MASK, text)
