"""Rendering: a Jinja2 environment per language, with the filters for times and the case's words.

Templates autoescape everything; pages carry no inline script or style, so the content
security policy can forbid both. A page is rendered in the request's language
(`runtime.i18n.current`, set by the portal's `languages` middleware or by the page itself),
and its sentences come from the catalogs (`{% trans %}`, `_()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from babel.dates import get_day_names
from jinja2 import Environment, FileSystemLoader, select_autoescape

from runtime import i18n
from runtime.i18n import ICT, Language
from runtime.words import record_type

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The sign-in path carries a token: no other site may see it as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Back:
    """Where a page of refusal leads (an error page's one link), in the reader's words."""

    href: str
    label: str


def _environment(language: Language) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ict"] = lambda value: i18n.when(value, language, ICT)
    env.filters["words"] = words
    # A record type's name as members read it ("Biopsy report"), in the page's language.
    env.filters["record_type"] = lambda value: record_type(value, language)
    env.globals["weekday_names"] = weekday_names(language)
    return i18n.install(env, language)


def weekday_names(language: Language) -> list[str]:
    """Sunday to Saturday (as JavaScript counts them), for local-time.js to write the reader's
    own time in the page's words: a browser may have no Khmer of its own."""
    names = get_day_names("wide", locale=language.value)
    return [str(names[(day + 6) % 7]) for day in range(7)]


def words(value: str) -> str:
    return value.replace("_", " ")


_envs = {language: _environment(language) for language in Language}


def render(template: str, code: int = 200, /, **context: Any) -> web.Response:
    """The page in the request's language; `<html lang>` says which."""
    html = _envs[i18n.current()].get_template(template).render(**context)
    headers = SECURITY_HEADERS | {"Content-Language": i18n.current().value}
    return web.Response(status=code, text=html, content_type="text/html", headers=headers)
