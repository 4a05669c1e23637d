"""`smo records add|complete`: a case's medical records, uploaded through the API and declared complete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.vocabulary import RecordType
from starter.cli_common import EXISTING, PLAIN, post, upload

records_app = typer.Typer(help="Medical records of a case.", **PLAIN)


@records_app.command("add")
def records_add(
    case_id: str,
    files: Annotated[list[Path], typer.Argument(help="Files to upload (streamed, encrypted)", **EXISTING)],
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)],
) -> None:
    """Upload records of one type to a case."""
    upload(case_id, "records", files, {"record_type": record_type.value})


@records_app.command("complete")
def records_complete(
    case_id: str,
    waive: Annotated[list[RecordType] | None, typer.Option(help="Required type not applicable")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the waived types do not apply")] = None,
) -> None:
    """Declare the records complete: the case moves on to specialist assignment."""
    post(case_id, "records/complete", {"waive": [w.value for w in waive or []], "waive_reason": reason})
