"""Every sentence a member reads has its Khmer: the catalogs are complete, current and consistent.

A new English sentence (a template's `{% trans %}`, a Python `N_`) that nobody translated
fails here, as does a translation marked fuzzy or one that drops a `%(name)s` the English fills in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from runtime import i18n
from runtime.i18n import Language

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = sorted(ROOT.glob("runtime/locale/*/LC_MESSAGES/*.po"))


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp)


def _forms(string: object) -> list[object]:
    return list(string) if isinstance(string, tuple) else [string]


def _extracted() -> set[str]:
    """The message ids the sources hold now, extracted as `make messages` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    keywords = {"N_": None, "gettext": (1,), "_": None}
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    return {message if isinstance(message, str) else message[0] for _f, _l, message, _c, _x in found}


def test_there_is_a_khmer_catalog() -> None:
    assert i18n.catalog_path(Language.KM) in CATALOGS


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parts[-3])
def test_every_message_is_translated_and_none_is_fuzzy(path: Path) -> None:
    catalog = _catalog(path)
    # A plural message's string is a tuple, one form per plural: each must be there.
    untranslated = [m.id for m in catalog if m.id and not all(_forms(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated, f"{len(untranslated)} untranslated in {path.name}: {untranslated[:5]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy in {path.name}: {fuzzy[:5]}"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parts[-3])
def test_the_catalog_holds_every_sentence_the_sources_mark(path: Path) -> None:
    missing = sorted(_extracted() - {m.id for m in _catalog(path) if isinstance(m.id, str)})
    assert not missing, f"run `make messages` and translate: {missing[:5]}"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parts[-3])
def test_each_translation_fills_in_the_same_values_as_the_english(path: Path) -> None:
    problems = [(m.id, [str(e) for e in errors]) for m, errors in _catalog(path).check()]
    assert not problems, problems[:5]
