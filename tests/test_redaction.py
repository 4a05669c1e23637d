"""Scenarios for the PHI-redacting structlog processor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from pydantic import BaseModel
from structlog.testing import CapturingLogger

from security.redaction import (
    REDACTED,
    PhiRedactor,
    clear_phi,
    phi_scope,
    redact_phi,
    register_phi,
    scrub_text,
)


@pytest.fixture(autouse=True)
def _fresh_phi() -> Iterator[None]:
    clear_phi()
    yield
    clear_phi()


def _run(**event: Any) -> dict[str, Any]:
    return dict(redact_phi(None, "info", event))


def test_phi_keys_are_redacted_case_insensitively() -> None:
    out = _run(
        event="case loaded",
        patient_name="Marguerite Fictional",
        Diagnosis="sarcoidosis",
        DOB="1961-04-02",
        to="m.fictional@example.org",
        **{"E-Mail": "x@example.org", "referrer_phone": "+44 20 7946 0018"},
        case_id="case-0001",
        attempt=3,
    )
    assert out["patient_name"] == REDACTED
    assert out["Diagnosis"] == REDACTED
    assert out["DOB"] == REDACTED
    assert out["to"] == REDACTED
    assert out["E-Mail"] == REDACTED
    assert out["referrer_phone"] == REDACTED
    assert out["case_id"] == "case-0001"
    assert out["attempt"] == 3
    assert out["event"] == "case loaded"


def test_operational_names_are_kept() -> None:
    out = _run(event="x", workflow_name="SecondOpinion", task_queue_name="smo")
    assert out["workflow_name"] == "SecondOpinion"
    assert out["task_queue_name"] == "smo"


def test_nested_dicts_and_lists_are_redacted() -> None:
    out = _run(
        event="payload",
        case={
            "id": "case-1",
            "patient": {"first_name": "Ada", "last_name": "Example"},
            "contacts": [{"email": "a@example.org", "role": "patient"}],
            "history": ("call +33 6 12 34 56 78", 5),
        },
    )
    case = out["case"]
    assert case["id"] == "case-1"
    assert case["patient"] == REDACTED
    assert case["contacts"] == [{"email": REDACTED, "role": "patient"}]
    assert case["history"] == [f"call {REDACTED}", 5]


def test_emails_in_messages_are_masked() -> None:
    out = _run(event="sent report to jane.doe+smo@example.co.uk, cc <bob@clinic.org>")
    assert out["event"] == f"sent report to {REDACTED}, cc <{REDACTED}>"


@pytest.mark.parametrize(
    "number",
    [
        "+33 6 12 34 56 78",
        "+1-555-123-4567",
        "+49 (30) 1234 5678",
        "0049 30 12345678",
        "(030) 1234-5678",
        "555-123-4567",
        "0612345678",
        "020.7946.0018",
    ],
)
def test_phone_numbers_in_messages_are_masked(number: str) -> None:
    assert scrub_text(f"callback {number} today") == f"callback {REDACTED} today"


@pytest.mark.parametrize(
    "text",
    [
        "at 2025-03-10T09:00:00.123456Z",
        "at 2025-03-10 09:00:00",
        "run 12345678-1234-5678-9abc-def012345678",
        "peer 192.168.100.200:7233",
        "took 0.123456789s, wrote 10485760 bytes, epoch 1741597200",
        "temporalio 1.35.0, case SMO-2025-000123",
        "short 123-456",
    ],
)
def test_operational_numbers_are_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_birth_dates_tagged_in_text_are_masked_but_other_dates_kept() -> None:
    text = (
        "dob: 1961-04-02, Date of birth=02.04.1961, born on 1961-04-02, "
        "birth_date='1961-04-02'; received 2025-03-10"
    )
    assert scrub_text(text) == (
        f"dob: {REDACTED}, Date of birth={REDACTED}, born on {REDACTED}, "
        f"birth_date='{REDACTED}'; received 2025-03-10"
    )


def test_registered_phi_is_masked_everywhere_in_the_line() -> None:
    register_phi("Marguerite Fictional", "pulmonary sarcoidosis", "", "ab", 42)
    out = _run(
        event="Opinion for MARGUERITE  FICTIONAL drafted",
        summary={"text": "findings consistent with pulmonary sarcoidosis"},
        tags=["Marguerite Fictional"],
    )
    assert out["event"] == f"Opinion for {REDACTED} drafted"
    assert out["summary"] == {"text": f"findings consistent with {REDACTED}"}
    assert out["tags"] == [REDACTED]
    # Too-short and non-string values are ignored rather than masking noise.
    assert _run(event="ab 42")["event"] == "ab 42"

    clear_phi()
    assert _run(event="Marguerite Fictional")["event"] == "Marguerite Fictional"


@pytest.mark.asyncio
async def test_registered_phi_stays_within_its_task() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def activity() -> str:
        register_phi("Ada Example")
        started.set()
        await release.wait()
        return str(_run(event="loaded Ada Example")["event"])

    task = asyncio.create_task(activity())
    await started.wait()
    # The sibling/parent context never saw the registration.
    assert _run(event="Ada Example")["event"] == "Ada Example"
    release.set()
    assert await task == f"loaded {REDACTED}"


def test_phi_scope_restores_previous_values() -> None:
    register_phi("Outer Name")
    with phi_scope("Inner Name"):
        assert scrub_text("Inner Name / Outer Name") == f"{REDACTED} / {REDACTED}"
    assert scrub_text("Inner Name / Outer Name") == f"Inner Name / {REDACTED}"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


@dataclass
class Referral:
    patient_name: str
    specialty: str


class Patient(BaseModel):
    full_name: str
    email: str
    case_id: str


def test_odd_values_never_crash_and_are_scrubbed() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    out = _run(
        event="odd",
        raw=b"from a@example.org \xff",
        obj=Unprintable(),
        error=ValueError("no such patient a@example.org"),
        referral=Referral("Ada Example", "cardiology"),
        patient=Patient(full_name="Ada", email="a@example.org", case_id="c1"),
        model=Patient(full_name="Ada", email="a@example.org", case_id="c1"),
        cyclic=cyclic,
        flag=True,
        missing=None,
        ratio=0.5,
        nested={1: "x", ("t",): "y"},
    )
    assert out["raw"] == f"from {REDACTED} \ufffd"
    assert out["obj"] == "<unprintable Unprintable>"
    assert out["error"] == f"ValueError: no such patient {REDACTED}"
    assert out["referral"] == {"patient_name": REDACTED, "specialty": "cardiology"}
    assert out["patient"] == REDACTED
    assert out["model"] == {"full_name": REDACTED, "email": REDACTED, "case_id": "c1"}
    assert "[TRUNCATED]" in json.dumps(out["cyclic"])
    assert (out["flag"], out["missing"], out["ratio"]) == (True, None, 0.5)
    assert out["nested"] == {1: "x", "('t',)": "y"}


def test_processor_fails_closed_if_something_unexpected_breaks() -> None:
    class Exploding(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("boom")

    out = redact_phi(None, "info", Exploding(event="x", level="info"))
    assert out == {
        "event": REDACTED,
        "level": "info",
        "redaction_error": "RuntimeError",
    }


def test_extra_keys_can_be_declared() -> None:
    redactor = PhiRedactor(extra_keys=["Referring-Physician"])
    out = redactor(None, "info", {"event": "x", "referring_physician": "Dr Who"})
    assert out["referring_physician"] == REDACTED
    assert redactor(None, "info", {"nested": {"REFERRING_PHYSICIAN": "Dr Who"}})[
        "nested"
    ] == {"REFERRING_PHYSICIAN": REDACTED}


def test_real_structlog_pipeline_renders_no_phi() -> None:
    capture = CapturingLogger()
    log = structlog.wrap_logger(
        capture,
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            redact_phi,
            structlog.processors.JSONRenderer(),
        ],
    )
    register_phi("Marguerite Fictional")
    log = log.bind(case_id="case-0001", patient_name="Marguerite Fictional")
    log.info("notified Marguerite Fictional at +41 44 668 18 00", email="m@example.ch")
    try:
        raise LookupError("record for m@example.ch / Marguerite Fictional missing")
    except LookupError:
        log.exception("lookup failed")

    lines = [json.loads(call.args[0]) for call in capture.calls]
    rendered = "\n".join(call.args[0] for call in capture.calls)
    assert "Marguerite" not in rendered
    assert "example.ch" not in rendered
    assert "668 18 00" not in rendered
    first, second = lines
    assert first["event"] == f"notified {REDACTED} at {REDACTED}"
    assert first["case_id"] == "case-0001"
    assert first["level"] == "info"
    assert first["timestamp"].startswith("20")
    assert second["level"] == "error"
    assert "LookupError" in second["exception"]
    assert "exc_info" not in second
