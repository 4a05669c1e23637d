"""structlog processor that keeps PHI out of log output.

Three layers, applied to every log line:

1. Values of keys that name PHI (``patient_name``, ``diagnosis``, ``dob``,
   ``email``, ``to``, ...) are replaced wholesale, at any nesting depth.
2. Inside every string value (the ``event`` message included) e-mail
   addresses, phone numbers and dates tagged as birth dates are masked.
3. Exact PHI strings the current task has seen (``register_phi``) are masked
   wherever they appear. The set lives in a ContextVar, so each asyncio task
   (each Temporal activity) only masks, and only holds, its own values.

Tokens in any string (a bearer token, a codec or sign-in link) are masked too
(``security.secret_text``): a log line is no place for a secret either.

Place ``redact_phi`` last before the renderer. It renders ``exc_info`` itself
so exception messages and tracebacks are scrubbed too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

from security.secret_text import mask_secrets

REDACTED = "[REDACTED]"

PHI_KEYS: frozenset[str] = frozenset(
    {
        # identity
        "patient",
        "patient_name",
        "name",
        "full_name",
        "first_name",
        "last_name",
        "given_name",
        "family_name",
        "middle_name",
        "maiden_name",
        "surname",
        "initials",
        # clinical
        "diagnosis",
        "diagnosis_text",
        "diagnoses",
        "condition",
        "symptoms",
        "medication",
        "medications",
        "clinical_notes",
        "clinical_question",
        "medical_history",
        "notes",
        "report_text",
        "opinion_text",
        # birth date
        "dob",
        "date_of_birth",
        "birth_date",
        "birthdate",
        "birthday",
        # contact
        "phone",
        "phone_number",
        "mobile",
        "telephone",
        "fax",
        "email",
        "email_address",
        "to",
        "cc",
        "bcc",
        "recipient",
        "recipients",
        "reply_to",
        "address",
        "street",
        "postal_address",
        "postcode",
        "postal_code",
        "zip",
        "zip_code",
        # identifiers
        "ssn",
        "national_id",
        "insurance_number",
        "mrn",
        "medical_record_number",
    }
)

# Key suffixes that denote PHI whatever the prefix (``patient_email``,
# ``referrer_phone``). Deliberately not "_name": workflow_name, task_queue_name
# and friends are operational and needed for debugging.
PHI_KEY_SUFFIXES: tuple[str, ...] = (
    "_patient_name",
    "_full_name",
    "_first_name",
    "_last_name",
    "_email",
    "_email_address",
    "_phone",
    "_phone_number",
    "_dob",
    "_date_of_birth",
    "_birth_date",
    "_diagnosis",
    "_diagnosis_text",
    "_address",
)

# Structural keys used by structlog's stdlib integration; their values are
# LogRecords that later processors need intact and never render.
_PASSTHROUGH_KEYS = frozenset({"_record", "_from_structlog"})

_MAX_DEPTH = 8
_MIN_PHI_LENGTH = 3

# Possessive quantifiers (Python 3.11+) keep these linear: a log line is
# attacker-influenced text and must not be able to stall the logger.
_EMAIL_RE = re.compile(
    # Local part without quote/=/brace characters: in log text those are far
    # more often punctuation around an address than part of it.
    r"(?<![A-Za-z0-9.!#$%&*+?^_~-])"  # start only at a local-part boundary
    r"[A-Za-z0-9.!#$%&*+?^_~-]++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++"
)

# Phone-number candidates: optional +/00 prefix, then up to ten digit groups
# separated by single spaces, dots, dashes or slashes, optionally with a
# parenthesised area code. Not glued to a word on the left, and not running on
# into word-ish text on the right (UUIDs, "2024-05-01 10:00", versions); the
# possessive groups make that a rejection rather than a shorter partial match.
_PHONE_RE = re.compile(
    r"""
    (?<![\w@+.\-/])
    (?:(?:\+|00)\s?)?+
    (?:\(\d++\)|\d++)
    (?:[ .\-/]?+\(\d++\)|(?:[ .\-/]|(?<=\)))\d++){0,9}+
    (?![\w@]|[.\-/:]\w)
    """,
    re.VERBOSE,
)
_DIGIT_RE = re.compile(r"\d")
_NOT_PHONE_RES = (
    re.compile(r"\d{4}-\d{2}-\d{2}"),  # ISO date (not tagged as a birth date)
    re.compile(r"\d{1,3}(?:\.\d{1,3}){3}"),  # IPv4 address
    re.compile(r"\d+\.\d+"),  # decimal number
    re.compile(r"[1-9]\d*"),  # bare integer: ids, sizes, epoch seconds
)

_DATE = r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{4})"
_BIRTH_DATE_RE = re.compile(
    r"(?P<tag>\b(?:dob|d\.o\.b\.?|date[ _-]?of[ _-]?birth|birth[ _-]?date|birthdate"
    r"|birthday|born(?:[ _-]on)?)\b[\"']?\s*[:=]?\s*[\"']?)" + _DATE,
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True, slots=True)
class _PhiState:
    values: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None


# Immutable state so a task that registers values never mutates what its
# parent or sibling tasks see (contexts are copied, not deep-copied). The
# compiled pattern lives in the same place, so no global cache ever holds PHI.
_phi_state: ContextVar[_PhiState] = ContextVar(
    "smo_phi_state",
    default=_PhiState(),  # noqa: B039 - frozen dataclass, never mutated
)


def _normalise_key(key: str) -> str:
    return key.strip().lower().replace("-", "_").replace(" ", "_")


def is_phi_key(key: object) -> bool:
    """Whether a log key's value must be redacted wholesale."""
    if not isinstance(key, str):
        return False
    norm = _normalise_key(key)
    return norm in PHI_KEYS or norm.endswith(PHI_KEY_SUFFIXES)


def register_phi(*values: object) -> None:
    """Mask these exact values (case-insensitive) in this task's log lines.

    Non-strings and values shorter than three characters are ignored: masking
    every "a" or "12" would destroy the logs and protect nothing.
    """
    current = _phi_state.get()
    added = list(current.values)
    for value in values:
        if not isinstance(value, str):
            continue
        text = " ".join(value.split())
        if len(text) >= _MIN_PHI_LENGTH and text not in added:
            added.append(text)
    if len(added) != len(current.values):
        _phi_state.set(_PhiState(tuple(added), _compile_phi(added)))


def clear_phi() -> None:
    """Forget the PHI values registered in this task's context."""
    _phi_state.set(_PhiState())


@contextlib.contextmanager
def phi_scope(*values: object) -> Iterator[None]:
    """Register values for the duration of a ``with`` block, then restore."""
    token = _phi_state.set(_phi_state.get())
    try:
        register_phi(*values)
        yield
    finally:
        _phi_state.reset(token)


def _compile_phi(values: list[str]) -> re.Pattern[str]:
    # Longest first so "Jane Doe" wins over "Jane"; whitespace-insensitive so
    # "Jane  Doe" or a line-wrapped name still matches.
    ordered = sorted(values, key=len, reverse=True)
    alternatives = (r"\s+".join(re.escape(word) for word in v.split()) for v in ordered)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _mask_phone(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = len(_DIGIT_RE.findall(candidate))
    if not 8 <= digits <= 15:
        return candidate
    international = candidate.startswith(("+", "00"))
    if not international and any(p.fullmatch(candidate) for p in _NOT_PHONE_RES):
        return candidate
    return REDACTED


def _mask_birth_date(match: re.Match[str]) -> str:
    return match.group("tag") + REDACTED


def scrub_text(text: str, phi: re.Pattern[str] | None = None) -> str:
    """Mask tokens, registered PHI, birth dates, e-mail addresses and phone numbers.

    ``phi`` defaults to the pattern for values registered in this context.
    """
    text = mask_secrets(text)
    if phi is None:
        phi = _phi_state.get().pattern
    if phi is not None:
        text = phi.sub(REDACTED, text)
    if "@" in text:
        text = _EMAIL_RE.sub(REDACTED, text)
    if _DIGIT_RE.search(text):
        text = _BIRTH_DATE_RE.sub(_mask_birth_date, text)
        text = _PHONE_RE.sub(_mask_phone, text)
    return text


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        try:
            return f"<unprintable {type(value).__name__}>"
        except Exception:
            return "<unprintable>"


def _as_mapping(value: object) -> Mapping[Any, Any] | None:
    """Structured view of models/dataclasses so key-based redaction applies."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            result = dump(mode="json")
        except Exception:
            return None
        return result if isinstance(result, Mapping) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return dataclasses.asdict(value)
        except Exception:
            return None
    return None


_format_exc_info = structlog.processors.ExceptionRenderer()


class PhiRedactor:
    """The redaction processor; instantiate with extra PHI key names if needed."""

    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        self._extra = frozenset(_normalise_key(k) for k in extra_keys)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        try:
            return self._redact(logger, method_name, event_dict)
        except Exception as exc:
            # Fail closed: losing a log line's content beats leaking PHI.
            safe: dict[str, Any] = {"event": REDACTED}
            for key in ("level", "timestamp", "logger"):
                value = event_dict.get(key)
                if isinstance(value, str):
                    safe[key] = value
            safe["redaction_error"] = type(exc).__name__
            return safe

    def is_phi_key(self, key: object) -> bool:
        """Whether a value under ``key`` is redacted wholesale."""
        if not isinstance(key, str):
            return False
        return is_phi_key(key) or (
            bool(self._extra) and _normalise_key(key) in self._extra
        )

    def _redact(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if event_dict.get("exc_info"):
            # Render the traceback now so its text gets scrubbed below.
            event_dict = _format_exc_info(logger, method_name, event_dict)
        else:
            event_dict.pop("exc_info", None)
        phi = _phi_state.get().pattern
        out: dict[str, Any] = {}
        for key, value in event_dict.items():
            if key in _PASSTHROUGH_KEYS:
                out[key] = value
            elif self.is_phi_key(key):
                out[key] = REDACTED
            else:
                out[key] = self._scrub(value, phi, 0)
        return out

    def _scrub(self, value: object, phi: re.Pattern[str] | None, depth: int) -> object:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return scrub_text(value, phi)
        if depth >= _MAX_DEPTH:
            # Also what stops self-referencing containers from recursing forever.
            return "[TRUNCATED]"
        if isinstance(value, Mapping):
            return self._scrub_mapping(value, phi, depth + 1)
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._scrub(item, phi, depth + 1) for item in value]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return scrub_text(bytes(value).decode("utf-8", errors="replace"), phi)
        if isinstance(value, BaseException):
            return scrub_text(f"{type(value).__name__}: {_safe_str(value)}", phi)
        structured = _as_mapping(value)
        if structured is not None:
            return self._scrub_mapping(structured, phi, depth + 1)
        return scrub_text(_safe_str(value), phi)

    def _scrub_mapping(
        self, mapping: Mapping[Any, Any], phi: re.Pattern[str] | None, depth: int
    ) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in mapping.items():
            clean = REDACTED if self.is_phi_key(key) else self._scrub(value, phi, depth)
            # Nested dicts are sometimes keyed by PHI (recipient -> status).
            out[self._scrub_key(key, phi)] = clean
        return out

    @staticmethod
    def _scrub_key(key: object, phi: re.Pattern[str] | None) -> object:
        if key is None or isinstance(key, (bool, int, float)):
            return key
        if isinstance(key, str):
            return scrub_text(key, phi)
        return scrub_text(_safe_str(key), phi)


redact_phi = PhiRedactor()
"""Default processor: ``structlog.configure(processors=[..., redact_phi, renderer])``."""
