"""Eligibility scenarios: every seed rule, ICD-10 auto-triggers, case history, follow-ups,
and the `check_eligibility` activity against SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy
from sqlmodel import Session, col, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.eligibility import (
    EligibilityActivities,
    EligibilityRequest,
    PolicyLookup,
    PolicyRecord,
    PriorCase,
    SqlPolicyLookup,
    UnknownExclusionError,
    check_now,
    condition_key,
    evaluate,
)
from models.case import EligibilityDecision, EligibilityFacts, Reason
from models.db import AuditEvent, CaseRow
from models.program import Program, load_programs
from models.settings import PROJECT_ROOT, Settings
from runtime.db import init_db

PROGRAMS = load_programs(PROJECT_ROOT / "programs")
PRU = PROGRAMS["prudential-kh"]
AA = PROGRAMS["assist-america"]
TODAY = date(2025, 11, 20)
T0 = datetime(2025, 11, 1, 9, 0, tzinfo=UTC)

PRU_SEED = "prudential-cambodia-aaa-smo.txt"
AA_SEED = "assist-america-smo-faq.txt"
PRU_POLICY = PolicyRecord(
    policy_number="KH-DEMO-0001", program="prudential-kh", status="in_force",
    in_force_from=date(2024, 1, 1),
)  # fmt: skip
AA_POLICY = PolicyRecord(
    policy_number="AA-DEMO-0001", program="assist-america", status="in_force",
    in_force_from=date(2024, 7, 1),
)  # fmt: skip


def ref(who: str) -> str:
    return hashlib.sha256(who.encode()).hexdigest()


ALICE = ref("alice")
BOB = ref("bob")


def request(program: Program = PRU, **kw: Any) -> EligibilityRequest:
    base: dict[str, Any] = {
        "case_id": "CASE-NEW",
        "program": program.name,
        "policy_number": PRU_POLICY.policy_number if program.name == PRU.name else AA_POLICY.policy_number,
        "life_assured_ref": ALICE,
        "icd10": "C50.912",
        "by": "coordinator.kim",
    }
    return EligibilityRequest(**(base | kw))


def facts(**kw: Any) -> EligibilityFacts:
    return EligibilityFacts(**kw)


def prior(
    case_id: str, icd10: str = "C50.1", stage: str = "UNDER_REVIEW", *,
    minutes: int = 0, who: str = ALICE,
) -> PriorCase:  # fmt: skip
    return PriorCase(
        case_id=case_id, stage=stage, condition_key=condition_key(icd10),
        opened_at=T0 + timedelta(minutes=minutes), life_assured_ref=who,
    )  # fmt: skip


def run(
    program: Program = PRU,
    req: EligibilityRequest | None = None,
    policy: PolicyRecord | str | None = "default",
    priors: list[PriorCase] | None = None,
) -> EligibilityDecision:
    if policy == "default":
        policy = PRU_POLICY if program.name == PRU.name else AA_POLICY
    assert not isinstance(policy, str)
    return evaluate(program, req or request(program), policy, priors or [], today=TODAY)


def codes(decision: EligibilityDecision) -> list[str]:
    return [r.code for r in decision.reasons]


# ---- every Prudential rule, its trigger and the seed's text -------------------------------

# (code, how the coordinator triggers it, the seed's text verbatim)
PRUDENTIAL_RULES: list[tuple[str, EligibilityFacts, str]] = [
    ("a", facts(emergency=True),
     "Medical emergencies or urgent life-threatening situations"),
    ("b", facts(critical_care=True),
     "Admission to critical care, in a coma, or in palliative stage."),
    ("c", facts(common_issue=True),
     "Daily or common issues, eg. flu, fever, cut wounds, etc."),
    ("d", facts(prior_diagnosis=False),
     "Conditions or symptoms without any prior diagnosis"),
    ("e", facts(exclusions={"policy_exclusion"}),
     "Exclusions as described under PRUMyHealth’s Insurance Policy."),
    ("e.i", facts(exclusions={"pre_existing"}), "Pre-existing conditions"),
    ("e.ii", facts(exclusions={"waiting_period"}), "Conditions happen during the waiting period"),
    ("e.iii", facts(exclusions={"congenital"}), "Treatment for congenital conditions"),
    ("e.iv", facts(exclusions={"pregnancy"}),
     "Pregnancy or pregnancy complications unless specifically covered."),
    ("e.v", facts(exclusions={"impotence_sterilization"}),
     "Treatment for impotence or sterilization"),
    ("e.vi", facts(exclusions={"communicable_hiv"}),
     "Private nursing, AIDS and HIV-related diseases, and any communicable diseases "
     "required quarantine by law."),
    ("e.vii", facts(exclusions={"mental"}), "Psychotic, mental, or nervous disorders"),
    ("e.viii", facts(exclusions={"dangerous_activities"}), "Injury from Dangerous activities."),
    ("e.ix", facts(exclusions={"self_inflicted"}),
     "Suicide, attempted suicide, or self-inflicted injury"),
    ("e.x", facts(exclusions={"criminal"}), "Criminal offense."),
    ("e.xi", facts(exclusions={"relative_practitioner"}),
     "Treatment by relative medical practitioner"),
    ("e.xii", facts(exclusions={"war_riots_radiation_terrorism"}),
     "War, riots, Ionising radiations, Terrorism."),
    ("e.xiii", facts(exclusions={"not_medically_necessary"}),
     "Not medically necessary treatment (includes Routine physical examinations, fertility "
     "treatment, cosmetic surgery, dental treatment, immunization injections, etc.)"),
    ("e.xiii-b", facts(exclusions={"private_flying"}),
     "Private flying other than as a fare-paying passenger."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "asserted", "seed_text"), PRUDENTIAL_RULES, ids=[r[0] for r in PRUDENTIAL_RULES]
)
def test_prudential_refuses_each_seed_rule_with_the_seed_text(
    code: str, asserted: EligibilityFacts, seed_text: str
) -> None:
    decision = run(req=request(facts=asserted))
    assert decision == EligibilityDecision(eligible=False, reasons=[Reason(code=code, text=seed_text)])


def test_the_table_covers_every_assertable_prudential_rule() -> None:
    assertable = [r.code for r in PRU.eligibility.rules if r.assertable]
    assert [code for code, _, _ in PRUDENTIAL_RULES] == assertable


def test_seed_sourced_rule_texts_appear_verbatim_in_the_seed_table() -> None:
    quoted = {text for _, _, text in PRUDENTIAL_RULES}
    for rule in PRU.eligibility.rules:
        if rule.assertable:
            assert rule.source == PRU_SEED
            assert rule.text in quoted


@pytest.mark.parametrize(("code", "_asserted", "seed_text"), PRUDENTIAL_RULES[4:])
def test_exclusions_can_be_asserted_by_rule_code_too(
    code: str, _asserted: EligibilityFacts, seed_text: str
) -> None:
    decision = run(req=request(facts=facts(exclusions={code.upper()})))
    assert decision.reasons == [Reason(code=code, text=seed_text)]


def test_every_reason_that_applies_is_returned_in_rule_order() -> None:
    asserted = facts(emergency=True, prior_diagnosis=False, exclusions={"private_flying", "pre_existing"})
    decision = run(req=request(icd10="F20.0", facts=asserted), policy=None)
    assert codes(decision) == ["policy_in_force", "a", "d", "e.i", "e.vii", "e.xiii-b"]


def test_a_clean_request_is_eligible_with_no_reasons() -> None:
    assert run() == EligibilityDecision(eligible=True)


def test_an_unknown_exclusion_is_rejected_rather_than_guessed() -> None:
    with pytest.raises(UnknownExclusionError, match=r"'smoking'.*known: emergency"):
        run(req=request(facts=facts(exclusions={"smoking"})))


# ---- verdicts from the ICD-10 code alone -------------------------------------------------

# (code as a coordinator enters it, prudential-kh verdict, assist-america verdict, what it is).
# A verdict is the refusing rule's code, or None for eligible; no flag is set. WHO ICD-10
# and ICD-10-CM codes alike; docs/eligibility.md explains each range.
CODE_VERDICTS: list[tuple[str, str | None, str | None, str]] = [
    # (a) emergencies that are one by their code
    ("I46.9", "a", None, "cardiac arrest"),
    ("R57.0", "a", None, "cardiogenic shock"),
    ("R65.21", "a", None, "septic shock (ICD-10-CM)"),
    ("T78.2XXA", "a", None, "anaphylactic shock"),
    ("R09.2", "a", None, "respiratory arrest"),
    ("T79.4XXA", "a", None, "traumatic shock"),
    ("T88.2XXA", "a", None, "shock due to anaesthesia"),
    ("I21.9", None, None, "myocardial infarction: an opinion on treatment afterwards"),
    # (b) coma, palliative care
    ("R40.2", "b", None, "coma"),
    ("R40.20", "b", None, "unspecified coma (ICD-10-CM)"),
    ("R40.3", "b", None, "persistent vegetative state"),
    ("Z51.5", "b", None, "palliative care"),
    # (c) flu, fever, cut wounds, and their everyday kin
    ("J00", "c", "complex", "common cold"),
    ("J02.9", "c", "complex", "acute pharyngitis"),
    ("J06.9", "c", "complex", "upper respiratory infection"),
    ("J09.X2", "c", "complex", "avian influenza with respiratory manifestations"),
    ("J10.1", "c", "complex", "influenza with respiratory manifestations"),
    ("J11.1", "c", "complex", "flu, virus not identified"),
    ("J11.2", "c", "complex", "flu with gastrointestinal manifestations"),
    ("R50.9", "c", "complex", "fever"),
    ("S01.81XA", "c", "complex", "laceration of the head"),
    ("S51.811A", "c", "complex", "laceration of the forearm"),
    ("S61.0", "c", "complex", "open wound of a finger"),
    ("S61.012A", "c", "complex", "laceration of the thumb"),
    ("S81.8", "c", "complex", "open wound of the lower leg"),
    ("S91.3", "c", "complex", "open wound of the foot"),
    ("T14.1", "c", "complex", "open wound, body region unspecified (WHO)"),
    ("S00.83XA", "c", "complex", "contusion of the face"),
    ("S80.0", "c", "complex", "bruised knee"),
    ("S50.86XA", "c", "complex", "insect bite of the forearm"),
    ("S10.93XA", "c", "complex", "contusion of the neck"),
    ("S20.219A", "c", "complex", "contusion of the chest wall"),
    ("S30.1XXA", "c", "complex", "contusion of the abdominal wall"),
    ("S40.021A", "c", "complex", "contusion of the upper arm"),
    ("S41.111A", "c", "complex", "laceration of the upper arm"),
    ("S60.0", "c", "complex", "bruised finger"),
    ("S70.0", "c", "complex", "bruised hip"),
    ("S71.1", "c", "complex", "open wound of the thigh"),
    ("S90.3", "c", "complex", "bruised foot"),
    ("T14.0", "c", "complex", "superficial injury, body region unspecified (WHO)"),
    ("J05.1", None, None, "acute epiglottitis: not a sore throat"),
    ("J10.0", None, None, "influenza pneumonia"),
    ("J09.X1", None, None, "avian influenza with pneumonia (ICD-10-CM)"),
    ("J09.X9", None, None, "avian influenza with other manifestations (ICD-10-CM)"),
    ("J11.0", None, None, "influenza with pneumonia, virus not identified"),
    ("J10.81", None, None, "influenzal encephalopathy"),
    ("J11.82", None, None, "influenzal myocarditis"),
    ("J12.9", None, None, "viral pneumonia"),
    ("J45.9", None, None, "asthma"),
    ("S11.0", None, None, "open wound of the neck involving the larynx"),
    ("S21.1", None, None, "open wound of the front wall of the thorax"),
    ("S31.1", None, None, "open wound of the abdominal wall"),
    ("S06.5", None, None, "traumatic subdural haemorrhage"),
    ("R51", "d", None, "headache: a symptom, no diagnosis"),
    ("A90", None, None, "dengue fever: a disease, not 'a fever'"),
    # (e.iii) congenital
    ("Q21.0", "e.iii", None, "ventricular septal defect"),
    # (e.iv) pregnancy
    ("O24.4", "e.iv", None, "gestational diabetes"),
    ("O14.1", "e.iv", None, "severe pre-eclampsia"),
    ("Z34.00", "e.iv", "complex", "supervision of a normal first pregnancy (ICD-10-CM)"),
    ("Z33.1", "e.iv", None, "pregnant state"),
    ("Z3A.20", "e.iv", None, "20 weeks of gestation"),
    ("Z39.2", "e.iv", None, "routine postpartum follow-up"),
    ("Z38.0", None, None, "a liveborn infant: the baby's code"),
    ("Z30.0", None, None, "contraceptive counselling"),
    # (e.v) impotence, sterilization
    ("N52.9", "e.v", None, "erectile dysfunction (ICD-10-CM)"),
    ("N48.4", "e.v", None, "impotence of organic origin (WHO)"),
    ("Z30.2", "e.v", None, "sterilization"),
    # (e.vi) HIV, quarantinable diseases
    ("B20", "e.vi", None, "HIV disease"),
    ("B24", "e.vi", None, "unspecified HIV disease (WHO)"),
    ("Z21", "e.vi", None, "asymptomatic HIV infection"),
    ("A00.9", "e.vi", None, "cholera"),
    ("A20.0", "e.vi", None, "bubonic plague"),
    ("A95.9", "e.vi", None, "yellow fever"),
    ("A98.4", "e.vi", None, "Ebola virus disease"),
    ("A98.3", "e.vi", None, "Marburg virus disease"),
    ("A96.2", "e.vi", None, "Lassa fever"),
    ("B03", "e.vi", None, "smallpox"),
    ("B25.9", None, None, "cytomegalovirus disease, not HIV"),
    ("A15.0", None, None, "pulmonary tuberculosis: quarantine depends on the law of the day"),
    # (e.vii) mental
    ("F32.9", "e.vii", None, "depressive episode"),
    ("F20", "e.vii", None, "schizophrenia"),
    ("F52.2", "e.vii", None, "psychogenic impotence"),
    ("R45.851", "e.vii", None, "suicidal ideation (ICD-10-CM)"),
    ("G35", None, None, "multiple sclerosis: chapter G is not 'nervous disorders'"),
    ("G30.9", None, None, "Alzheimer's disease"),
    # (e.viii) dangerous activities
    ("Y93.31", "e.viii", None, "mountain climbing (ICD-10-CM activity)"),
    ("Y93.34", "e.viii", None, "bungee jumping"),
    ("V97.22XA", "e.viii", None, "parachutist injured on landing"),
    # (e.ix) suicide, attempted suicide, self-inflicted injury
    ("X71.0", "e.ix", None, "intentional self-harm by drowning (WHO)"),
    ("X78.9", "e.ix", None, "intentional self-harm by a sharp object"),
    ("X83.8XXA", "e.ix", None, "intentional self-harm by other means (ICD-10-CM)"),
    ("T14.91XA", "e.ix", None, "suicide attempt (ICD-10-CM)"),
    ("T42.4X2A", "e.ix", None, "benzodiazepine overdose, intentional self-harm"),
    ("T39.012A", "e.ix", None, "aspirin poisoning, intentional self-harm"),
    ("T40.602A", "e.ix", None, "narcotic poisoning, intentional self-harm"),
    ("T60.0X2A", "e.ix", None, "organophosphate pesticide, intentional self-harm"),
    ("T71.112A", "e.ix", None, "self-inflicted asphyxiation by smothering"),
    ("R45.88", "e.ix", None, "non-suicidal self-harm (ICD-10-CM)"),
    ("Z91.5", "e.ix", None, "history of self-harm"),
    ("Y87.0", "e.ix", None, "sequelae of intentional self-harm"),
    ("T42.4X1A", None, None, "benzodiazepine poisoning, accidental"),
    ("T42.4X5A", None, None, "adverse effect of benzodiazepines"),
    ("T60.0X1A", None, None, "organophosphate pesticide, accidental"),
    ("T42.4", None, None, "benzodiazepine poisoning, intent not in a WHO code"),
    ("X59.9", None, None, "accidental exposure to an unspecified factor (WHO)"),
    # (e.xii) war, riots, ionising radiation, terrorism
    ("Y36.9", "e.xii", None, "operations of war"),
    ("Y38.2X1A", "e.xii", None, "terrorism involving explosions (ICD-10-CM)"),
    ("Y89.1", "e.xii", None, "sequelae of war operations"),
    ("W88.1XXA", "e.xii", None, "exposure to radioactive isotopes"),
    ("Y37.200A", None, None, "peacetime military operations are not war"),
    ("T66", None, None, "radiation sickness: radiotherapy is not an excluded exposure"),
    # (e.xiii) routine examinations
    ("Z00.0", "e.xiii", "complex", "general medical examination (WHO)"),
    ("Z00.00", "e.xiii", "complex", "adult check-up without abnormal findings (ICD-10-CM)"),
    ("Z00.129", "e.xiii", "complex", "routine child health check (ICD-10-CM)"),
    ("Z01.4", "e.xiii", "complex", "gynaecological examination"),
    ("Z02.1", "e.xiii", "complex", "pre-employment examination"),
    ("Z12.31", "e.xiii", "complex", "screening mammogram"),
    # (e.xiii) fertility treatment
    ("Z31.2", "e.xiii", None, "in vitro fertilisation"),
    ("Z31.83", "e.xiii", None, "assisted reproductive fertility cycle (ICD-10-CM)"),
    ("N97.9", "e.xiii", None, "female infertility"),
    ("N46.9", "e.xiii", None, "male infertility (ICD-10-CM)"),
    ("N98.1", "e.xiii", None, "ovarian hyperstimulation after fertility treatment"),
    # (e.xiii) cosmetic surgery
    ("Z41.1", "e.xiii", "complex", "cosmetic surgery"),
    ("Z41.0", "e.xiii", "complex", "hair transplant (WHO)"),
    ("Z41.2", "e.xiii", "complex", "routine circumcision"),
    ("Z42.1", None, None, "breast reconstruction after mastectomy"),
    # (e.xiii) dental treatment
    ("K02.9", "e.xiii", "complex", "dental caries"),
    ("K02.52", "e.xiii", "complex", "dental caries into dentin (ICD-10-CM)"),
    ("K04.7", "e.xiii", "complex", "periapical abscess"),
    ("K05.30", "e.xiii", "complex", "chronic periodontitis"),
    ("K01.1", "e.xiii", "complex", "impacted wisdom tooth"),
    ("K08.1", "e.xiii", "complex", "loss of teeth"),
    ("K08.409", "e.xiii", "complex", "partial loss of teeth (ICD-10-CM)"),
    ("K07.4", "e.xiii", "complex", "malocclusion (WHO)"),
    ("K07.2", "e.xiii", "complex", "anomaly of dental arch relationship (WHO)"),
    ("K07.3", "e.xiii", "complex", "crowded teeth (WHO)"),
    ("M26.212", "e.xiii", "complex", "Class II malocclusion (ICD-10-CM)"),
    ("M26.31", "e.xiii", "complex", "crowding of teeth (ICD-10-CM)"),
    ("M26.4", "e.xiii", "complex", "malocclusion (ICD-10-CM)"),
    ("K10.3", "e.xiii", "complex", "dry socket (WHO)"),
    ("M27.3", "e.xiii", "complex", "dry socket (ICD-10-CM)"),
    ("M27.61", "e.xiii", "complex", "failed osseointegration of a dental implant"),
    ("M27.51", "e.xiii", "complex", "perforation of a root canal (ICD-10-CM)"),
    ("S03.2XXA", "e.xiii", "complex", "dislocated tooth"),
    ("Z46.4", "e.xiii", "complex", "fitting an orthodontic brace"),
    ("S02.5XXA", "e.xiii", "complex", "broken tooth"),
    ("Z46.3", "e.xiii", "complex", "fitting a denture"),
    ("C02.1", None, None, "cancer of the border of the tongue"),
    ("C03.0", None, None, "cancer of the upper gum"),
    ("C06.0", None, None, "cancer of the cheek mucosa"),
    ("C41.1", None, None, "bone cancer of the mandible"),
    ("D16.5", None, None, "benign tumour of the mandible"),
    ("K09.0", None, None, "developmental odontogenic cyst (keratocyst)"),
    ("K10.2", None, None, "osteomyelitis or osteonecrosis of the jaw (WHO)"),
    ("M27.2", None, None, "inflammatory jaw disease (ICD-10-CM)"),
    ("M87.180", None, None, "drug-induced osteonecrosis of the jaw (ICD-10-CM)"),
    ("K07.1", None, None, "jaw and skull base anomaly (WHO)"),
    ("K07.6", None, None, "temporomandibular joint disorder (WHO)"),
    ("M26.62", None, None, "arthralgia of the temporomandibular joint (ICD-10-CM)"),
    ("K13.21", None, None, "leukoplakia of the oral mucosa"),
    ("K11.5", None, None, "salivary stone"),
    ("S02.6", None, None, "fracture of the mandible"),
    # (e.xiii) immunization injections
    ("Z23", "e.xiii", "complex", "encounter for immunization"),
    ("Z24.6", "e.xiii", "complex", "need for rabies immunization (WHO)"),
    ("Z27.1", "e.xiii", "complex", "need for DTP immunization (WHO)"),
    ("Z28.3", None, None, "underimmunization status: not an injection"),
    # (e.xiii-b) private flying
    ("V95.2", "e.xiii-b", None, "private fixed-wing aircraft accident"),
    ("V95.12XA", "e.xiii-b", None, "ultralight crash"),
    ("V96.1", "e.xiii-b", None, "hang glider accident"),
    ("V95.3", None, None, "commercial fixed-wing aircraft accident"),
    ("V95.0", None, None, "helicopter: may be a fare-paying passenger"),
    # What the service is for
    ("C50.912", None, None, "breast cancer"),
    ("C61", None, None, "prostate cancer"),
    ("I25.10", None, None, "coronary artery disease"),
    ("M17.11", None, None, "osteoarthritis of the knee"),
    ("G40.909", None, None, "epilepsy"),
    ("N18.4", None, None, "chronic kidney disease, stage 4"),
    ("E11.9", None, None, "type 2 diabetes"),
]  # fmt: skip


# tests/test_eligibility_probe.py checks every row of this table under both programs, with
# the rows of its probe of symptom and skin codes.


def test_assist_america_refuses_every_everyday_code_prudential_refuses_under_c() -> None:
    common = next(r for r in PRU.eligibility.rules if r.code == "c")
    complex_rule = next(r for r in AA.eligibility.rules if r.code == "complex")
    assert set(common.icd10) <= set(complex_rule.icd10)
    assert set(common.icd10_except) <= set(complex_rule.icd10_except)
    # complex spares more (a skin disease that is grave), but nothing rule c refuses.
    for spared in set(complex_rule.icd10_except) - set(common.icd10_except):
        assert not common.matches_icd10(spared), spared
        assert not any(entry.replace(".", "").startswith(spared.replace(".", "")) for entry in common.icd10)


@pytest.mark.parametrize("icd10", ["j10.1", " Z41.1 ", "k029"])
def test_codes_are_read_whatever_their_case_spacing_or_dot(icd10: str) -> None:
    assert any(r.matches_icd10(icd10) for r in PRU.eligibility.rules)


def test_a_coordinator_override_still_admits_a_covered_pregnancy() -> None:
    # The code refuses; "unless specifically covered" is the override's job, and the
    # refusal the override answers is the pregnancy rule alone.
    decision = run(req=request(icd10="O24.4", override_reason="Maternity rider covers it"))
    assert codes(decision) == ["e.iv"]


# ---- policy -------------------------------------------------------------------------------


def test_lapsed_policy_is_refused() -> None:
    lapsed = PolicyRecord(
        policy_number="KH-DEMO-0002", program="prudential-kh", status="lapsed",
        in_force_from=date(2022, 1, 1), in_force_to=date(2025, 6, 30),
    )  # fmt: skip
    decision = run(req=request(policy_number="KH-DEMO-0002"), policy=lapsed)
    assert decision.reasons == [
        Reason(
            code="policy_in_force",
            text="Customers who has in-force PRUMyHealth policy of any plan of Prudential "
            "Cambodia (policy KH-DEMO-0002 is lapsed, in force until 2025-06-30)",
        )
    ]


def test_unknown_policy_is_refused() -> None:
    decision = run(req=request(policy_number="KH-NOPE-9999"), policy=None)
    assert codes(decision) == ["policy_in_force"]
    assert decision.reasons[0].text.endswith("(policy KH-NOPE-9999 was not found)")


@pytest.mark.parametrize(
    ("policy", "detail"),
    [
        (PRU_POLICY.model_copy(update={"program": "assist-america"}),
         "belongs to program assist-america"),
        (PRU_POLICY.model_copy(update={"in_force_from": TODAY + timedelta(days=1)}),
         "is in force only from 2025-11-21"),
        (PRU_POLICY.model_copy(update={"in_force_to": TODAY - timedelta(days=1)}),
         "ended on 2025-11-19"),
    ],
    ids=["other-program", "not-yet-in-force", "past-end-date"],
)  # fmt: skip
def test_policy_not_in_force_today_is_refused(policy: PolicyRecord, detail: str) -> None:
    decision = run(policy=policy)
    assert codes(decision) == ["policy_in_force"]
    assert detail in decision.reasons[0].text


def test_policy_on_its_last_day_is_in_force() -> None:
    assert run(policy=PRU_POLICY.model_copy(update={"in_force_to": TODAY})).eligible


# ---- one SMO per condition per life assured -----------------------------------------------


def test_duplicate_condition_is_refused_pointing_to_the_first_case() -> None:
    priors = [prior("CASE-2", "C50.2", minutes=5), prior("CASE-1", "C50.1")]
    decision = run(priors=priors)
    assert decision.first_case_id == "CASE-1"
    assert decision.reasons == [
        Reason(
            code="one_per_condition",
            text="the Life Assured can only use the Second Medical Opinion service for "
            "different medical condition. (condition C50 already has a Second Medical "
            "Opinion case: CASE-1)",
        )
    ]


def test_different_condition_is_accepted() -> None:
    assert run(req=request(icd10="C61"), priors=[prior("CASE-1", "C50.1")]).eligible


@pytest.mark.parametrize("stage", ["CANCELLED", "INELIGIBLE"])
def test_cancelled_or_ineligible_earlier_case_does_not_block(stage: str) -> None:
    decision = run(priors=[prior("CASE-1", stage=stage)])
    assert decision.eligible and decision.first_case_id is None


@pytest.mark.parametrize("stage", ["CLOSED", "LAPSED", "INTAKE", "REPORT_DELIVERED"])
def test_other_earlier_cases_count(stage: str) -> None:
    assert run(priors=[prior("CASE-1", stage=stage)]).first_case_id == "CASE-1"


def test_another_life_assureds_case_does_not_block() -> None:
    assert run(priors=[prior("CASE-1", who=BOB)]).eligible


def test_concurrent_opens_do_not_refuse_each_other() -> None:
    # Both cases are already in the table; only the later-opened one is refused.
    first, second = prior("CASE-A", minutes=0), prior("CASE-B", minutes=0)
    cases = [first, second]
    assert run(req=request(case_id="CASE-A"), priors=cases).eligible
    later = run(req=request(case_id="CASE-B"), priors=cases)
    assert later.first_case_id == "CASE-A"  # same instant: case_id breaks the tie


def test_cases_opened_after_this_one_do_not_count() -> None:
    cases = [prior("CASE-NEW", minutes=0), prior("CASE-LATER", minutes=1)]
    assert run(priors=cases).eligible


def test_naive_timestamps_are_read_as_utc() -> None:
    naive = PriorCase(
        case_id="CASE-1", stage="CLOSED", condition_key="C50",
        opened_at=datetime(2025, 1, 1, 9, 0), life_assured_ref=ALICE,
    )  # fmt: skip
    assert naive.opened_at.tzinfo is UTC
    cases = [naive, prior("CASE-NEW", minutes=0)]
    assert run(priors=cases).first_case_id == "CASE-1"


# ---- follow-ups ----------------------------------------------------------------------------


def test_prudential_refuses_follow_ups() -> None:
    decision = run(req=request(follow_up_of="CASE-1", icd10="C61"), priors=[prior("CASE-1")])
    assert codes(decision) == ["follow_up"]
    assert "(requested as a follow-up of case CASE-1)" in decision.reasons[0].text


def test_assist_america_accepts_a_valid_follow_up_link() -> None:
    decision = run(AA, request(AA, follow_up_of="CASE-1"), priors=[prior("CASE-1")])
    assert decision.eligible


@pytest.mark.parametrize(
    ("priors", "detail"),
    [
        ([], "case CASE-1 was not found in this program"),
        ([prior("CASE-1", who=BOB)], "case CASE-1 belongs to another life assured"),
        ([prior("CASE-1", stage="CANCELLED")], "case CASE-1 was cancelled"),
    ],
    ids=["missing", "other-life-assured", "cancelled"],
)
def test_assist_america_refuses_an_invalid_follow_up_link(priors: list[PriorCase], detail: str) -> None:
    decision = run(AA, request(AA, follow_up_of="CASE-1"), priors=priors)
    assert codes(decision) == ["follow_up"]
    assert decision.reasons[0].text.endswith(f"({detail})")


def test_a_case_cannot_follow_up_itself() -> None:
    decision = run(AA, request(AA, follow_up_of="CASE-NEW"), priors=[prior("CASE-NEW")])
    assert codes(decision) == ["follow_up"]


def test_a_valid_follow_up_is_exempt_from_one_per_condition() -> None:
    both = Program.model_validate(PRU.model_dump() | {"follow_up_allowed": True})
    priors = [prior("CASE-1")]
    assert run(both, request(both, follow_up_of="CASE-1"), priors=priors).eligible
    assert codes(run(both, request(both), priors=priors)) == ["one_per_condition"]


def test_assist_america_allows_pre_existing_and_refuses_not_complex() -> None:
    assert run(AA, request(AA, facts=facts(exclusions={"pre_existing"}))).eligible
    assert run(AA, request(AA, facts=facts(prior_diagnosis=False, critical_care=True))).eligible
    decision = run(AA, request(AA, facts=facts(complex_condition=False)))
    assert decision.reasons == [
        Reason(
            code="complex",
            text="The type of illness, provided it is of a complex, grave or critical nature",
        )
    ]
    assert codes(run(AA, request(AA, facts=facts(emergency=True)))) == ["emergency"]
    assert next(r for r in AA.eligibility.rules if r.code == "emergency").source == "product"


def test_assist_america_allows_a_second_case_for_the_same_condition() -> None:
    assert run(AA, priors=[prior("CASE-1")]).eligible


def test_request_for_another_program_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not 'assist-america'"):
        evaluate(AA, request(PRU), AA_POLICY, [], today=TODAY)


# ---- the activity, against SQLite and PostgreSQL ------------------------------------------

# Trust auth on the local server; SMO_TEST_PG_URL points elsewhere (an admin
# connection that may CREATE DATABASE).
PG_ADMIN_URL = os.environ.get("SMO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_admin() -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit admin connection, or a test failure (never a skip) saying why not."""
    problem = ""
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        problem = str(exc).splitlines()[0]
    pytest.fail(
        f"PostgreSQL is required for the activity tests and is unreachable at "
        f"{PG_ADMIN_URL}: {problem} (start it, or set SMO_TEST_PG_URL)",
        pytrace=False,
    )


def test_postgresql_is_reachable_for_the_activity_tests() -> None:
    with pg_admin() as conn:
        assert conn.execute("select 1").fetchone() == (1,)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database for this test session, dropped afterwards."""
    name = f"smo_test_{uuid.uuid4().hex[:12]}"
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[sqlalchemy.Engine]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("SMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)
    settings = Settings()
    assert settings.db_url == url
    eng = init_db(settings, auto_upgrade=True)  # an empty throwaway DB: migrate it
    yield eng
    eng.dispose()


def unique(prefix: str) -> str:
    # The PostgreSQL database is shared by the session, so ids never repeat.
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_case(
    eng: sqlalchemy.Engine, case_id: str, who: str, icd10: str = "C50.1", *,
    program: str = "prudential-kh", stage: str = "UNDER_REVIEW", opened_at: datetime = T0,
) -> None:  # fmt: skip
    with Session(eng) as session:
        session.add(
            CaseRow(
                case_id=case_id, program=program, policy_number="KH-DEMO-0001",
                life_assured_ref=who, condition_key=condition_key(icd10), icd10=icd10,
                stage=stage, opened_at=opened_at,
            )
        )  # fmt: skip
        session.commit()


def audit_rows(eng: sqlalchemy.Engine, case_id: str) -> list[tuple[str, str, str, str]]:
    with Session(eng) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.id))
        )
        return [(r.actor, r.action, r.outcome, r.detail) for r in rows]


def activities(eng: sqlalchemy.Engine) -> EligibilityActivities:
    return EligibilityActivities(
        eng, PROGRAMS, SqlPolicyLookup(eng), clock=lambda: datetime(2025, 11, 20, 3, tzinfo=UTC)
    )


@pytest.mark.asyncio
async def test_activity_audits_an_eligible_check(engine: sqlalchemy.Engine) -> None:
    case_id, who = unique("CASE"), ref(unique("who"))
    decision = await ActivityEnvironment().run(
        activities(engine).check_eligibility, request(case_id=case_id, life_assured_ref=who)
    )
    assert decision == EligibilityDecision(eligible=True)
    assert audit_rows(engine, case_id) == [
        ("coordinator.kim", "eligibility.check", "eligible", "program=prudential-kh codes=-")
    ]


@pytest.mark.asyncio
async def test_activity_audits_an_override_but_returns_the_true_refusal(
    engine: sqlalchemy.Engine,
) -> None:
    case_id, who = unique("CASE"), ref(unique("who"))
    req = request(
        case_id=case_id, life_assured_ref=who, facts=facts(exclusions={"pre_existing"}),
        icd10="F32.9", override_reason="Medical director approved: condition began after cover",
    )  # fmt: skip
    decision = await ActivityEnvironment().run(activities(engine).check_eligibility, req)
    assert not decision.eligible and codes(decision) == ["e.i", "e.vii"]
    assert audit_rows(engine, case_id) == [
        ("coordinator.kim", "eligibility.check", "refused: e.i,e.vii",
         "program=prudential-kh codes=e.i,e.vii"),
        ("coordinator.kim", "eligibility.override", "requested: e.i,e.vii",
         "codes=e.i,e.vii reason=Medical director approved: condition began after cover"),
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_activity_override_of_an_eligible_case_writes_no_override_row(
    engine: sqlalchemy.Engine,
) -> None:
    case_id = unique("CASE")
    req = request(case_id=case_id, life_assured_ref=ref(case_id), override_reason="just in case")
    await ActivityEnvironment().run(activities(engine).check_eligibility, req)
    assert [row[1] for row in audit_rows(engine, case_id)] == ["eligibility.check"]


@pytest.mark.asyncio
async def test_activity_refuses_the_lapsed_demo_policy(engine: sqlalchemy.Engine) -> None:
    case_id = unique("CASE")
    req = request(case_id=case_id, life_assured_ref=ref(case_id), policy_number="KH-DEMO-0002")
    decision = await ActivityEnvironment().run(activities(engine).check_eligibility, req)
    assert codes(decision) == ["policy_in_force"]
    assert "KH-DEMO-0002 is lapsed" in decision.reasons[0].text
    assert audit_rows(engine, case_id)[0][2] == "refused: policy_in_force"


@pytest.mark.asyncio
async def test_activity_refuses_an_unknown_policy(engine: sqlalchemy.Engine) -> None:
    case_id = unique("CASE")
    req = request(case_id=case_id, life_assured_ref=ref(case_id), policy_number="KH-NONE-0000")
    decision = await ActivityEnvironment().run(activities(engine).check_eligibility, req)
    assert decision.reasons[0].text.endswith("(policy KH-NONE-0000 was not found)")


@pytest.mark.asyncio
async def test_activity_reads_case_history_from_the_cases_table(
    engine: sqlalchemy.Engine,
) -> None:
    who = ref(unique("who"))
    first, dup, cancelled = unique("CASE"), unique("CASE"), unique("CASE")
    add_case(engine, cancelled, who, "C50.9", stage="CANCELLED", opened_at=T0)
    add_case(engine, first, who, "C50.1", opened_at=T0 + timedelta(hours=1))
    # The case being checked is already in the table, opened after `first`.
    add_case(engine, dup, who, "C50.4", stage="ELIGIBILITY", opened_at=T0 + timedelta(hours=2))
    add_case(engine, unique("CASE"), ref("someone else"), "C50.1", opened_at=T0)
    env, acts = ActivityEnvironment(), activities(engine)

    refused = await env.run(acts.check_eligibility, request(case_id=dup, life_assured_ref=who))
    assert refused.first_case_id == first
    assert refused.reasons[0].text.endswith(f"Opinion case: {first})")
    assert audit_rows(engine, dup)[0][3].endswith(f"first_case_id={first}")

    # The earlier case, checked (again) now, is not refused by the later one.
    again = await env.run(acts.check_eligibility, request(case_id=first, life_assured_ref=who))
    assert again.eligible
    other = request(case_id=unique("CASE"), life_assured_ref=who, icd10="C61")
    assert (await env.run(acts.check_eligibility, other)).eligible


@pytest.mark.asyncio
async def test_activity_checks_follow_up_links_in_the_database(
    engine: sqlalchemy.Engine,
) -> None:
    who, first, bobs = ref(unique("who")), unique("CASE"), unique("CASE")
    add_case(engine, first, who, program="assist-america")
    add_case(engine, bobs, ref(unique("bob")), program="assist-america")
    env, acts = ActivityEnvironment(), activities(engine)
    valid = request(AA, case_id=unique("CASE"), life_assured_ref=who, follow_up_of=first)
    assert (await env.run(acts.check_eligibility, valid)).eligible
    invalid = request(AA, case_id=unique("CASE"), life_assured_ref=who, follow_up_of=bobs)
    decision = await env.run(acts.check_eligibility, invalid)
    assert decision.reasons[0].text.endswith(f"(case {bobs} belongs to another life assured)")


@pytest.mark.asyncio
async def test_activity_rejects_an_unknown_program_without_retrying(
    engine: sqlalchemy.Engine,
) -> None:
    req = request().model_copy(update={"program": "aia-th"})
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities(engine).check_eligibility, req)
    assert info.value.type == "UnknownProgram" and info.value.non_retryable
    assert "known programs: assist-america, prudential-kh" in str(info.value)


@pytest.mark.asyncio
async def test_activity_rejects_an_unknown_exclusion_without_retrying(
    engine: sqlalchemy.Engine,
) -> None:
    req = request(AA, case_id=unique("CASE"), facts=facts(exclusions={"pregnancy"}))
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities(engine).check_eligibility, req)
    assert info.value.type == "UnknownExclusion" and info.value.non_retryable
    assert audit_rows(engine, req.case_id) == []


@pytest.mark.asyncio
async def test_policy_lookup_is_a_pluggable_interface(engine: sqlalchemy.Engine) -> None:
    class InsurerApi:
        async def get(self, policy_number: str) -> PolicyRecord | None:
            return PRU_POLICY.model_copy(update={"policy_number": policy_number})

    api: PolicyLookup = InsurerApi()
    assert isinstance(api, PolicyLookup) and isinstance(SqlPolicyLookup(engine), PolicyLookup)
    acts = EligibilityActivities(engine, PROGRAMS, api)
    req = request(case_id=unique("CASE"), life_assured_ref=ref(unique("x")), policy_number="API-1")
    assert (await ActivityEnvironment().run(acts.check_eligibility, req)).eligible


def test_check_now_evaluates_without_temporal_or_audit(engine: sqlalchemy.Engine) -> None:
    case_id = unique("CASE")
    req = request(case_id=case_id, life_assured_ref=ref(case_id), policy_number="KH-DEMO-0002")
    decision = check_now(engine, PROGRAMS, req, now=datetime(2025, 11, 20, tzinfo=UTC))
    assert codes(decision) == ["policy_in_force"]
    assert audit_rows(engine, case_id) == []
