"""Every time the `smo` CLI prints is the desk's, in one zone named as such: "2026-04-14 17:00 ICT".

The API answers in ISO 8601 with offsets (UTC from the visibility store, +07:00 from the
case); the tables and lines read them all in ICT. `--json` keeps the API's own text. The
API is stood in for by its answers, so each command's printing is checked exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from rich.console import Console
from typer.testing import CliRunner

from starter import case_cli, cli_common
from starter.cli import app
from starter.cli_common import at_desk

runner = CliRunner()

# 10:00 UTC is 17:00 in Phnom Penh; the same instant written with the case's +07:00.
DUE_UTC = "2026-04-14T10:00:00Z"
AT_ICT = "2026-04-14T17:00:05+07:00"

STATUS: dict[str, Any] = {
    "case_id": "KH-1",
    "program": "prudential-kh",
    "stage": "UNDER_REVIEW",
    "eligibility": None,
    "records": {"required": [], "received": {}, "waived": [], "documents": 0, "cap": None},
    "specialist_id": "SP-ONC-001",
    "specialty": "oncology",
    "sla": {"state": "RUNNING", "due_at": DUE_UTC, "working_days": 10, "elapsed_working_days": 1},
    "reassignment_offered": False,
    "report_doc_ids": [],
    "timeline": [{"at": AT_ICT, "stage": "UNDER_REVIEW", "event": "assigned", "detail": ""}],
}
LISTED = {
    "cases": [
        {
            "case_id": "KH-1",
            "stage": "UNDER_REVIEW",
            "program": "prudential-kh",
            "specialty": "oncology",
            "sla_state": "RUNNING",
            "due_at": DUE_UTC,
            "status": "RUNNING",
        }
    ]
}
TRAIL = {
    "events": [
        {"at": "2026-04-14T10:00:05+00:00", "case_id": "KH-1", "actor": "chenda", "action": "case.open"}
        | {"outcome": "accepted", "detail": ""}
    ]
}


class FakeApi:
    """The API's answers by path; every call it was asked, for the assertions."""

    calls: ClassVar[list[tuple[str, str, Any]]] = []

    def request(self, method: str, path: str, **kw: Any) -> Any:
        FakeApi.calls.append((method, path, kw.get("body")))
        if path.endswith("/audit"):
            return TRAIL
        if path == "/api/v1/cases":
            return LISTED if method == "GET" else STATUS
        if path.endswith("/details"):
            return {"case_id": "KH-1", "stage": "GATHERING_RECORDS", "detail": "", "done": True}
        return STATUS


@pytest.fixture(autouse=True)
def fake_api(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeApi.calls = []
    monkeypatch.setattr(case_cli, "Api", FakeApi)
    monkeypatch.setenv("COLUMNS", "200")
    # The console's width is read when it is made (at import), whichever test imported it first:
    # a wide one for this test's tables, whatever the process ran before.
    for module in (case_cli, cli_common):
        monkeypatch.setattr(module, "out", Console(width=200))


def smo(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_the_helper_reads_every_form_of_an_instant_in_ict() -> None:
    assert at_desk(DUE_UTC) == "2026-04-14 17:00 ICT"
    assert at_desk(AT_ICT, seconds=True) == "2026-04-14 17:00:05 ICT"
    assert at_desk(datetime(2026, 4, 14, 10, 0, tzinfo=UTC)) == "2026-04-14 17:00 ICT"
    assert at_desk(datetime(2026, 4, 14, 10, 0)) == "2026-04-14 17:00 ICT"  # the case DB's UTC
    assert at_desk("2026-04-14T05:00:00-05:00") == "2026-04-14 17:00 ICT"  # CDT, read at the desk
    assert at_desk(None) == at_desk("") == ""


def test_case_list_status_and_audit_print_ict_and_nothing_else() -> None:
    for out in (smo("case", "list"), smo("case", "status", "KH-1"), smo("case", "audit", "KH-1")):
        assert "2026-04-14 17:00" in out and "ICT" in out, out
        assert "UTC" not in out and "+07:00" not in out and "T10:00" not in out, out
    assert "due 2026-04-14 17:00 ICT" in smo("case", "status", "KH-1")


def test_json_keeps_the_apis_iso_8601_with_its_offset() -> None:
    assert json.loads(smo("case", "status", "KH-1", "--json"))["sla"]["due_at"] == DUE_UTC


def test_case_open_sends_the_language_and_the_sex_and_leaves_them_out_of_a_replacement() -> None:
    member = ["--patient", "Test Member", "--dob", "1980-01-01", "--email", "member@example.com"]
    member += ["--icd10", "C50.912", "--diagnosis", "synthetic", "--policy", "KH-DEMO-0001"]
    smo("case", "open", "--program", "prudential-kh", *member, "--language", "KM", "--sex", "female")
    smo("case", "open", "--program", "prudential-kh", *member)
    smo("case", "update-details", "KH-1", *member)
    smo("case", "update-details", "KH-1", *member, "--language", "km")
    sent = [body for _, _, body in FakeApi.calls]
    assert (sent[0]["details"]["language"], sent[0]["details"]["sex"]) == ("km", "female")
    assert sent[1]["details"]["language"] == "en" and "sex" not in sent[1]["details"]
    # A replacement that names neither keeps the case's own (the API's rule).
    assert "language" not in sent[2] and "sex" not in sent[2]
    assert sent[3]["language"] == "km"


def test_case_language_posts_the_change_and_refuses_a_language_it_cannot_speak() -> None:
    assert smo("case", "language", "KH-1", "km").strip() == "KH-1: GATHERING_RECORDS"
    assert FakeApi.calls == [("POST", "/api/v1/cases/KH-1/details", {"language": "km"})]
    for wrong in ("fr", "khmer", ""):
        result = runner.invoke(app, ["case", "language", "KH-1", wrong])
        assert result.exit_code == 2 and "'en', 'km'" in result.output, result.output
    result = runner.invoke(app, ["case", "open", "--language", "fr"])
    assert result.exit_code == 2 and "--language" in result.output
    assert len(FakeApi.calls) == 1, "a refused language reached the API"
