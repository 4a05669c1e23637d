"""The opinion through the API: the member's summary and answers and the outcome first
(`POST /opinion`), then the report. A case whose member asked two questions refuses an opinion
or a report without both answers; what an attacker sends is a 4xx that stores nothing."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.api.conftest import LiveApi
from tests.api.test_api_edges import stored
from tests.polling import eventually

C = "/api/v1/cases/{}"
OUTCOME = {"diagnosis": "confirmed", "treatment": "changed", "surgery_avoided": False}


async def under_review(live_api: LiveApi, token: str, case_id: str) -> str:
    await live_api.open_case(token, case_id, questions=["Is surgery needed now?", "Can I keep working?"])
    for record_type in (
        "operative_report",
        "biopsy_report",
        "discharge_summary",
        "treatment_plan",
        "consent",
    ):
        form = aiohttp.FormData()
        form.add_field("file", f"synthetic {record_type}".encode(), filename=f"{record_type}.pdf")
        path = "/consent" if record_type == "consent" else f"/records?record_type={record_type}"
        code, body, _ = await live_api.call("POST", C.format(case_id) + path, token, data=form)
        assert code == 200, body
    code, body, _ = await live_api.call("POST", C.format(case_id) + "/records/complete", token, json={})
    assert code == 200, body

    async def reviewing() -> dict[str, Any]:
        return (await live_api.call("GET", C.format(case_id), token))[1]  # type: ignore[no-any-return]

    status = await eventually(reviewing, lambda s: s["stage"] == "UNDER_REVIEW" and s["specialist_id"])
    return str(status["specialist_id"])


async def test_an_opinion_answers_each_question_before_the_report_and_bad_ones_store_nothing(
    live_api: LiveApi,
) -> None:
    desk = live_api.token("opinion-desk")
    specialist = await under_review(live_api, desk, "OPINION-API-1")
    path = C.format("OPINION-API-1")
    before = stored(live_api)
    for body, status, words in (
        (
            {"specialist_id": specialist, "summary": "Fine.", "answers": ["Yes."], "outcome": OUTCOME},
            409,
            "no answer to question 2",
        ),
        (
            {"specialist_id": "SP-NOBODY", "summary": "Fine.", "answers": ["a", "b"]},
            409,
            "not the assigned specialist",
        ),
        ({"specialist_id": specialist, "answers": ["a", "b", "c", "d", "e", "f"]}, 422, "body.answers"),
        (
            {"specialist_id": specialist, "outcome": {"diagnosis": "better", "treatment": "changed"}},
            422,
            "body.outcome",
        ),
        ({"specialist_id": specialist, "summary": "x", "by": "supervisor:root"}, 422, "body"),
    ):
        code, answer, _ = await live_api.call("POST", path + "/opinion", desk, json=body)
        assert code == status and words in answer["error"], answer
    assert stored(live_api) == before
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 report", filename="report.pdf")
    code, answer, _ = await live_api.call(
        "POST", path + f"/report?specialist_id={specialist}", desk, data=form
    )
    assert code == 409 and "no answer to question 1, 2" in answer["error"], answer

    body = {
        "specialist_id": specialist,
        "summary": "Fine.",
        "answers": ["Not now.", "Yes."],
        "outcome": OUTCOME,
    }
    code, answer, _ = await live_api.call("POST", path + "/opinion", desk, json=body)
    assert code == 200, answer
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 report", filename="report.pdf")
    code, answer, _ = await live_api.call(
        "POST", path + f"/report?specialist_id={specialist}", desk, data=form
    )
    assert code == 200 and answer["detail"] == "report accepted", answer
    _, status, _ = await live_api.call("GET", path, desk)
    assert status["opinion"]["answers"] == 2 and status["opinion"]["outcome"] == OUTCOME
    assert "Not now." not in str(status)  # the member's words stay in the encrypted sheet


@pytest.mark.parametrize("answers", [[""], ["  "]], ids=["empty", "blank"])
async def test_an_empty_answer_is_refused(live_api: LiveApi, answers: list[str]) -> None:
    desk = live_api.token("empty-desk")
    await live_api.open_case(desk, "OPINION-API-2")
    body = {"specialist_id": "SP-ONC-001", "answers": answers}
    code, answer, _ = await live_api.call("POST", C.format("OPINION-API-2") + "/opinion", desk, json=body)
    assert code == 422 and "body.answers" in answer["error"], answer
