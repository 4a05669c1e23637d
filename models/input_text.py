"""The text the service takes at its edges, with every limit stated where a schema reader sees it.

The API's OpenAPI document is built from the models, so each limit the server enforces on a
string is written as a JSON Schema keyword: a pattern, a length, a format. The patterns are
ECMA's as much as pydantic's (`$` is the end of the text for both; Python's `re` would also
let it match before a final newline, so Python code checks with `fullmatch`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, WithJsonSchema

SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_QUESTIONS = 5  # the member's questions for the specialist, each answered in the report
# A document's id (its sha256), who did something, and a short reason.
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True)]

# No NUL: PostgreSQL cannot store one in text, and no field of ours means one.
NO_NUL_PATTERN = r"^[^\x00]*$"
# A reason once its ends are stripped: at least three characters, from a non-space to a non-space.
# U+0085 (next line) is white space to the server's strip but not to ECMA's `\s`: named apart.
REASON_PATTERN = r"^\s*[^\s\x00\x85][^\x00]+[^\s\x00\x85]\s*$"
# A language tag as BCP 47 writes one (en, km, en-US), or a language's name in Latin letters.
LANGUAGE_PATTERN = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$"

# A telephone number as people write it: digits, spaces, and + ( ) - . between them, with
# 6 to 20 digits. The same rule at every edge (the request form, the contact form, the API,
# the CLI): no extension words, no letters. Checked by `Phone`'s validator, whose sentence
# names the rule in plain words (the pattern is for the schema's reader).
PHONE_PATTERN = r"^\+?[0-9(][0-9 ().-]{4,38}[0-9]$"
PHONE_RULE = "use digits, spaces and + ( ) - only, with 6 to 20 digits"
# The same rule as one pattern, the digits counted too, for the schema's reader (and its fuzzers:
# a phone the schema allows is one the server takes). Empty, or: an optional +, then a digit or
# "(", then 6 to 20 digits in all with separators between them, ending on a digit. With the
# schema's maxLength of 40 it allows a part of what the validator takes, and nothing more.
_SEPARATED = r"(?:[ ().-]*[0-9])"
PHONE_SCHEMA_PATTERN = rf"^(?:\+?(?:\({_SEPARATED}{{6,20}}|[0-9]{_SEPARATED}{{5,19}}))?$"


def check_phone(value: str) -> str:
    """An empty phone, or one that keeps the rule (stripped of its outer spaces)."""
    value = value.strip()
    if not value:
        return value
    digits = sum(ch.isascii() and ch.isdigit() for ch in value)
    if not re.fullmatch(PHONE_PATTERN, value) or not 6 <= digits <= 20:
        raise ValueError(PHONE_RULE)
    return value


Phone = Annotated[
    str,
    AfterValidator(check_phone),
    WithJsonSchema({"type": "string", "maxLength": 40, "pattern": PHONE_SCHEMA_PATTERN}),
]

# The addresses pydantic's EmailStr takes, as a pattern a reader of the schema can apply: a
# dot-atom (at most 64 characters) at a dotted host name whose top-level domain is not one
# reserved for special use (email-validator refuses `.test`, `.local`, `.invalid` ...).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"(?![A-Za-z0-9]{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = (
    rf"^(?=[^@]{{1,64}}@){_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+"
    r"(?!(?:arpa|invalid|local|localhost|onion|test)$)[a-z]{2,63}$"
)

# The server takes more (other scripts, a capital top-level domain); the schema states a part
# that it always takes.
Email = Annotated[
    EmailStr,
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN}),
]


def _iso_639_1() -> frozenset[str]:
    from babel import Locale

    codes = (str(code) for code in Locale("en").languages)
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha())


# Read once, at import: a workflow validates a document's language inside its sandbox, which
# may not read Babel's data files (about 30 ms here, once per process).
_ISO_639_1 = _iso_639_1()


def iso_639_1() -> frozenset[str]:
    """The two-letter language codes (ISO 639-1), from the CLDR data Babel ships."""
    return _ISO_639_1


def _language_code(value: str) -> str:
    code = value.strip().lower()
    if code not in iso_639_1():
        raise ValueError("a document's language is its ISO 639-1 code (en, km, fr, …)")
    return code


# A document's language as declared at upload: its two-letter code, checked against the list.
def _language_codes(schema: dict[str, Any]) -> None:
    # Built when a schema is asked for, not at import: the list comes from Babel's data.
    schema.update(type="string", enum=sorted(iso_639_1()), description="ISO 639-1")


LanguageCode = Annotated[str, AfterValidator(_language_code), Field(json_schema_extra=_language_codes)]
