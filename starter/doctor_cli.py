"""`smo doctor share|withdraw`: the member's treating doctor, named by the desk, through the API."""

from __future__ import annotations

from typing import Annotated

import typer

from starter.cli_common import PLAIN, UserError, command, post

doctor_app = typer.Typer(
    help="The member's treating doctor: the report shared with the member's consent.", **PLAIN
)


@doctor_app.command("share")
def doctor_share(
    case_id: str,
    name: Annotated[str, typer.Option(help="The doctor's name")],
    hospital: Annotated[str, typer.Option(help="Their hospital or clinic")],
    email: Annotated[str, typer.Option(help="Their email address")],
    member_consented: Annotated[
        bool, typer.Option("--member-consented", help="The member agreed that the report is shared")
    ] = False,
) -> None:
    """Email the doctor a link to the report (now, or when it is delivered), with the member's consent."""

    def run() -> None:
        if not member_consented:
            raise UserError("the report is shared only with the member's consent: add --member-consented")
        body = {"name": name, "hospital": hospital, "email": email, "member_consented": True}
        post(case_id, "doctor", body)

    command(run)


@doctor_app.command("withdraw")
def doctor_withdraw(case_id: str) -> None:
    """Withdraw the member's consent: the doctor's link no longer opens the report."""
    post(case_id, "doctor/withdraw")
