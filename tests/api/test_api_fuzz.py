"""Schemathesis against the API's own OpenAPI document: no request it generates is a 5xx.

The service is the real one (dev server, worker, store); the fuzzer's requests run in a
thread so the service keeps serving on the test's event loop. Tokens of both roles are
drawn, and half the case ids are swapped for a real case, so the role checks, the input
validation and the case's own validators are all reached.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.users import Role
from tests.api.conftest import LiveApi

EXAMPLES = 600
REAL_CASE = "FUZZ-1"


def fuzz(url: str, doc: dict[str, Any], tokens: list[str]) -> tuple[Counter[int], list[str]]:
    schema = schemathesis.openapi.from_dict(doc)
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(), token=st.sampled_from(tokens), real_case=st.booleans())
    def one(case: Any, token: str, real_case: bool) -> None:
        if real_case and case.path_parameters and "case_id" in case.path_parameters:
            case.path_parameters["case_id"] = REAL_CASE  # reach the handlers, not only the 404
        response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )
        assert "Traceback" not in response.text

    one()
    return statuses, failures


async def test_schemathesis_finds_no_server_error_in_500_generated_requests(live_api: LiveApi) -> None:
    tokens = [live_api.token("fuzz-coord"), live_api.token("fuzz-sup", Role.SUPERVISOR)]
    await live_api.open_case(tokens[0], REAL_CASE)
    status, doc, _ = await live_api.call("GET", "/openapi.json")
    assert status == 200
    started = time.monotonic()
    statuses, failures = await asyncio.to_thread(fuzz, live_api.url, doc, tokens)
    total = sum(statuses.values())
    took = time.monotonic() - started
    print(f"\nAPI fuzzing: {total} requests in {took:.1f}s; statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:10])
    assert total >= 500
