"""Program files: the shipped programs, their ProgramTerms snapshot, and start-up errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.case import ProgramTerms, RecordType
from models.program import (
    Program,
    ProgramConfigError,
    UnknownProgramError,
    get_program,
    load_program,
    load_programs,
)
from models.settings import PROJECT_ROOT

PROGRAMS_DIR = PROJECT_ROOT / "programs"


@pytest.fixture(scope="module")
def programs() -> dict[str, Program]:
    return load_programs(PROGRAMS_DIR)


# A small valid program that each error scenario breaks in one place.
MINIMAL: dict[str, Any] = {
    "name": "demo",
    "title": "Demo program",
    "seed": "demo-seed.txt",
    "sla": {"working_days": 10},
    "records": {"required": ["discharge_summary"]},
    "consults": {"price_cents": 100},
    "retention": {"years_after_close": 10, "reason": "Kept ten years after close."},
    "eligibility": {
        "rules": [
            {"code": "policy", "check": "policy_in_force", "source": "product", "text": "In force."},
            {"code": "follow_up", "check": "follow_up", "source": "product", "text": "No follow."},
            {
                "code": "a",
                "alias": "emergency",
                "facts": ["emergency"],
                "source": "demo-seed.txt",
                "text": "Medical emergencies",
            },
        ]
    },
}


def write(directory: Path, name: str, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def broken(**changes: Any) -> dict[str, Any]:
    """MINIMAL with dotted-path changes applied, e.g. broken(**{"sla.working_days": 0})."""
    data = copy.deepcopy(MINIMAL)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return data


def load_error(tmp_path: Path, data: Any, name: str = "demo") -> str:
    write(tmp_path / "programs", name, data)
    with pytest.raises(ProgramConfigError) as info:
        load_programs(tmp_path / "programs")
    return str(info.value)


# ---- the shipped programs ----------------------------------------------------------------


def test_both_shipped_programs_load(programs: dict[str, Program]) -> None:
    assert sorted(programs) == ["assist-america", "prudential-kh"]


def test_prudential_has_every_seed_rule_with_distinct_codes_for_both_xiii(
    programs: dict[str, Program],
) -> None:
    codes = [r.code for r in programs["prudential-kh"].eligibility.rules]
    assert codes == [
        "policy_in_force",
        "a", "b", "c", "d", "e",
        "e.i", "e.ii", "e.iii", "e.iv", "e.v", "e.vi", "e.vii",
        "e.viii", "e.ix", "e.x", "e.xi", "e.xii", "e.xiii", "e.xiii-b",
        "one_per_condition",
        "follow_up",
    ]  # fmt: skip


def test_prudential_terms_snapshot_maps_every_field(programs: dict[str, Program]) -> None:
    terms = programs["prudential-kh"].terms()
    expected = ProgramTerms(
        name="prudential-kh",
        sla_working_days=10,
        calendars=["KH", "US"],
        sla_timezone="Asia/Phnom_Penh",
        close_of_business="17:00",
        warn_ratio=0.8,
        required_records=[
            RecordType.OPERATIVE_REPORT,
            RecordType.BIOPSY_REPORT,
            RecordType.DISCHARGE_SUMMARY,
            RecordType.TREATMENT_PLAN,
        ],
        document_cap=None,
        free_consults=1,
        consult_price_cents=15000,
        third_opinion_price_cents=90000,
        currency="USD",
        follow_up_allowed=False,
        late_documents_allowed=False,
        reminder_every_days=3,
        reminders_before_lapse=3,
        consult_window_days=30,
        override_window_days=14,
        report_notice=programs["prudential-kh"].no_reimbursement_notice.text or "",
        consult_length_minutes=30,
        consult_notice_working_days=1,
        recency_days={RecordType.IMAGING: 183, RecordType.BIOPSY_REPORT: 183},
        english_required=True,
        chase_every_working_days=3,
        chase_times=2,
        translation_working_days=1,
        follow_up_questions=2,
        follow_up_window_days=30,
        follow_up_answer_working_days=2,
    )
    assert terms == expected
    # Every ProgramTerms field is set from the program, none left to its default.
    assert terms.model_fields_set == set(ProgramTerms.model_fields)


def test_prudential_no_reimbursement_text_quotes_the_seed(programs: dict[str, Program]) -> None:
    notice = programs["prudential-kh"].no_reimbursement_notice
    assert notice.enabled
    assert notice.text is not None
    assert "SMO is a service only and it doesn't reimburse medical expenses" in notice.text


def test_assist_america_terms_snapshot(programs: dict[str, Program]) -> None:
    program = programs["assist-america"]
    terms = program.terms()
    assert terms.sla_working_days == 5
    assert terms.document_cap == 20
    assert terms.late_documents_allowed is True
    assert terms.free_consults is None  # "unlimited" in the YAML
    assert terms.third_opinion_price_cents is None
    assert terms.follow_up_allowed is True
    assert terms.required_records == [RecordType.DISCHARGE_SUMMARY, RecordType.TREATMENT_PLAN]
    assert terms.report_notice == ""
    assert program.one_per_condition is False
    codes = {r.code for r in program.eligibility.rules}
    assert "e.i" not in codes and program.is_permitted("pre_existing")


def test_unknown_program_error_lists_known_names(programs: dict[str, Program]) -> None:
    with pytest.raises(UnknownProgramError, match="assist-america, prudential-kh"):
        get_program(programs, "aia-th")


# ---- loading errors name the file and the field ------------------------------------------


def test_minimal_program_loads(tmp_path: Path) -> None:
    programs = load_programs(write(tmp_path / "programs", "demo", MINIMAL).parent)
    assert programs["demo"].sla.calendars == ["KH", "US"]


def test_bad_value_names_file_and_field_path(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"sla.working_days": 0}))
    assert message == (
        f"{tmp_path}/programs/demo.yaml: sla.working_days: Input should be greater than or equal to 1"
    )


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"sla.working_dayz": 5}))
    assert "programs/demo.yaml: sla.working_dayz: Extra inputs are not permitted" in message


def test_invalid_yaml_reports_line_and_file(tmp_path: Path) -> None:
    message = load_error(tmp_path, "name: demo\nsla: [working_days: 10\n")
    assert message.startswith(f"{tmp_path}/programs/demo.yaml: not valid YAML at line ")
    assert "\n" not in message


def test_non_mapping_file_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, "")
    assert message.endswith("demo.yaml: expected a mapping of program fields, got an empty file")


def test_name_must_match_file_stem(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(name="other"))
    assert message.endswith("demo.yaml: name: 'other' does not match the file name (expected 'demo')")


def test_duplicate_rule_codes_are_rejected(tmp_path: Path) -> None:
    rule = {"code": "a", "source": "product", "text": "Again."}
    data = broken()
    data["eligibility"]["rules"].append(rule)
    message = load_error(tmp_path, data)
    assert "demo.yaml: eligibility.rules: duplicate rule code or alias 'a'" in message
    assert "(rules[2] and rules[3])" in message


def test_unknown_record_type_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"records.required": ["x_ray"]}))
    assert "demo.yaml: records.required[0]: Input should be 'operative_report'" in message


def test_smo_report_cannot_be_a_required_record(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"records.required": ["smo_report"]}))
    assert "records.required: smo_report is the specialist's output" in message


@pytest.mark.parametrize("code", ["TH", "US-XX", "USA"])
def test_unknown_calendar_code_is_rejected(tmp_path: Path, code: str) -> None:
    message = load_error(tmp_path, broken(**{"sla.calendars": ["KH", code]}))
    assert f"demo.yaml: sla.calendars: unknown calendar code '{code}'" in message


def test_state_calendar_codes_are_accepted(tmp_path: Path) -> None:
    write(tmp_path / "programs", "demo", broken(**{"sla.calendars": ["KH", "us-tx"]}))
    assert load_programs(tmp_path / "programs")["demo"].sla.calendars == ["KH", "US-TX"]


def test_unknown_fact_trigger_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.facts": ["flu"]}))
    assert "eligibility.rules[2].facts[0]: Input should be 'emergency'" in message


def test_bad_icd10_prefix_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.icd10": ["J06-K01"]}))
    assert "eligibility.rules[2].icd10: 'J06-K01': a range must stay within one letter" in message


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("J?", "'?' may only follow a full three-character category"),
        ("T3?.1", "is not an ICD-10 prefix"),
        ("C50.91234", "is not an ICD-10 prefix"),
        ("50.1", "is not an ICD-10 prefix"),
        ("J06-J01", "a range must stay within one letter, low to high"),
        ("C50;DROP", "is not an ICD-10 prefix"),
    ],
)
def test_malformed_icd10_entries_are_rejected_naming_the_entry(
    tmp_path: Path, entry: str, problem: str
) -> None:
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.icd10": [entry]}))
    assert f"eligibility.rules[2].icd10: {entry!r}" in message and problem in message


def test_icd10_except_without_icd10_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.icd10_except": ["J10.8"]}))
    assert "icd10_except narrows icd10, which is empty" in message


def test_a_wildcard_reads_one_character_after_the_dot(tmp_path: Path) -> None:
    data = broken(
        **{"eligibility.rules.2.icd10": ["T36-T65.??2"], "eligibility.rules.2.icd10_except": ["T40"]}
    )
    write(tmp_path / "programs", "demo", data)
    rule = load_programs(tmp_path / "programs")["demo"].eligibility.rules[2]
    verdicts = {
        code: rule.matches_icd10(code) for code in ["T42.4X2A", "T65.222A", "T42.4X1A", "T40.602A", "T66"]
    }
    assert verdicts == {
        "T42.4X2A": True,
        "T65.222A": True,
        "T42.4X1A": False,
        "T40.602A": False,
        "T66": False,
    }


def test_rule_source_must_be_the_seed_or_product(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.source": "blog.txt"}))
    assert "'a': source must be the seed file 'demo-seed.txt' or 'product'" in message


def test_a_rule_loads_with_or_without_its_words_to_the_member(tmp_path: Path) -> None:
    words = {"reason": "This service is not for emergencies.", "next_step": "Go to a hospital now."}
    path = write(tmp_path / "programs", "demo", broken(**{"eligibility.rules.2.member": words}))
    demo = load_program(path)
    assert demo.member_words("a").reason == "This service is not for emergencies."
    assert demo.member_words("policy").next_step.startswith("Please call our desk.")


def test_words_to_the_member_are_checked_naming_the_field(tmp_path: Path) -> None:
    words = {"reason": "Your cover is 100% used.", "next_step": "Call us."}
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.member": words}))
    assert "demo.yaml: eligibility.rules[2].member.reason: String should match pattern" in message
    message = load_error(tmp_path, broken(**{"eligibility.rules.2.member": {"reason": "Why."}}))
    assert "eligibility.rules[2].member.next_step: Field required" in message


def test_enabled_third_opinion_needs_a_price(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(third_opinion={"enabled": True}))
    assert "third_opinion: price_cents is required when the third opinion is enabled" in message


def test_one_per_condition_needs_its_rule(tmp_path: Path) -> None:
    message = load_error(tmp_path, broken(one_per_condition=True))
    assert "no rule has check 'one_per_condition'" in message


def test_policy_check_rule_is_required(tmp_path: Path) -> None:
    data = broken()
    del data["eligibility"]["rules"][0]
    message = load_error(tmp_path, data)
    assert "eligibility.rules: a rule with check 'policy_in_force' is required" in message


def test_every_broken_file_is_reported_together(tmp_path: Path) -> None:
    write(tmp_path / "programs", "one", broken(name="one", sla={"working_days": 0}))
    write(tmp_path / "programs", "two", broken(name="two", title=""))
    with pytest.raises(ProgramConfigError) as info:
        load_programs(tmp_path / "programs")
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path}/programs/one.yaml: sla.working_days:")
    assert lines[1].startswith(f"{tmp_path}/programs/two.yaml: title:")


def test_missing_or_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramConfigError, match="programs directory not found"):
        load_programs(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProgramConfigError, match="no program files"):
        load_programs(tmp_path / "empty")


def test_load_program_reads_one_file(tmp_path: Path) -> None:
    program = load_program(write(tmp_path, "demo", MINIMAL))
    assert program.resolve_exclusion("EMERGENCY") is not None
    assert program.resolve_exclusion("policy") is None  # checks cannot be asserted
