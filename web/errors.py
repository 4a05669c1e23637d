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
    """A refusal with its HTTP status and a message meant for whoever made the request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """The first problem as `field: rule`, with the offending value taken out of the text."""
    first = exc.errors(include_url=False)[0]
    msg = str(first["msg"])
    value = first.get("input")
    if isinstance(value, str) and value.strip():
        msg = msg.replace(repr(value), "the value").replace(value, "the value")
    where = ".".join(str(p) for p in (*([prefix] if prefix else []), *first["loc"]))
    return f"{where}: {msg}" if where else msg


def body(message: str, request_id: str | None) -> str:
    out: dict[str, Any] = {"error": message, "request_id": request_id}
    return json.dumps(out)
