"""Rendering: the Jinja2 environment, plain words for a stage, dates in ICT and for the reader.

Templates autoescape everything; pages carry no inline script or style, so the content
security policy can forbid both.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from models.case import CaseStatus, Stage

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
ICT = ZoneInfo("Asia/Phnom_Penh")

STAGE_WORDS: dict[Stage, str] = {
    Stage.INTAKE: "We have received your request.",
    Stage.ELIGIBILITY: "We are checking that your cover includes a second opinion.",
    Stage.GATHERING_RECORDS: "We are collecting your medical records.",
    Stage.ASSIGNING_SPECIALIST: "We are choosing the specialist who will review your case.",
    Stage.UNDER_REVIEW: "A specialist is reviewing your medical records.",
    Stage.REPORT_DELIVERED: "Your written report is ready.",
    Stage.CONSULT: "Your report is ready. You may book a telephone consultation with the specialist.",
    Stage.CLOSED: "Your case is closed.",
    Stage.INELIGIBLE: "Your cover does not include a second opinion for this request.",
    Stage.LAPSED: "Your request lapsed because we did not receive the medical records.",
    Stage.CANCELLED: "Your request was cancelled.",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The sign-in path carries a token: no other site may see it as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def ict(value: datetime | None) -> str:
    return value.astimezone(ICT).strftime("%A %d %B %Y, %H:%M ICT") if value else ""


def words(value: str) -> str:
    return value.replace("_", " ")


_env.filters["ict"] = ict
_env.filters["words"] = words


def render(template: str, code: int = 200, /, **context: Any) -> web.Response:
    html = _env.get_template(template).render(**context)
    return web.Response(status=code, text=html, content_type="text/html", headers=SECURITY_HEADERS)


def case_context(status: CaseStatus) -> dict[str, Any]:
    """What the case page shows, in plain words, from the case's own `status` query."""
    return {
        "status": status,
        "stage_words": STAGE_WORDS[status.stage],
        "missing": [words(m.value) for m in status.records.missing],
        "due_at": status.sla.due_at,
        "terminal": status.stage.terminal,
        "can_upload": status.stage
        in {Stage.GATHERING_RECORDS, Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW},
        "can_book": status.stage in {Stage.REPORT_DELIVERED, Stage.CONSULT} and not status.consult_pending,
    }
