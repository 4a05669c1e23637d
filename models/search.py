"""Custom search attributes: what a supervisor filters and sorts by in the Web UI. No PHI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("SmoStage")
PROGRAM = SearchAttributeKey.for_keyword("SmoProgram")
SLA_DEADLINE = SearchAttributeKey.for_datetime("SmoSlaDeadline")
SLA_STATE = SearchAttributeKey.for_keyword("SmoSlaState")
SPECIALTY = SearchAttributeKey.for_keyword("SmoSpecialty")
ATTENTION = SearchAttributeKey.for_keyword("SmoAttention")

ALL_KEYS = (STAGE, PROGRAM, SLA_DEADLINE, SLA_STATE, SPECIALTY, ATTENTION)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` pairs for `temporal server start-dev`."""
    kinds = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}
    return [
        f"{k.name}={kinds[k.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}" for k in ALL_KEYS
    ]
