"""What a notice's template is filled in with for one reader: in their language, in their zone.

The workflow sends codes and instants (`models.notices`), never sentences; each reader gets
them as words: the member in their case's language with times in ICT (or the zone they gave
for their calls), a specialist in English with times in their own zone (the roster's
`timezone`), the desk in English with times in ICT, each time with its zone's name. A code this
module does not know (a notice the workflow queued before it sent codes, whose params were
English words) is shown as it came. The paragraph with the reader's portal link, when the
notice has one for them, is filled in here too (`portal_text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from activities.notice_templates import render_portal_text
from models.intake import PatientIntake
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
_DEFAULTS: dict[str, object] = {
    **dict.fromkeys(("records", "item", "n", "slot", "amount", "reference", "notice", "decree", "old"), ""),
    **dict.fromkeys(("reason", "phone", "before", "who", "rebook", "price", "command"), ""),
    **dict.fromkeys(("release", "doc", "language", "deadline"), ""),
    "near": (),  # a consult's near misses (`_near_misses`)
}

# What the desk runs about a consult (commands, not sentences: never translated).
_COMMANDS = {
    NoticeKind.CONSULT_CHECK: "smo consult complete {case_id} --outcome done|member-absent|specialist-absent",
    NoticeKind.CONSULT_NO_SLOTS: "smo consult slots {case_id}",
}

# The member's notices whose sign-in link is there to book a consult again.
REBOOK_KINDS = frozenset({NoticeKind.CONSULT_CANCELLED, NoticeKind.CONSULT_MISSED})
# The member's notices that carry a fresh single-use sign-in link to the portal.
SIGN_IN_KINDS = REBOOK_KINDS | {
    NoticeKind.CASE_OPENED,
    NoticeKind.PORTAL_LINK,
    NoticeKind.REPORT_DELIVERED,
    NoticeKind.FOLLOW_UP_ANSWERED,
    NoticeKind.OPINION_TRANSLATED,
}
# The specialist's notices that link their active assignment's page (a records notice names its own).
SPECIALIST_PAGE_KINDS = frozenset(
    {NoticeKind.CONSULT_CHECK, NoticeKind.FOLLOW_UP_ASKED, NoticeKind.FOLLOW_UP_WARNING}
)
# The member's notices whose link is minted as the message is sent (a row written per link).
MINTING_KINDS = SIGN_IN_KINDS | {NoticeKind.CONFIRM_REQUEST}


@dataclass(frozen=True, slots=True)
class Reader:
    """One recipient of a notice: who they are to it, the name it greets, their language and zone."""

    audience: Audience
    name: str
    language: Language = Language.EN
    zone: ZoneInfo = ICT


class PortalMail(Protocol):
    """The portal's links: a member's single-use sign-in (opening the portal in their
    language), a specialist's assignment page."""

    def sign_in_url(self, case_id: str, dob: date, language: Language) -> tuple[str, datetime]: ...

    def assignment_url(self, case_id: str, assignment_no: int, specialist_id: str) -> str: ...

    def confirmation_url(self, case_id: str, language: Language = Language.EN) -> tuple[str, datetime]: ...

    def task_url(self, kind: str, case_id: str, ref: str) -> str: ...


def assignment_no_of(notice: Notice) -> int | None:
    """The assignment a specialist's notice belongs to: its id ends in the number, alone
    (`<case>:records_to_specialist:<n>`) or with the round of information (`…:info_supplied:<n>-<k>`)."""
    number = notice.notice_id.rsplit(":", 1)[-1].split("-", 1)[0]
    return int(number) if number.isascii() and number.isdigit() and len(number) < 7 else None


def portal_text(
    portal: PortalMail | None,
    notice: Notice,
    reader: Reader,
    intake: PatientIntake | None,
    assignment_no: int | None = None,
) -> str:
    """The paragraph with this reader's link to the portal, or "" when the notice has none for them.

    `assignment_no` is the specialist's active assignment, looked up for a consult's question
    (a records notice names its own).
    """
    audience = reader.audience
    if portal is None:
        return ""
    if audience is Audience.CUSTOMER and notice.kind is NoticeKind.CONFIRM_REQUEST:
        # The whole paragraph is the template's: the link is the one value in the message.
        return portal.confirmation_url(notice.case_id, reader.language)[0]
    if audience is Audience.CUSTOMER and intake is not None and notice.kind in SIGN_IN_KINDS:
        # The link opens the portal in the member's language; it expires at a time in their zone.
        lang = reader.language
        url, until = portal.sign_in_url(notice.case_id, intake.date_of_birth, lang)
        part = "book" if notice.kind in REBOOK_KINDS else "sign_in"
        return render_portal_text(part, lang, url=url, until=when(until, lang, reader.zone))
    # The member's survey: its page in their language.
    if audience is Audience.CUSTOMER and notice.kind is NoticeKind.SURVEY:
        url = portal.task_url("survey", notice.case_id, "1") + f"?lang={reader.language.value}"
        return render_portal_text("survey", reader.language, url=url)
    # A provider's upload page for its request; a translator's page for the document.
    if audience is Audience.PROVIDER and notice.kind is NoticeKind.DOCTOR_REPORT:
        url = portal.task_url("doctors", notice.case_id, notice.params["doctor"])
        return render_portal_text("doctor", reader.language, url=url)
    if audience is Audience.PROVIDER and notice.params.get("n"):
        url = portal.task_url("providers", notice.case_id, notice.params["n"])
        return render_portal_text("provider", reader.language, url=url)
    if audience is Audience.TRANSLATOR and notice.kind is NoticeKind.OPINION_TRANSLATION:
        url = portal.task_url("opinion-translations", notice.case_id, notice.params["sheet"])
        return render_portal_text("opinion_translation", url=url)
    if audience is Audience.TRANSLATOR and notice.params.get("doc"):
        return render_portal_text(
            "translation", url=portal.task_url("translations", notice.case_id, notice.params["doc"])
        )
    if audience is not Audience.SPECIALIST or not notice.specialist_id:
        return ""
    # The specialist's page: a records notice names its assignment; a consult's question is
    # given the active one.
    if notice.kind is NoticeKind.RECORDS_TO_SPECIALIST:
        assignment_no = assignment_no_of(notice)
    elif notice.kind not in SPECIALIST_PAGE_KINDS:
        return ""
    if assignment_no is None:
        return ""
    url = portal.assignment_url(notice.case_id, assignment_no, notice.specialist_id)
    return render_portal_text("assignment", url=url)


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


def _near_misses(joined: str, reader: Reader) -> list[dict[str, str]]:
    """The near misses the workflow joined ("<ISO start>|<reason>;…"): each start in the
    reader's zone, each reason (the slot rule's sentence) in their words."""
    near = []
    for item in filter(None, (i.strip() for i in joined.split(";"))):
        start, _, reason = item.partition("|")
        reason = reason.strip()
        # gettext("") is the catalog's header, not a word.
        near.append(
            {
                "at": _moment(start.strip(), reader),
                "reason": gettext(reason, reader.language) if reason else "",
            }
        )
    return near


def _price(program: Program | None) -> str:
    """What a further consult costs in the program ("25.00 USD"), or "" when it is not known."""
    if program is None:
        return ""
    return f"{program.consults.price_cents / 100:.2f} {program.consults.currency}"


def _rebook(notice: Notice, program: Program | None) -> str:
    """Whether the member's next booking is "free" or "billed" (after a missed consult)."""
    consults = program.consults if program is not None else None
    # A program whose every consult is free (no cap, or no price) bills none.
    costless = consults is not None and (consults.free is None or consults.price_cents == 0)
    return "free" if notice.params.get("free") == "1" or costless else "billed"


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
        "specialist": notice.specialist_id or "",
    }
    if notice.kind in _COMMANDS:
        values["command"] = _COMMANDS[notice.kind].format(case_id=notice.case_id)
    for instant in ("slot", "old", "deadline"):
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
        case NoticeKind.CONSULT_RESCHEDULED if params.get("before"):
            values["before"] = _moment(params["before"], reader)  # the slot it moved from
        case NoticeKind.CONSULT_MISSED:
            values["rebook"], values["price"] = _rebook(notice, program), _price(program)
        case NoticeKind.CONSULT_NO_SLOTS:
            values["near"] = _near_misses(params.get("near", ""), reader)
        case NoticeKind.CASE_CLOSED:
            # The case says a closed case stays on file for a follow-up (it sent a sentence).
            values["follow_up"] = bool(params.get("follow_up") or params.get("item"))
    return values
