"""The sticky cache is sized from the worker's memory budget (`SMO_WORKER_MEMORY_MB`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.settings import Settings
from worker import CACHED_CASE_MIB, IDLE_WORKER_MIB, MIN_CACHED, sticky_cache_size


def test_the_default_budget_caches_what_fits_in_300_mib_by_the_measured_cost_model() -> None:
    settings = Settings(_env_file=None)
    cached = sticky_cache_size(settings.worker_memory_mb, sandbox=settings.worker_sandbox)
    assert 100 <= cached <= 1000
    assert IDLE_WORKER_MIB + cached * CACHED_CASE_MIB[settings.worker_sandbox] <= 300


def test_a_bigger_budget_caches_more_and_processes_share_it() -> None:
    assert sticky_cache_size(1024) > sticky_cache_size(512) > sticky_cache_size(256)
    assert sticky_cache_size(1024, processes=2) == sticky_cache_size(512)


def test_the_sandboxed_runner_costs_more_per_cached_case_so_it_caches_fewer() -> None:
    assert sticky_cache_size(512, sandbox="full") < sticky_cache_size(512, sandbox="off")


def test_a_budget_below_an_idle_worker_still_caches_a_few_cases() -> None:
    assert sticky_cache_size(64) == MIN_CACHED


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SMO_WORKER_MEMORY_MB", "12"), ("SMO_WORKER_SANDBOX", "none"), ("SMO_WORKER_PROCESSES", "0")],
)
def test_a_worker_setting_out_of_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("SMO_").lower()):
        Settings(_env_file=None)
