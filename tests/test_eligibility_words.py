"""The programs' words to a refused member: one pair for every rule, plain and short, general
words for a rule without its own, and every sentence handed to the catalog by the extractor."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from pydantic import ValidationError

from models.program import Program, load_programs
from models.program_words import GENERAL_WORDS, MemberWords, extract
from models.settings import PROJECT_ROOT

PROGRAMS_DIR = PROJECT_ROOT / "programs"
PROGRAMS = load_programs(PROGRAMS_DIR)
RULES = [(p, r) for p in PROGRAMS.values() for r in p.eligibility.rules]
IDS = [f"{p.name}:{r.code}" for p, r in RULES]


def every_words() -> list[MemberWords]:
    return [r.member for _, r in RULES if r.member] + [GENERAL_WORDS]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


@pytest.mark.parametrize(("program", "code"), [(p, r.code) for p, r in RULES], ids=IDS)
def test_every_rule_that_can_refuse_has_its_own_words(program: Program, code: str) -> None:
    rule = next(r for r in program.eligibility.rules if r.code == code)
    assert rule.member is not None
    assert program.member_words(code) is rule.member
    assert rule.member.source == "product"


def test_an_unknown_code_gets_the_general_words() -> None:
    assert PROGRAMS["prudential-kh"].member_words("no-such-rule") == GENERAL_WORDS


def test_a_rule_written_without_words_gets_the_general_words() -> None:
    pru = PROGRAMS["prudential-kh"]
    data = pru.model_dump()
    for rule in data["eligibility"]["rules"]:
        rule["member"] = None
    bare = Program.model_validate(data)
    assert bare.member_words("d") == GENERAL_WORDS
    assert pru.member_words("d").next_step == "Ask your doctor for a diagnosis, then ask us again."


@pytest.mark.parametrize("words", every_words(), ids=lambda w: w.reason[:30])
def test_the_words_are_whole_short_sentences_to_you(words: MemberWords) -> None:
    for text in (words.reason, words.next_step):
        for sentence in sentences(text):
            assert sentence[0].isupper() and sentence.endswith("."), sentence
            assert len(sentence.split()) <= 20, f"too long for a plain sentence: {sentence}"
    assert re.search(r"\b(you|your)\b", f"{words.reason} {words.next_step}", re.IGNORECASE)


INTERNAL = re.compile(
    r"eligib|exclusion|\bICD|\bSMO\b|life assured|\bmember\b|override|coordinator|symptom|"
    r"in force|_|\b[a-e]\.[ivx]+\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("words", every_words(), ids=lambda w: w.reason[:30])
def test_the_words_use_no_internal_or_legal_terms(words: MemberWords) -> None:
    for text in (words.reason, words.next_step):
        assert not INTERNAL.search(text), text


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("reason", "Your cover is 100% used.", "should match pattern"),
        ("reason", "One line.\nTwo lines.", "should match pattern"),
        ("next_step", "Call us. " * 30, "at most 200 characters"),
        ("source", "prudential-cambodia-aaa-smo.txt", "Input should be 'product'"),
    ],
    ids=["percent", "newline", "too-long", "seed-source"],
)
def test_words_a_catalog_cannot_carry_are_refused(field: str, value: str, problem: str) -> None:
    fields = {"reason": "Your plan was not active.", "next_step": "Call our desk."} | {field: value}
    with pytest.raises(ValidationError, match=re.escape(problem)):
        MemberWords.model_validate(fields)


# ---- the sentences reach the catalog -------------------------------------------------------


def member_facing(program: Program) -> set[str]:
    texts = {program.title}
    if program.no_reimbursement_notice.enabled and program.no_reimbursement_notice.text:
        texts.add(program.no_reimbursement_notice.text)
    for rule in program.eligibility.rules:
        if rule.member:
            texts |= {rule.member.reason, rule.member.next_step}
    return texts


@pytest.mark.parametrize("path", sorted(PROGRAMS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_extractor_yields_every_sentence_a_member_reads_where_it_stands(path: Path) -> None:
    with path.open("rb") as fp:
        found = list(extract(fp, {}, [], {}))
    assert {text for _, _, text, _ in found} == member_facing(PROGRAMS[path.stem])
    lines = path.read_text(encoding="utf-8").splitlines()
    for line, funcname, text, comments in found:
        assert funcname is None and comments == []
        # A sentence starts on its line (`key: text`), or a folded block's `key: >-` does.
        written = lines[line - 1].strip()
        assert f": {text.split()[0]}" in written or written.endswith(": >-"), (line, written)


def test_the_extractor_reads_only_member_facing_keys() -> None:
    source = b"name: x\ntitle: A title\nno_reimbursement_notice:\n  enabled: false\n  text: null\n"
    source += b"eligibility:\n  rules:\n    - code: a\n      text: Seed words\n"
    source += b"      member: {reason: Why., next_step: What now.}\n"
    found = list(extract(io.BytesIO(source), {}, [], {}))
    assert [(line, text) for line, _, text, _ in found] == [(2, "A title"), (10, "Why."), (10, "What now.")]
    assert list(extract(io.BytesIO(b""), {}, [], {})) == []


def test_the_general_words_are_marked_for_the_catalog() -> None:
    path = PROJECT_ROOT / "models" / "program_words.py"
    found = {message for _, message, _, _ in extract_from_file("python", str(path), keywords={"N_": None})}
    assert {GENERAL_WORDS.reason, GENERAL_WORDS.next_step} <= found


def test_babel_cfg_hands_the_program_files_to_the_extractor() -> None:
    # `make messages` and tests/test_catalogs.py read the same babel.cfg.
    with (PROJECT_ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found = extract_from_dir(str(PROGRAMS_DIR.parent), method_map, options_map, keywords={"N_": None})
    extracted = {message for filename, _, message, _, _ in found if filename.startswith("programs/")}
    for program in PROGRAMS.values():
        assert member_facing(program) <= extracted, program.name


def test_yaml_reads_a_folded_sentence_as_the_extractor_does() -> None:
    # The extractor composes nodes; the program loader constructs values: one sentence either way.
    source = "text: >-\n  One sentence\n  on two lines.\n"
    node = yaml.compose(source, Loader=yaml.SafeLoader)
    assert isinstance(node, yaml.MappingNode)
    assert node.value[0][1].value == yaml.safe_load(source)["text"] == "One sentence on two lines."
