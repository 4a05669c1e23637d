"""ICD-10 prefixes as the program files write them, and matching a case's code against them.

An eligibility rule names the diagnoses it refuses by prefix (`models.program_rules.Rule`);
this module checks such a prefix and compiles a rule's prefixes into one pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# An ICD-10 entry is a prefix of a code: a chapter letter ("F"), a category
# ("B20", "Z3A"), a category with part of its subdivision ("Z41.1", "J09.X2"),
# or a range of three-character categories within one letter ("J00-J06").
# After the dot, "?" stands for any one character, so that the intent digit of
# an ICD-10-CM poisoning code can be read ("T36-T65.??2": intentional
# self-harm); "X" stays the literal ICD-10-CM placeholder.
_ICD_ENTRY = re.compile(
    r"^(?P<head>[A-Z](?:[0-9][0-9A-Z]?)?|[A-Z][0-9]{2}-[A-Z][0-9]{2})"
    r"(?:\.?(?P<tail>[0-9A-Z?]{1,4}))?$"
)
_ICD_RANGE = re.compile(r"^([A-Z])([0-9]{2})-([A-Z])([0-9]{2})$")


def _entry_pattern(entry: str) -> str:
    m = _ICD_ENTRY.fullmatch(entry)
    if m is None:
        raise ValueError(f"{entry!r} is not an ICD-10 prefix")
    head, tail = m.group("head"), m.group("tail") or ""
    ranged = _ICD_RANGE.fullmatch(head)
    if ranged:
        letter, start, _, end = ranged.groups()
        head_pattern = "(?:" + "|".join(f"{letter}{n:02d}" for n in range(int(start), int(end) + 1)) + ")"
    else:
        if "?" in tail and len(head) < 3:
            raise ValueError(f"{entry!r}: '?' may only follow a full three-character category")
        head_pattern = head
    return head_pattern + "".join("." if ch == "?" else ch for ch in tail)


def icd10_prefix(raw: str) -> str:
    """`raw` trimmed and upper-cased, once it is known to be an ICD-10 prefix; else a ValueError."""
    entry = raw.strip().upper()
    m = _ICD_RANGE.fullmatch(entry.split(".")[0])
    if m:
        letter, start, letter2, end = m.groups()
        if letter != letter2 or int(start) > int(end):
            raise ValueError(f"{raw!r}: a range must stay within one letter, low to high")
    if not _ICD_ENTRY.fullmatch(entry):
        raise ValueError(f"{raw!r} is not an ICD-10 prefix (e.g. F, B20, Z41.1, J00-J06, T36-T65.??2)")
    _entry_pattern(entry)  # refuses a misplaced "?"
    return entry


def icd10_matcher(entries: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression matching a dot-less code that starts with any of `entries`."""
    patterns = [_entry_pattern(e) for e in entries]
    return re.compile("^(?:" + "|".join(patterns) + ")") if patterns else None


@lru_cache(maxsize=256)
def compiled_matcher(entries: tuple[str, ...]) -> re.Pattern[str] | None:
    """`icd10_matcher`, compiled once per list of entries."""
    # Programs are loaded once and evaluated for every case: compile each
    # rule's entries once.
    return icd10_matcher(entries)


def dotless(icd10: str) -> str:
    """A case's code as the matchers read it: "c50.912" is "C50912"."""
    return icd10.strip().upper().replace(".", "")
