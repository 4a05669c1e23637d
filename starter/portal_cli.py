"""`smo portal …` and `smo consent …`: the member portal from a coordinator's terminal, through the API."""

from __future__ import annotations

from pathlib import Path

import typer

from starter.cli_common import PLAIN, post, upload

portal_app = typer.Typer(help="The member portal: sign-in links.", **PLAIN)


@portal_app.command("link")
def portal_link(case_id: str) -> None:
    """Email the member a new single-use sign-in link to their case page."""
    post(case_id, "portal-link")


consent_app = typer.Typer(help="The member's consent to send records abroad.", **PLAIN)


@consent_app.command("record")
def consent_record(case_id: str, form: Path) -> None:
    """Attest the member's consent with their signed form (uploaded as a `consent` document)."""
    upload(case_id, "consent", [form], {})
