"""A probe of fresh ICD-10 codes, as a coordinator would enter them, for the two classes the
code tables once let through: symptom codes under prudential-kh's exclusion (d), and common
minor skin conditions under assist-america's "complex, grave or critical" gate. Grave skin
disease stays eligible. The verdicts of tests/test_eligibility.py's table are checked here
too, with the lists' coverage; docs/eligibility.md gives each range its reason."""

from __future__ import annotations

import pytest

from models.program import Program
from models.program_rules import Rule
from tests.test_eligibility import AA, CODE_VERDICTS, PRU, codes, request, run

# ---- chapter XVIII, R00-R99: one code of every family --------------------------------------

# A code a coordinator could enter for each three-character family, from WHO ICD-10 or
# ICD-10-CM; the numbers neither edition uses are probed by the bare family.
R_FAMILIES: dict[int, tuple[str, str]] = {
    0: ("R00.0", "tachycardia"),
    1: ("R01.1", "heart murmur"),
    2: ("R02", "gangrene, not elsewhere classified (WHO)"),
    3: ("R03.0", "raised blood pressure reading"),
    4: ("R04.0", "nosebleed"),
    5: ("R05.9", "cough (ICD-10-CM)"),
    6: ("R06.0", "breathlessness"),
    7: ("R07.4", "chest pain"),
    9: ("R09.1", "pleurisy"),
    10: ("R10.4", "abdominal pain"),
    11: ("R11", "nausea and vomiting"),
    12: ("R12", "heartburn"),
    13: ("R13.10", "difficulty swallowing (ICD-10-CM)"),
    14: ("R14", "flatulence"),
    15: ("R15", "faecal incontinence"),
    16: ("R16.0", "enlarged liver"),
    17: ("R17", "jaundice"),
    18: ("R18", "ascites"),
    19: ("R19.0", "abdominal lump"),
    20: ("R20.2", "pins and needles"),
    21: ("R21", "rash"),
    22: ("R22.2", "lump in the skin of the trunk"),
    23: ("R23.1", "pallor"),
    25: ("R25.1", "tremor"),
    26: ("R26.8", "abnormal gait"),
    27: ("R27.0", "ataxia"),
    29: ("R29.6", "repeated falls (ICD-10-CM)"),
    30: ("R30.0", "painful urination"),
    31: ("R31.9", "blood in the urine (ICD-10-CM)"),
    32: ("R32", "urinary incontinence"),
    33: ("R33.9", "retention of urine (ICD-10-CM)"),
    34: ("R34", "anuria"),
    35: ("R35.0", "frequent urination (ICD-10-CM)"),
    36: ("R36.9", "urethral discharge (ICD-10-CM)"),
    37: ("R37", "sexual dysfunction, unspecified (ICD-10-CM)"),
    39: ("R39.1", "other difficulty passing urine"),
    40: ("R40.0", "somnolence"),
    41: ("R41.0", "disorientation"),
    42: ("R42", "dizziness"),
    43: ("R43.0", "loss of smell"),
    44: ("R44.0", "auditory hallucinations"),
    45: ("R45.0", "nervousness"),
    46: ("R46.0", "very low level of personal hygiene"),
    47: ("R47.01", "aphasia (ICD-10-CM)"),
    48: ("R48.0", "dyslexia"),
    49: ("R49.0", "hoarseness"),
    50: ("R50.81", "fever presenting with conditions classified elsewhere (ICD-10-CM)"),
    51: ("R51.9", "headache (ICD-10-CM)"),
    52: ("R52.9", "pain, unspecified (WHO)"),
    53: ("R53.83", "fatigue (ICD-10-CM)"),
    54: ("R54", "age-related physical debility"),
    55: ("R55", "fainting"),
    56: ("R56.9", "convulsions"),
    57: ("R57.1", "hypovolaemic shock"),
    58: ("R58", "haemorrhage, not elsewhere classified"),
    59: ("R59.0", "localised enlarged lymph nodes"),
    60: ("R60.0", "localised oedema"),
    61: ("R61", "excessive sweating"),
    62: ("R62.50", "lack of expected development in childhood (ICD-10-CM)"),
    63: ("R63.4", "abnormal weight loss"),
    64: ("R64", "cachexia"),
    65: ("R65.10", "SIRS of non-infectious origin (ICD-10-CM)"),
    68: ("R68.89", "other general symptoms (ICD-10-CM)"),
    69: ("R69", "illness, unspecified"),
    70: ("R70.0", "raised sedimentation rate"),
    71: ("R71.0", "fall in haemoglobin (ICD-10-CM)"),
    72: ("R72", "abnormality of white blood cells (WHO)"),
    73: ("R73.01", "impaired fasting glucose (ICD-10-CM)"),
    74: ("R74.01", "raised liver transaminases (ICD-10-CM)"),
    75: ("R75", "inconclusive laboratory evidence of HIV"),
    76: ("R76.1", "abnormal reaction to a tuberculin test"),
    77: ("R77.1", "abnormality of globulin"),
    78: ("R78.0", "alcohol in the blood"),
    79: ("R79.0", "abnormal level of blood minerals"),
    80: ("R80.9", "proteinuria (ICD-10-CM)"),
    81: ("R81", "glycosuria"),
    82: ("R82.90", "abnormal findings in urine (ICD-10-CM)"),
    83: ("R83.9", "abnormal findings in cerebrospinal fluid"),
    84: ("R84.9", "abnormal findings in a respiratory specimen"),
    85: ("R85.610", "abnormal anal cytology (ICD-10-CM)"),
    86: ("R86.9", "abnormal findings in a male genital specimen"),
    87: ("R87.619", "abnormal cervical cytology (ICD-10-CM)"),
    88: ("R88.0", "cloudy dialysis effluent (ICD-10-CM)"),
    89: ("R89.9", "abnormal findings in a specimen of another organ"),
    90: ("R90.0", "space-occupying lesion on brain imaging"),
    91: ("R91.1", "solitary pulmonary nodule (ICD-10-CM)"),
    92: ("R92.8", "abnormal mammogram"),
    93: ("R93.1", "abnormal heart imaging"),
    94: ("R94.31", "abnormal electrocardiogram (ICD-10-CM)"),
    95: ("R95", "sudden infant death"),
    96: ("R96.0", "instantaneous death"),
    97: ("R97.20", "raised prostate-specific antigen (ICD-10-CM)"),
    98: ("R98", "unattended death"),
    99: ("R99", "ill-defined cause of death"),
}


def _r_row(family: int) -> tuple[str, str | None, str | None, str]:
    code, what = R_FAMILIES.get(family, (f"R{family:02d}", "a family neither edition uses"))
    # Shock stays an emergency (a) and fever a common issue (c); every other symptom is (d).
    pru = {57: "a", 50: "c"}.get(family, "d")
    # Assist America evaluates "a case where a diagnosis is not yet possible": only the
    # fever and the rash, minor by their code, fail its gate.
    aa = "complex" if family in (21, 50) else None
    return code, pru, aa, what


SYMPTOMS = [_r_row(family) for family in range(100)]

# ---- the skin: minor conditions refused by assist-america, grave ones eligible ------------

# (code, prudential-kh verdict, assist-america verdict, what it is).
SKIN: list[tuple[str, str | None, str | None, str]] = [
    # Infections of the skin
    ("L01.0", None, "complex", "impetigo (WHO)"),
    ("L01.03", None, "complex", "bullous impetigo (ICD-10-CM)"),
    ("L02.4", None, "complex", "abscess, boil or carbuncle of a limb (WHO)"),
    ("L02.92", None, "complex", "furuncle, unspecified (ICD-10-CM)"),
    ("L05.91", None, "complex", "pilonidal cyst without abscess (ICD-10-CM)"),
    ("L08.1", None, "complex", "erythrasma"),
    # Dermatitis and eczema
    ("L20.9", None, "complex", "atopic eczema"),
    ("L21.0", None, "complex", "dandruff (seborrhoea capitis)"),
    ("L22", None, "complex", "nappy rash"),
    ("L23.7", None, "complex", "allergic contact dermatitis due to plants"),
    ("L24.9", None, "complex", "irritant contact dermatitis"),
    ("L25.9", None, "complex", "contact dermatitis, cause unspecified"),
    ("L28.0", None, "complex", "lichen simplex chronicus"),
    ("L29.9", None, "complex", "itch"),
    ("L30.4", None, "complex", "intertrigo"),
    ("L30.9", None, "complex", "eczema, unspecified"),
    # Papulosquamous, urticaria, sunlight
    ("L42", None, "complex", "pityriasis rosea"),
    ("L50.0", None, "complex", "allergic urticaria"),
    ("L50.9", None, "complex", "hives"),
    ("L55.0", None, "complex", "sunburn of first degree"),
    ("L56.4", None, "complex", "polymorphous light eruption"),
    # Nails, hair, glands
    ("L60.0", None, "complex", "ingrowing nail"),
    ("L63.9", None, "complex", "alopecia areata"),
    ("L64.9", None, "complex", "male-pattern hair loss"),
    ("L65.0", None, "complex", "telogen effluvium"),
    ("L67.1", None, "complex", "variation in hair colour"),
    ("L68.0", None, "complex", "hirsutism"),
    ("L70.0", None, "complex", "acne vulgaris"),
    ("L71.9", None, "complex", "rosacea"),
    ("L72.0", None, "complex", "epidermal cyst"),
    ("L72.11", None, "complex", "pilar cyst (ICD-10-CM)"),
    ("L73.1", None, "complex", "pseudofolliculitis barbae"),
    ("L74.0", None, "complex", "prickly heat"),
    ("L74.513", None, "complex", "hyperhidrosis of the soles (ICD-10-CM)"),
    ("L75.0", None, "complex", "body odour (bromhidrosis)"),
    # Other disorders of the skin
    ("L80", None, "complex", "vitiligo"),
    ("L81.1", None, "complex", "melasma"),
    ("L81.4", None, "complex", "lentigo"),
    ("L82", None, "complex", "seborrhoeic keratosis (WHO)"),
    ("L82.1", None, "complex", "seborrhoeic keratosis (ICD-10-CM)"),
    ("L84", None, "complex", "corns and calluses"),
    ("L85.3", None, "complex", "dry skin"),
    ("L90.6", None, "complex", "stretch marks"),
    ("L91.0", None, "complex", "keloid scar"),
    ("L91.8", None, "complex", "skin tag"),
    ("L98.0", None, "complex", "pyogenic granuloma"),
    ("L98.7", None, "complex", "excess skin after weight loss"),
    # Infections and infestations of chapter I
    ("A63.0", None, "complex", "anogenital warts"),
    ("B00.1", None, "complex", "cold sore"),
    ("B01.9", None, "complex", "chickenpox without complication"),
    ("B02.9", None, "complex", "shingles without complication"),
    ("B07", None, "complex", "viral warts (WHO)"),
    ("B07.0", None, "complex", "plantar wart (ICD-10-CM)"),
    ("B07.9", None, "complex", "viral wart, unspecified (ICD-10-CM)"),
    ("B08.1", None, "complex", "molluscum contagiosum"),
    ("B09", None, "complex", "viral rash, unspecified"),
    ("B35.1", None, "complex", "fungal nail infection"),
    ("B35.3", None, "complex", "athlete's foot"),
    ("B35.4", None, "complex", "ringworm of the body"),
    ("B36.0", None, "complex", "pityriasis versicolor"),
    ("B37.2", None, "complex", "candida of the skin and nails"),
    ("B85.0", None, "complex", "head lice"),
    ("B85.3", None, "complex", "pubic lice"),
    ("B86", None, "complex", "scabies"),
    ("B88.1", None, "complex", "tungiasis (sand flea)"),
    # Benign growths of the skin
    ("D17.0", None, "complex", "lipoma of the face or neck"),
    ("D17.1", None, "complex", "lipoma of the trunk"),
    ("D17.21", None, "complex", "lipoma of the right arm (ICD-10-CM)"),
    ("D17.30", None, "complex", "lipoma of the skin, site unspecified (ICD-10-CM)"),
    ("D18.01", None, "complex", "haemangioma of the skin (ICD-10-CM)"),
    ("D22.5", None, "complex", "mole on the trunk"),
    ("D22.9", None, "complex", "mole, unspecified"),
    ("D23.5", None, "complex", "benign growth of the skin of the trunk"),
    ("D23.9", None, "complex", "benign growth of the skin, unspecified"),
    # First-degree burns
    ("T20.1", None, "complex", "first-degree burn of the head and neck (WHO)"),
    ("T22.111A", None, "complex", "first-degree burn of the right forearm (ICD-10-CM)"),
    ("T23.161A", None, "complex", "first-degree burn of the back of the right hand"),
    ("T24.111A", None, "complex", "first-degree burn of the right thigh"),
    ("T21.5", None, "complex", "first-degree corrosion of the trunk (WHO)"),
    ("T30.1", None, "complex", "first-degree burn, region unspecified (WHO)"),
    ("T30.5", None, "complex", "first-degree corrosion, region unspecified (WHO)"),
    # Grave skin disease: eligible under both programs
    ("C43.9", None, None, "melanoma"),
    ("C43.59", None, None, "melanoma of the trunk (ICD-10-CM)"),
    ("C44.3", None, None, "skin cancer of the face (WHO)"),
    ("C44.91", None, None, "basal cell carcinoma, site unspecified (ICD-10-CM)"),
    ("C46.0", None, None, "Kaposi's sarcoma of the skin"),
    ("D03.9", None, None, "melanoma in situ"),
    ("D04.5", None, None, "carcinoma in situ of the skin of the trunk"),
    ("D48.5", None, None, "skin tumour of uncertain behaviour (WHO)"),
    ("D49.2", None, None, "skin tumour of unspecified behaviour (ICD-10-CM)"),
    ("L00", None, None, "staphylococcal scalded skin syndrome"),
    ("L03.1", None, None, "cellulitis of a limb (WHO)"),
    ("L03.211", None, None, "cellulitis of the face (ICD-10-CM)"),
    ("L10.0", None, None, "pemphigus vulgaris"),
    ("L12.0", None, None, "bullous pemphigoid"),
    ("L26", None, None, "exfoliative dermatitis (erythroderma)"),
    ("L27.0", None, None, "generalised drug eruption"),
    ("L40.0", None, None, "psoriasis vulgaris"),
    ("L40.1", None, None, "generalised pustular psoriasis"),
    ("L40.50", None, None, "psoriatic arthritis (ICD-10-CM)"),
    ("L43.9", None, None, "lichen planus"),
    ("L51.1", None, None, "Stevens-Johnson syndrome"),
    ("L51.2", None, None, "toxic epidermal necrolysis"),
    ("L51.3", None, None, "Stevens-Johnson syndrome and TEN overlap (ICD-10-CM)"),
    ("L52", None, None, "erythema nodosum"),
    ("L57.0", None, None, "actinic keratosis: a precancer"),
    ("L60.5", None, None, "yellow nail syndrome"),
    ("L66.1", None, None, "lichen planopilaris: scarring hair loss"),
    ("L73.2", None, None, "hidradenitis suppurativa"),
    ("L83", None, None, "acanthosis nigricans"),
    ("L88", None, None, "pyoderma gangrenosum"),
    ("L89.154", None, None, "pressure ulcer of the sacrum, stage 4 (ICD-10-CM)"),
    ("L90.5", None, None, "scar contracture"),
    ("L93.0", None, None, "discoid lupus erythematosus"),
    ("L94.0", None, None, "localised scleroderma (morphoea)"),
    ("L95.9", None, None, "vasculitis limited to the skin"),
    ("L97.429", None, None, "non-pressure ulcer of the left heel (ICD-10-CM)"),
    ("L98.4", None, None, "chronic ulcer of the skin (WHO)"),
    ("M72.6", None, None, "necrotising fasciitis"),
    ("A46", None, None, "erysipelas"),
    ("A30.9", None, None, "leprosy"),
    ("B00.4", None, None, "herpes simplex encephalitis"),
    ("B01.1", None, None, "chickenpox encephalitis"),
    ("B02.3", None, None, "shingles of the eye"),
    ("B02.29", None, None, "postherpetic neuralgia (ICD-10-CM)"),
    ("B02.7", None, None, "disseminated shingles"),
    ("B08.4", None, None, "hand, foot and mouth disease (enterovirus)"),
    ("T20.3", None, None, "third-degree burn of the head and neck (WHO)"),
    ("T21.21XA", None, None, "second-degree burn of the chest wall (ICD-10-CM)"),
    ("T26.1", None, None, "burn of the cornea: not the body surface"),
    ("Q82.5", "e.iii", None, "congenital naevus: congenital under prudential-kh"),
]  # fmt: skip

PROBE = SYMPTOMS + SKIN
EVERY_ROW = CODE_VERDICTS + PROBE


# Every row of both tables, under each program: (program, code, verdict, what it is).
VERDICTS = [(PRU, c, pru, w) for c, pru, _aa, w in EVERY_ROW] + [
    (AA, c, aa, w) for c, _pru, aa, w in EVERY_ROW
]


@pytest.mark.parametrize(
    ("program", "icd10", "verdict", "what"), VERDICTS, ids=[f"{p.name}:{c}" for p, c, *_ in VERDICTS]
)
def test_verdict_from_the_code_alone(program: Program, icd10: str, verdict: str | None, what: str) -> None:
    decision = run(program, request(program, icd10=icd10))
    assert codes(decision) == ([verdict] if verdict else []), what


def test_the_tables_name_each_code_once() -> None:
    listed = [c for c, *_ in EVERY_ROW]
    assert len(listed) == len(set(listed))


def test_every_symptom_code_is_refused_by_prudential_for_one_reason() -> None:
    # What rule d spares is refused by the rule that names it, so no symptom code passes.
    d = next(r for r in PRU.eligibility.rules if r.code == "d")
    others = [r for r in PRU.eligibility.rules if r.code != "d"]
    for spared in d.icd10_except:
        assert spared.startswith("R")
        assert [r.code for r in others if r.matches_icd10(spared)], spared


def test_every_icd10_entry_of_both_programs_refuses_some_code_in_the_tables() -> None:
    # A list entry no row exercises is untested data: each must refuse at least one code.
    rows = [c for c, *_ in EVERY_ROW]
    for program in (PRU, AA):
        for rule in program.eligibility.rules:
            for entry in rule.icd10:
                one = Rule.model_validate(rule.model_dump() | {"icd10": [entry]})
                assert any(one.matches_icd10(c) for c in rows), f"{program.name} {rule.code} {entry}"


def test_every_exception_spares_some_code_in_the_tables() -> None:
    rows = [c for c, *_ in EVERY_ROW]
    for program in (PRU, AA):
        for rule in program.eligibility.rules:
            unspared = Rule.model_validate(rule.model_dump() | {"icd10_except": []})
            for entry in rule.icd10_except:
                one = Rule.model_validate(rule.model_dump() | {"icd10_except": [entry]})
                spared = [c for c in rows if unspared.matches_icd10(c) and not one.matches_icd10(c)]
                assert spared, f"{program.name} {rule.code} except {entry}"


@pytest.mark.parametrize(
    ("program", "icd10", "code"),
    [(PRU, "R51.9", "d"), (PRU, "R91.1", "d"), (AA, "L70.0", "complex"), (AA, "B86", "complex")],
    ids=["pru-headache", "pru-lung-nodule", "aa-acne", "aa-scabies"],
)
def test_an_override_reason_leaves_the_refusal_it_answers_in_the_evaluation(
    program: Program, icd10: str, code: str
) -> None:
    # The evaluation stays true (the activity audits the override beside it); the workflow
    # admits the case on the override: tests/test_eligibility_override.py runs it end to end.
    req = request(program, icd10=icd10, override_reason="The treating doctor has a working diagnosis")
    assert codes(run(program, req)) == [code]
