"""`smo followup ask|answer`: follow-up questions after the report, through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from starter.cli_common import EXISTING, PLAIN, UserError, command, post

followup_app = typer.Typer(help="Follow-up questions after the report.", **PLAIN)


@followup_app.command("ask")
def followup_ask(
    case_id: str, text: Annotated[str, typer.Option(help="The question (stored encrypted)")]
) -> None:
    """Ask a follow-up question: the specialist answers it within the program's working days."""
    post(case_id, "follow-ups", {"text": text})


@followup_app.command("answer")
def followup_answer(
    case_id: str,
    number: int,
    text: Annotated[str | None, typer.Option(help="The answer")] = None,
    file: Annotated[Path | None, typer.Option(help="The answer, from a UTF-8 text file", **EXISTING)] = None,
) -> None:
    """Answer follow-up question NUMBER, with --text or --file."""

    def run() -> None:
        if (text is None) == (file is None):
            raise UserError("give the answer with --text or with --file, one of them")
        answer = text
        if file is not None:
            try:
                answer = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise UserError(f"{file}: cannot read the answer (a UTF-8 text file)") from None
        post(case_id, f"follow-ups/{number}/answer", {"text": answer})

    command(run)


@followup_app.command("survey")
def followup_survey(case_id: str) -> None:
    """Send the member's survey now (it goes out a day after the report otherwise)."""
    post(case_id, "survey")
