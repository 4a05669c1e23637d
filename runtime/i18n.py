"""Khmer and English: the catalogs, the reader's language, and times in the reader's own zone.

One gettext domain (`messages`) holds every sentence a member or a specialist reads: the
portal's pages (web/portal/templates), the emails (activities/templates/email) and the
sentences written in Python, marked with `N_` where they are defined and translated where
they are shown. `make messages` extracts them with Babel (babel.cfg) and updates the Khmer
catalog, `runtime/locale/km/LC_MESSAGES/messages.po`; `make install` compiles it. English is
the source language: its sentences are the message ids themselves.

The language of the request being served is a context variable: a portal middleware sets it
for the page (from the case, a switch, or Accept-Language), and whatever renders reads it,
so no handler passes it along by hand. aiohttp serves each request in its own task, and
`asyncio.to_thread` copies the context, so one request's language never leaks into another's.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time, get_month_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

from models.vocabulary import N_, Language, language_of

__all__ = ["ICT", "N_", "Language", "language_of"]

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
ICT = ZoneInfo("Asia/Phnom_Penh")
# Zones whose tz database abbreviation is only an offset ("+07") get the name people use.
_ZONE_NAMES = {"Asia/Phnom_Penh": "ICT", "Asia/Bangkok": "ICT", "Asia/Ho_Chi_Minh": "ICT", "UTC": "UTC"}

_log = logging.getLogger(__name__)
_current: ContextVar[Language] = ContextVar("language", default=Language.EN)


def current() -> Language:
    return _current.get()


def use(language: Language) -> None:
    """The language of everything rendered from here on in this request (its task)."""
    _current.set(language)


@contextmanager
def using(language: Language) -> Iterator[None]:
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def catalog_path(language: Language) -> Path:
    return LOCALE_DIR / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: Language) -> NullTranslations:
    """The language's catalog: the compiled one while it is as new as its .po, else the .po.

    A checkout that has not run `make install` since the .po changed still shows the words
    of the .po: compiling in memory takes a few milliseconds, once per process.
    """
    if language is Language.EN:
        return NullTranslations()
    po = catalog_path(language)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    _log.warning("the %s catalog is not compiled (make install); reading %s", language.value, po.name)
    buffer = io.BytesIO()
    with po.open("rb") as fp:
        write_mo(buffer, read_po(fp, locale=language.value))
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(message: str, language: Language | None = None, /, **values: Any) -> str:
    """`message` in `language` (the request's, by default), filled in with `values`."""
    text = translations(language or current()).gettext(message)
    return text % values if values else text


def install(env: Environment, language: Language) -> Environment:
    """Give a Jinja2 environment `_`, `gettext` and `{% trans %}` in `language`.

    Trimmed: a `{% trans %}` block's line breaks and indentation are layout, not message.
    """
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["language"] = language
    env.globals["languages"] = list(Language)
    env.globals["month_names"] = month_names(language)
    env.filters["when"] = lambda value, zone=ICT: when(value, language, zone)
    env.filters["day"] = lambda value: day(value, language)
    return env


def zone_of(key: str | None) -> ZoneInfo:
    """A roster's zone (IANA); ICT, the service's own, for none or one the tz database lacks,
    so that a time shown still names the zone it is in."""
    try:
        return ZoneInfo(key) if key else ICT
    except (ZoneInfoNotFoundError, ValueError):
        return ICT


def zone_name(zone: ZoneInfo, at: datetime) -> str:
    """What a reader calls the zone at that instant: ICT, CST or CDT, else its UTC offset."""
    if zone.key in _ZONE_NAMES:
        return _ZONE_NAMES[zone.key]
    abbreviation = at.astimezone(zone).tzname() or ""
    if abbreviation and abbreviation[0] not in "+-":
        return abbreviation
    offset = at.astimezone(zone).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def when(value: datetime | None, language: Language | None = None, zone: ZoneInfo = ICT) -> str:
    """A moment as the reader reads it, in their zone: "Tuesday 14 April 2026, 17:00 ICT",
    "ថ្ងៃអង្គារ 14 មេសា 2026, 17:00 ICT". A 24-hour clock in both languages."""
    if value is None:
        return ""
    language = language or current()
    local = value.astimezone(zone)
    locale = _locale(language)
    weekday, clock = format_date(local, "EEEE", locale=locale), format_time(local, "HH:mm", locale=locale)
    return f"{weekday} {day(local.date(), language)}, {clock} {zone_name(zone, value)}"


def day(value: date | None, language: Language | None = None) -> str:
    """A date with the month's name, never a form of digits to misread: "14 April 2026", "14 មេសា 2026"."""
    if value is None:
        return ""
    return format_date(value, "d MMMM y", locale=_locale(language or current()))


def month_names(language: Language) -> list[str]:
    """January to December (មករា … ធ្នូ), for a date typed as day, month and year."""
    names = get_month_names("wide", locale=_locale(language))
    return [str(names[n]) for n in range(1, 13)]


def negotiate(accept_language: str) -> Language:
    """The first language of an Accept-Language header that the service speaks (by weight)."""
    weighted: list[tuple[float, int, Language]] = []
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-", 1)[0]
        if primary in {lang.value for lang in Language} and weight > 0:
            weighted.append((-weight, position, Language(primary)))
    return min(weighted)[2] if weighted else Language.EN


@functools.cache
def _locale(language: Language) -> Locale:
    return Locale.parse(language.value)
