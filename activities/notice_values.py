"""What a notice's template is filled in with for one reader: in their language, in their zone.

The workflow sends codes and instants (`models.notices`), never sentences; each reader gets
them as words: the member in their case's language with times in ICT, a specialist in English
with times in their own zone (the roster's `timezone`), the desk in English with times in ICT,
each time with its zone's name. A code this module does not know (a notice the workflow queued
before it sent codes, whose params were English words) is shown as it came.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from models.notices import Audience, Notice, NoticeKind
from models.program import Program
from models.vocabulary import Language
from runtime import words
from runtime.i18n import ICT, N_, gettext, when

# What a charge on the member's receipt paid for (`ChargeRequest.kind`).
CHARGES = {"consult": N_("a telephone consultation"), "third_opinion": N_("a third opinion")}
# The member's words for the case's codes (`runtime.words`), by the code the notice carries.
_RECORD_TYPES = {code.value: name for code, name in words.RECORD_TYPES.items()}
_INFO_REASONS = {code.value: name for code, name in words.INFO_REASONS.items()}

# What a template may name that a notice need not carry: empty unless the notice says more.
_DEFAULTS = dict.fromkeys(
    ("records", "item", "n", "slot", "amount", "reference", "notice", "decree", "old", "reason", "phone"), ""
)


@dataclass(frozen=True, slots=True)
class Reader:
    """One recipient of a notice: who they are to it, the name it greets, their language and zone."""

    audience: Audience
    name: str
    language: Language = Language.EN
    zone: ZoneInfo = ICT


def _named(code: str, names: Mapping[str, str], language: Language) -> str:
    # Notices queued before codes were sent wrote a record type with spaces for underscores.
    key = code.strip().replace(" ", "_")
    return gettext(names[key], language) if key in names else code.strip()


def _record_types(codes: str, language: Language) -> str:
    """Comma-separated record type codes as the reader names them ("Biopsy report, …")."""
    return ", ".join(_named(c, _RECORD_TYPES, language) for c in codes.split(",") if c.strip())


def _moment(text: str, reader: Reader) -> str:
    """An instant the workflow wrote (ISO 8601, or a consult slot's "%Y-%m-%d %H:%M %z")."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return text
    return when(at, reader.language, reader.zone) if at.tzinfo is not None else text


def _refusals(notice: Notice, program: Program | None, language: Language) -> list[dict[str, str]]:
    """Why each refusing rule applied and what the member can do next, in the member's words."""
    if program is None:
        return []
    said: list[dict[str, str]] = []
    for code in filter(None, (c.strip() for c in notice.params.get("rules", "").split(","))):
        member = program.member_words(code)
        refusal = {
            "reason": gettext(member.reason, language),
            "next_step": gettext(member.next_step, language),
        }
        if refusal not in said:  # two rules may share their words to the member
            said.append(refusal)
    return said


def template_values(
    notice: Notice, reader: Reader, program: Program | None, *, links: str, expires: datetime, portal: str
) -> dict[str, object]:
    """What the templates fill in for this reader: the notice's own params, each in their words."""
    params, language = notice.params, reader.language
    values: dict[str, object] = {
        **_DEFAULTS,
        **params,
        "case_id": notice.case_id,
        "name": reader.name,
        "audience": reader.audience.value,
        "due": when(notice.due_at, language, reader.zone) if notice.due_at else "",
        "links": links,
        "expires": when(expires, language, reader.zone),
        "portal": portal,
        "records": _record_types(params.get("records", ""), language),
    }
    for instant in ("slot", "old"):
        if params.get(instant):
            values[instant] = _moment(params[instant], reader)
    if notice.params.get("notice"):
        # The program's own words (the report's notice): English in its file, the reader's here.
        values["notice"] = gettext(params["notice"], language)
    match notice.kind:
        case NoticeKind.INFO_REQUESTED:
            # Sent as `reason`; notices queued before sent the same code as `item`.
            reason = params.get("reason") or params.get("item", "")
            values["reason"] = _named(reason, _INFO_REASONS, language)
        case NoticeKind.RECEIPT:
            values["item"] = _named(params.get("charge") or params.get("item", ""), CHARGES, language)
        case NoticeKind.INELIGIBLE:
            values["refusals"] = _refusals(notice, program, language)
        case NoticeKind.REPORT_DELIVERED:
            values["free_consults"] = program.consults.free if program is not None else None
        case NoticeKind.CASE_CLOSED:
            # The case says a closed case stays on file for a follow-up (it sent a sentence).
            values["follow_up"] = bool(params.get("follow_up") or params.get("item"))
    return values
