"""The web edge's one refusal, `WebError`, and how the API words it: a JSON body, never a traceback.

The API answers a `WebError` as `{"error": "...", "request_id": "..."}` with its 4xx; the
portal shows the same refusal as a plain page. Validation messages name the field and the
rule, not the value: a value may be PHI.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError


class WebError(Exception):
    """A refusal with its HTTP status and a message meant for whoever made the request.

    `message` is an English sentence; `values` fill its `%(name)s` places. The API answers with
    the English filled in (`message`); the portal shows the sentence in the reader's language,
    translated before it is filled in (`template` and `values`, web.portal.app).
    """

    def __init__(self, status: int, message: str, /, **values: Any) -> None:
        filled = message % values if values else message
        super().__init__(filled)
        self.status = status
        self.template = message
        self.values = values
        self.message = filled
        self.headers: dict[str, str] = {}  # sent with the answer (a 429's Retry-After, a 405's Allow)


# pydantic's own sentences for these errors name the rule (a length, a pattern, the expected
# type or choices) and never quote the input; any other error is worded as "is not valid".
_RULES = frozenset(
    {
        "missing", "string_type", "string_too_short", "string_too_long", "string_pattern_mismatch",
        "string_unicode", "int_type", "int_parsing", "int_from_float", "float_type", "float_parsing",
        "bool_type", "bool_parsing", "greater_than", "greater_than_equal", "less_than",
        "less_than_equal", "multiple_of", "enum", "literal_error", "list_type", "set_type",
        "frozen_set_type", "too_short", "too_long", "model_type", "model_attributes_type",
        "dict_type", "date_type", "date_parsing", "date_from_datetime_parsing",
        "date_from_datetime_inexact", "datetime_type", "datetime_parsing",
        "datetime_from_date_parsing", "datetime_object_invalid", "timezone_aware", "timezone_naive",
        "none_required", "finite_number",
    }
)  # fmt: skip


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """The first problem as `field: rule`; the value the caller sent is never part of it.

    A value may be PHI, or a string made to be read back in someone's log or screen, so the
    sentence is built from the error's type and the schema's limits alone: an unknown field is
    named by where it was (its name is the caller's too), a check of ours by its own sentence
    (which names the rule), anything else as not valid.
    """
    first = exc.errors(include_url=False, include_input=False)[0]
    loc: tuple[int | str, ...] = first["loc"]
    kind = first["type"]
    error = (first.get("ctx") or {}).get("error")
    if kind == "extra_forbidden":
        loc, rule = loc[:-1], "takes no such field (see /openapi.json for the fields it takes)"
    elif kind == "value_error" and isinstance(error, ValueError):
        rule = str(error)  # raised by our own validators, whose sentences name the rule only
    elif kind == "value_error":
        # pydantic's own checks (an email address) append a reason that may quote the input.
        rule = str(first["msg"]).split(":", 1)[0]
    elif kind in _RULES:
        rule = str(first["msg"])
    else:
        rule = "is not valid"
    where = ".".join(str(p) for p in (*([prefix] if prefix else []), *loc))
    return f"{where}: {rule}" if where else rule


def body(message: str, request_id: str | None) -> str:
    out: dict[str, Any] = {"error": message, "request_id": request_id}
    return json.dumps(out)
