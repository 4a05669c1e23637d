"""`smo portal …`: the member portal from a coordinator's terminal, through the API."""

from __future__ import annotations

import typer

from starter.cli import PLAIN, _post

portal_app = typer.Typer(help="The member portal: sign-in links.", **PLAIN)


@portal_app.command("link")
def portal_link(case_id: str) -> None:
    """Email the member a new single-use sign-in link to their case page."""
    _post(case_id, "portal-link")
