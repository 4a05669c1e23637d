"""Rendering: a Jinja2 environment per language, plain words for a stage, times for the reader.

Templates autoescape everything; pages carry no inline script or style, so the content
security policy can forbid both. A page is rendered in the request's language
(`runtime.i18n.current`, set by the portal's `languages` middleware or by the page itself),
and its sentences come from the catalogs (`{% trans %}`, `_()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from models.case import CaseStatus, Stage
from runtime import i18n
from runtime.i18n import ICT, Language

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

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

def _environment(language: Language) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ict"] = lambda value: i18n.when(value, language, ICT)
    env.filters["words"] = words
    return i18n.install(env, language)


def words(value: str) -> str:
    return value.replace("_", " ")


_envs = {language: _environment(language) for language in Language}


def render(template: str, code: int = 200, /, **context: Any) -> web.Response:
    """The page in the request's language; `<html lang>` says which."""
    html = _envs[i18n.current()].get_template(template).render(**context)
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
