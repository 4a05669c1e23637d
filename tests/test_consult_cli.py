"""`smo consult reschedule|cancel|complete|hours` and the consult lines of `smo case status`.

The API is stood in for by its answers (as in test_cli_desk_times), so what each command sends
and prints is checked exactly, and a mistake the CLI can see itself (a slot without its UTC
offset, a consult number out of range, half of the hours) is refused with exit code 2 before
any request. The real API's refusals are in tests/api/test_api_consult_moves.py.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from rich.console import Console
from typer.testing import CliRunner

from starter import case_cli, cli_common, consult_cli
from starter.api_client import ApiRefused
from starter.cli import app
from tests.test_cli_desk_times import STATUS

runner = CliRunner()
ACK = {"case_id": "KH-1", "stage": "CONSULT", "detail": "sequence 1", "done": True}
HOURS = {"case_id": "KH-1", "zone": "Asia/Phnom_Penh", "hours": "08:00-21:00"}
BOOKED: dict[str, Any] = STATUS | {
    "stage": "CONSULT",
    "report_doc_ids": ["d1"],
    "consults_booked": 2,
    "consults_completed": 0,
    "consult_pending": True,
    "consult_at": "2026-12-14T02:00:00Z",  # 09:00 in Phnom Penh
    "consult_number": 2,
    "consult_sequence": 1,
    "consult_rebook_free": 1,
    "consult_outcome_asked": True,
}


class FakeApi:
    """The API's answers by path; every call it was asked, for the assertions."""

    calls: ClassVar[list[tuple[str, str, Any]]] = []
    refuse: ClassVar[ApiRefused | None] = None

    def request(self, method: str, path: str, **kw: Any) -> Any:
        FakeApi.calls.append((method, path, kw.get("body")))
        if FakeApi.refuse is not None:
            raise FakeApi.refuse
        if path.endswith("/consults/hours"):
            return {**HOURS, **(kw.get("body") or {})}
        if path == "/api/v1/cases/KH-1":
            return BOOKED
        return ACK


@pytest.fixture(autouse=True)
def fake_api(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeApi.calls, FakeApi.refuse = [], None
    for module in (consult_cli, cli_common, case_cli):
        monkeypatch.setattr(module, "Api", FakeApi)
    monkeypatch.setenv("COLUMNS", "200")
    # The console's width is read when it is made (at import), whichever test imported it first:
    # a wide one for this test's tables, whatever the process ran before.
    for module in (case_cli, cli_common, consult_cli):
        monkeypatch.setattr(module, "out", Console(width=200))


def smo(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_reschedule_cancel_and_complete_send_the_consult_number_and_the_outcome() -> None:
    out = smo("consult", "reschedule", "KH-1", "2", "--slot", "2026-12-15T09:00+07:00")
    assert out.strip() == "KH-1: CONSULT (sequence 1)"
    smo("consult", "cancel", "KH-1", "2")
    smo("consult", "complete", "KH-1")
    smo("consult", "complete", "KH-1", "--outcome", "member-absent")
    smo("consult", "complete", "KH-1", "--outcome", "specialist-absent")
    assert FakeApi.calls == [
        ("POST", "/api/v1/cases/KH-1/consults/2/reschedule", {"slot": "2026-12-15T09:00:00+07:00"}),
        ("POST", "/api/v1/cases/KH-1/consults/2/cancel", {}),
        ("POST", "/api/v1/cases/KH-1/consults/complete", {"outcome": "done"}),
        ("POST", "/api/v1/cases/KH-1/consults/complete", {"outcome": "member_absent"}),
        ("POST", "/api/v1/cases/KH-1/consults/complete", {"outcome": "specialist_absent"}),
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["consult", "reschedule", "KH-1", "1", "--slot", "2026-12-14T09:00"],  # no UTC offset
        ["consult", "reschedule", "KH-1", "1", "--slot", "next monday"],
        ["consult", "book", "KH-1", "--slot", "2026-12-14T09:00"],
        ["consult", "reschedule", "KH-1", "0", "--slot", "2026-12-14T09:00+07:00"],
        ["consult", "reschedule", "KH-1", "-1", "--slot", "2026-12-14T09:00+07:00"],
        ["consult", "cancel", "KH-1", "99999999999999999999"],
        ["consult", "cancel", "KH-1", "one"],
        ["consult", "complete", "KH-1", "--outcome", "no-show"],
        ["consult", "complete", "KH-1", "--outcome", "member_absent"],
        ["consult", "hours", "KH-1", "--zone", "Asia/Phnom_Penh"],  # half of a setting
        ["consult", "hours", "KH-1", "--hours", "08:00-21:00"],
    ],
)
def test_a_mistake_the_cli_can_see_exits_2_before_any_request(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert result.output.strip(), "a refusal without a word"
    assert FakeApi.calls == [], "a refused command line reached the API"


def test_a_slot_without_its_offset_is_one_error_line_naming_the_offset() -> None:
    out = smo("consult", "reschedule", "KH-1", "1", "--slot", "2026-12-14T09:00", code=2)
    assert out.startswith("error: ") and "no UTC offset" in out and len(out.strip().splitlines()) == 1


def test_the_apis_refusal_of_a_slot_exits_2_with_its_reason() -> None:
    reason = "the slot 2026-12-13T03:00:00+07:00 is refused: outside the specialist's hours"
    FakeApi.refuse = ApiRefused(422, reason)
    out = smo("consult", "reschedule", "KH-1", "1", "--slot", "2026-12-13T03:00+07:00", code=2)
    assert out.strip() == f"error: {reason}"
    FakeApi.refuse = ApiRefused(409, "consult #1 is not the booked one (#2)")
    assert smo("consult", "cancel", "KH-1", "1", code=2).strip() == f"error: {FakeApi.refuse}"


def test_hours_are_shown_without_options_and_set_with_both() -> None:
    assert smo("consult", "hours", "KH-1").strip() == "KH-1: 08:00-21:00 Asia/Phnom_Penh"
    out = smo("consult", "hours", "KH-1", "--zone", "Asia/Bangkok", "--hours", "09:00-18:30")
    assert out.strip() == "KH-1: 09:00-18:30 Asia/Bangkok"
    assert FakeApi.calls == [
        ("GET", "/api/v1/cases/KH-1/consults/hours", None),
        ("POST", "/api/v1/cases/KH-1/consults/hours", {"zone": "Asia/Bangkok", "hours": "09:00-18:30"}),
    ]


def test_case_status_shows_the_booked_consult_at_the_desk_and_what_is_owed_and_awaited() -> None:
    out = smo("case", "status", "KH-1")
    assert "consult #2 booked: 2026-12-14 09:00 ICT (invitation sequence 1)" in out, out
    assert "outcome awaited (smo consult complete KH-1 --outcome ...)" in out
    assert "free rebookings owed: 1" in out
    assert "T02:00" not in out and "UTC" not in out
    assert json.loads(smo("case", "status", "KH-1", "--json"))["consult_at"] == "2026-12-14T02:00:00Z"


def test_case_status_leaves_out_what_is_not_so(capsys: pytest.CaptureFixture[str]) -> None:
    # No move yet, nothing owed, nothing asked; a server from before consults were numbered.
    fresh = {**BOOKED, "consult_sequence": 0, "consult_rebook_free": 0, "consult_outcome_asked": False}
    older = {k: v for k, v in fresh.items() if k not in {"consult_number", "consult_sequence"}}
    for status, line in [
        (fresh, "consult #2 booked: 2026-12-14 09:00 ICT"),
        (older, "consult booked: 2026-12-14 09:00 ICT"),
        ({**fresh, "consult_pending": False, "consult_at": None}, ""),
    ]:
        case_cli._print_consult(status)
        assert capsys.readouterr().out.strip() == line
