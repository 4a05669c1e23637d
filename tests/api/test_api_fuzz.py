"""Schemathesis against the API's own OpenAPI document: no request is a 5xx, and none the
document allows is refused as invalid.

The service is the real one (dev server, worker, store); the fuzzer's requests run in a
thread so the service keeps serving on the test's event loop. Tokens of both roles are
drawn, and half the case ids are swapped for a real case, so the role checks, the input
validation and the case's own validators are all reached. Three runs, each bounded in
examples so the suite stays fast:

- requests drawn from the document, valid ones and (fewer) invalid ones: a valid one is
  never answered 400, 415 or 422 (the document states every limit the server enforces);
- stateful: the document's links lead from an opened case to the calls on it, so sequences
  open a case, then read and change that case;
- JSON bodies nested from just under the server's depth limit to thousands deep, to every
  endpoint that takes a JSON body: each is a 4xx.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode

from models.users import Role
from tests.api.conftest import LiveApi
from web.api.routes import ROUTES
from web.json_body import MAX_JSON_DEPTH

EXAMPLES = 500  # valid requests
INVALID_EXAMPLES = 150
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 6
NESTED_EXAMPLES = 80
REAL_CASE = "FUZZ-1"
# What only an invalid request may get: a request the document allows is never one of these.
INVALID = frozenset({400, 415, 422})
JSON_ROUTES = [r for r in ROUTES if r.body is not None]

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


class Findings:
    """Statuses seen and problems found, across the fuzzer's threads' requests."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []

    def record(self, what: str, status: int, text: str, *, valid: bool) -> None:
        self.statuses[status] += 1
        if status >= 500 or "Traceback" in text:
            self.failures.append(f"{what} -> {status}: {text[:300]}")
        elif valid and status in INVALID:
            self.failures.append(f"{what} is valid by the document, but -> {status}: {text[:300]}")

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def sessions(run: Callable[[], None], most: int = 3) -> None:
    """Run a fuzzing session, and a fresh one if the server's state made hypothesis' replay differ.

    What is drawn next can depend on what the server answered (the cases opened, the links
    followed), so hypothesis may meet a choice it has seen draw a boolean drawing an integer
    now; schemathesis' own runner then goes on in a fresh session, and so does this.
    """
    for attempt in range(most):
        try:
            run()
            return
        except FlakyStrategyDefinition:
            if attempt == most - 1:
                raise


def drawn_requests(url: str, doc: dict[str, Any], tokens: list[str], found: Findings) -> None:
    """Valid and invalid requests drawn from the document, one operation at a time."""
    schema = schemathesis.openapi.from_dict(doc)

    def run(mode: GenerationMode, examples: int) -> None:
        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(
            case=schema.as_strategy(generation_mode=mode), token=st.sampled_from(tokens), real=st.booleans()
        )
        def one(case: Any, token: str, real: bool) -> None:
            if real and case.path_parameters and "case_id" in case.path_parameters:
                case.path_parameters["case_id"] = REAL_CASE  # reach the handlers, not only the 404
            response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            what = f"{case.method} {case.formatted_path} ({mode.value})"
            # A request drawn as invalid may still be valid (the fuzzer cannot always break one).
            found.record(what, response.status_code, response.text, valid=mode.is_positive)

        sessions(one)

    run(GenerationMode.POSITIVE, EXAMPLES)
    run(GenerationMode.NEGATIVE, INVALID_EXAMPLES)


def stateful(url: str, doc: dict[str, Any], token: str, found: Findings) -> int:
    """Sequences that follow the document's links from an opened case; returns the linked steps."""
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.update(base_url=url, headers={"Authorization": f"Bearer {token}"})
    opened: set[str] = set()
    linked: Counter[str] = Counter()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "headers": {"Authorization": f"Bearer {token}"}, "timeout": 60}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            meta = case.meta
            valid = meta is None or meta.generation.mode.is_positive
            if case.path == "/api/v1/cases" and response.status_code == 201:
                opened.add(response.json()["case_id"])
            elif (case.path_parameters or {}).get("case_id") in opened:
                linked[f"{case.method} {case.path}"] += 1  # a call on a case the sequence opened
            what = f"{case.method} {case.formatted_path} (stateful)"
            found.record(what, response.status_code, response.text, valid=valid)

    limits = settings(FUZZ_SETTINGS, max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS)
    sessions(lambda: Sequences.run(settings=limits))
    return sum(linked.values())


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    """A JSON text nested `depth` deep in arrays, objects or both, around a small leaf."""
    depth = draw(st.integers(min_value=MAX_JSON_DEPTH - 2, max_value=3000))
    kinds = draw(st.lists(st.sampled_from(["[", "{"]), min_size=1, max_size=4))
    key = draw(st.sampled_from(["program", "details", "reason", "facts", "x"]))
    leaf = draw(st.sampled_from(["1", '"x"', "null", "[]", "{}", '"[[[{"']))
    opens, closes = [], []
    for level in range(depth):
        if kinds[level % len(kinds)] == "[":
            opens.append("[")
            closes.append("]")
        else:
            opens.append(f'{{"{key}": ')
            closes.append("}")
    return ("".join(opens) + leaf + "".join(reversed(closes))).encode()


def nested_bodies(url: str, tokens: dict[Role, str], found: Findings) -> None:
    @settings(FUZZ_SETTINGS, max_examples=NESTED_EXAMPLES)
    @given(route=st.sampled_from(JSON_ROUTES), body=deep_json())
    def one(route: Any, body: bytes) -> None:
        token = tokens[Role.COORDINATOR if Role.COORDINATOR in route.roles else Role.SUPERVISOR]
        response = requests.request(
            route.method,
            url + route.path.replace("{case_id}", REAL_CASE),
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
        )
        what = f"{route.method} {route.path} (nested JSON, {len(body)} bytes)"
        found.record(what, response.status_code, response.text, valid=False)
        assert 400 <= response.status_code < 500, f"{what} -> {response.status_code}"

    sessions(one)


async def test_schemathesis_finds_no_server_error_and_no_valid_request_refused(live_api: LiveApi) -> None:
    tokens = {
        Role.COORDINATOR: live_api.token("fuzz-coord"),
        Role.SUPERVISOR: live_api.token("fuzz-sup", Role.SUPERVISOR),
    }
    await live_api.open_case(tokens[Role.COORDINATOR], REAL_CASE)
    status, doc, _ = await live_api.call("GET", "/openapi.json")
    assert status == 200
    found = Findings()
    started = time.monotonic()
    await asyncio.to_thread(drawn_requests, live_api.url, doc, list(tokens.values()), found)
    drawn, took = found.total, time.monotonic() - started
    linked = await asyncio.to_thread(stateful, live_api.url, doc, tokens[Role.COORDINATOR], found)
    sequences = found.total - drawn
    await asyncio.to_thread(nested_bodies, live_api.url, tokens, found)
    print(
        f"\nAPI fuzzing: {found.total} requests in {time.monotonic() - started:.1f}s"
        f" ({drawn} drawn in {took:.1f}s, {sequences} in sequences of which {linked} on a case they"
        f" opened, {found.total - drawn - sequences} nested bodies);"
        f" statuses {dict(sorted(found.statuses.items()))}"
    )
    assert not found.failures, "\n".join(found.failures[:10])
    assert drawn >= EXAMPLES and linked > 0
