"""`smo records` and `smo release`: a case's records, the releases they are asked under, requests.

`records add` uploads records with the facts the completeness check reads (language, date,
the record a translation is of); `records request` asks a provider for records under a
release in force; `records complete` passes only when the check does, or with what it lacks
waived with a reason. `release record` attests a signed paper release; `release revoke`
stops every request under one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.vocabulary import RecordType
from starter.cli_common import EXISTING, PLAIN, post, upload

records_app = typer.Typer(help="Medical records of a case.", **PLAIN)
release_app = typer.Typer(help="The member's signed releases of records.", **PLAIN)


def _types(types: str | None) -> str | None:
    """A comma-separated list of record types, as the API takes it (it checks each one)."""
    return ",".join(t.strip() for t in types.split(",")) if types else None


@records_app.command("add")
def records_add(
    case_id: str,
    files: Annotated[list[Path], typer.Argument(help="Files to upload (streamed, encrypted)", **EXISTING)],
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)],
    language: Annotated[str, typer.Option(help="ISO 639-1 code of the records' language")] = "en",
    dated: Annotated[str | None, typer.Option(help="The records' date, YYYY-MM-DD")] = None,
    translation_of: Annotated[
        str | None, typer.Option(help="The record (id) these translate into English")
    ] = None,
) -> None:
    """Upload records of one type to a case."""
    query = {"record_type": record_type.value, "language": language}
    query |= {k: v for k, v in (("dated", dated), ("translation_of", translation_of)) if v}
    upload(case_id, "records", files, query)


@records_app.command("request")
def records_request(
    case_id: str,
    provider: Annotated[str, typer.Option(help="The hospital or clinic, as the release names it")],
    email: Annotated[str, typer.Option(help="Where the provider takes record requests")],
    types: Annotated[
        str | None, typer.Option(help="Record types, comma-separated (the missing ones)")
    ] = None,
    release: Annotated[
        int | None, typer.Option(help="The release it is asked under (default: one in force)")
    ] = None,
    language: Annotated[str, typer.Option(help="The provider's email: en, or km for Khmer too")] = "en",
) -> None:
    """Ask a provider for records: it is emailed an upload link, and chased until it sends them."""
    body: dict[str, object] = {
        "provider": provider,
        "email": email,
        "types": _types(types) or [],
        "language": language,
    }
    post(case_id, "records/requests", body | ({"release": release} if release is not None else {}))


@records_app.command("complete")
def records_complete(
    case_id: str,
    waive: Annotated[
        list[str] | None,
        typer.Option(help="An unmet item: a required record type, translation:<doc> or recent:<doc>"),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why the waived items do not apply")] = None,
) -> None:
    """Declare the records complete (the completeness check must pass): the case moves on."""
    items = waive or []
    checks = [w for w in items if ":" in w]
    types = [w for w in items if ":" not in w]
    post(case_id, "records/complete", {"waive": types, "waive_checks": checks, "waive_reason": reason})


@release_app.command("record")
def release_record(
    case_id: str,
    file: Annotated[Path, typer.Argument(help="The signed release (scanned)", **EXISTING)],
    provider: Annotated[str, typer.Option(help="The provider the release names")],
    expires: Annotated[str, typer.Option(help="Its expiry, YYYY-MM-DD (at most a year away)")],
    types: Annotated[str | None, typer.Option(help="Record types it covers, comma-separated (all)")] = None,
    records_from: Annotated[
        str | None, typer.Option("--from", help="Records from this date, YYYY-MM-DD")
    ] = None,
) -> None:
    """Attest the member's signed paper release of records to a provider."""
    query = {"provider": provider, "expires": expires}
    query |= {k: v for k, v in (("types", _types(types)), ("records_from", records_from)) if v}
    upload(case_id, "releases", [file], query)


@release_app.command("revoke")
def release_revoke(case_id: str, number: int) -> None:
    """Revoke a release: every open request under it stops, and its links die."""
    post(case_id, f"releases/{number}/revoke")


__all__ = ["records_app", "release_app"]
