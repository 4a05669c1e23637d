"""Reads under load: the API's case status and case list and the member's case page, each beside
the web's own ceiling, in one run.

    python bench/load.py [--cases 300] [--seconds 60] [--store sqlite|memory] [--profile DIR]

Starts the pieces `smo dev` runs, as separate processes the way docker-compose runs them: the
Temporal dev server (a SQLite file unless --store memory), the SMTP outbox (in this process),
one worker (`python worker.py`) and `smo web`, in a temporary SMO_HOME on 127.0.0.1, over one
SQLite case DB. Opens N prudential-kh cases through the service layer (a distinct member each,
--open-concurrency at a time) and waits until each waits for its records (GATHERING_RECORDS,
nothing pending). Every member then signs in through the portal as a member does: the link
from their case-opened email, the form's CSRF token, their date of birth.

Then, for --seconds each, at concurrency 10 and then 50 (aiohttp's client in this process, each
client sending its next request as soon as the last is answered):

- ceiling: GET /health, the web's cheapest route (what the web and this client manage at all);
- status: GET /api/v1/cases/{id} with a coordinator's token, a random open case each time;
- list: GET /api/v1/cases?limit=50;
- portal: GET /portal/cases/{id}, a random member's own page with their session cookie.

It prints a table (successful answers per second, p50 and p99 latency over every answer,
req/s against the ceiling's at the same concurrency, errors: anything but a 200, and the cores
each process used, `other` being the rest of the machine) and last a line of key=value pairs,
each at concurrency 50: `cases=N status_rps=… status_p99_ms=… list_rps=… list_p99_ms=…
portal_rps=… portal_p99_ms=… ceiling_rps=… ceiling_p99_ms=… errors=…` (errors: all rows').
With --profile DIR, py-spy samples the worker and the web during every row.
"""

from __future__ import annotations

# First: stack puts the project root before bench/ on sys.path, where bench/calendar.py would
# shadow the standard library's `calendar` for aiohttp and everything after it.
import stack

# isort: split
import asyncio
import contextlib
import os
import random
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import date
from pathlib import Path

import aiohttp
from load_client import Meter, Row, Target, hammer, sign_in, sign_in_paths
from stack import Stack, bounded, intake, now, settled

import service as ops
from models.case import EligibilityFacts, Stage
from models.users import Role
from tests.reliability.harness import WorkerProcess, free_port, worker_env
from web.portal.signin import COOKIE
from web.tokens import TokenStore

SMO = Path(sys.executable).parent / "smo"
PROGRAM = "prudential-kh"
CONCURRENCY = (10, 50)
LABELS = {
    "ceiling": "ceiling (cheapest route)",
    "status": "case status (API)",
    "list": "case list, 50 a page (API)",
    "portal": "member's case page (portal)",
}
PROCESSES = ("server", "worker", "web", "load")


# ---- the stack: `smo web` beside the benchmarks' dev server and worker ----------------------------


@contextlib.asynccontextmanager
async def web_process(st: Stack, cases: int, processes: int) -> AsyncIterator[WorkerProcess]:
    """`smo web --processes N` on the settings' port, serving the same case DB, store and
    Temporal server (N processes sharing the port, one core each).

    One client address signs every member in, so the portal's flood guard per address (2,000
    requests in 5 minutes by default, two a sign-in) is raised for this run alone."""
    flood = str(max(2000, 4 * cases))
    env = worker_env(st.settings, SMO_WEB_PORT=str(st.settings.web_port), SMO_PORTAL_FLOOD_LIMIT=flood)
    env["SMO_LOG_LEVEL"] = "WARNING"
    args = ["web", "--processes", str(processes)]
    web = WorkerProcess(env, st.settings.home / "web.log", script=SMO, args=args)
    web.start()
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{st.settings.base_url}/health") as resp:
                        if resp.status == 200:
                            break
                if not web.running or loop.time() > end:
                    raise RuntimeError(f"smo web did not come up:\n{web.log_tail()}")
                await asyncio.sleep(0.2)
        yield web
    finally:
        web.kill()


# ---- cases and members ---------------------------------------------------------------------------


async def open_cases(st: Stack, count: int, run: str, concurrency: int) -> dict[str, date]:
    """Open `count` cases and wait until each waits for its records; each case's member's date
    of birth by case id."""

    async def one(n: int) -> tuple[str, date]:
        case_id = f"L{run}-{n:05d}"
        member = intake(n, run)
        await ops.open_case(
            st.client,
            st.settings,
            st.services.store,
            program=PROGRAM,
            intake=member,
            facts=EligibilityFacts(),
            opened_by="bench",
            case_id=case_id,
            wait=False,
        )
        await settled(ops.handle_for(st.client, case_id), Stage.GATHERING_RECORDS)
        return case_id, member.date_of_birth

    return dict(await bounded([lambda n=n: one(n) for n in range(count)], concurrency))


async def sign_in_members(st: Stack, members: Mapping[str, date], concurrency: int) -> dict[str, str]:
    """A portal session per case (its id by case id), signed in with the emailed link."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 120
    while len(paths := await asyncio.to_thread(sign_in_paths, st.settings.outbox_dir)) < len(members):
        if loop.time() > end:
            missing = len(set(members) - set(paths))
            raise RuntimeError(f"{missing} case(s) have no sign-in link in the outbox")
        await asyncio.sleep(0.5)
    base = st.settings.base_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def one(case_id: str) -> tuple[str, str]:
            return case_id, await sign_in(http, base, paths[case_id], members[case_id])

        return dict(await bounded([lambda c=c: one(c) for c in members], concurrency))


def targets(token: str, sessions: Mapping[str, str]) -> dict[str, Target]:
    """What each route asks for: status over random open cases, the portal over random members."""
    api = {"Authorization": f"Bearer {token}"}
    ids = sorted(sessions)
    cookies = {case_id: {"Cookie": f"{COOKIE}={sid}"} for case_id, sid in sessions.items()}

    def portal(rng: random.Random) -> tuple[str, Mapping[str, str]]:
        case_id = rng.choice(ids)
        return f"/portal/cases/{case_id}", cookies[case_id]

    return {
        "ceiling": lambda _rng: ("/health", {}),
        "status": lambda rng: (f"/api/v1/cases/{rng.choice(ids)}", api),
        "list": lambda _rng: ("/api/v1/cases?limit=50", api),
        "portal": portal,
    }


async def check_routes(base: str, routes: Mapping[str, Target]) -> None:
    """One request of each route answers 200 before any is measured, else the run stops there."""
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.DummyCookieJar()) as http:
        for name, target in routes.items():
            path, headers = target(random.Random(0))
            async with http.get(path, headers=headers, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{name} answered {resp.status}: {(await resp.text())[:300]}")


# ---- the report ------------------------------------------------------------------------------------


def ms(value: float) -> str:
    if value < 1:
        return f"{value:.2f} ms"
    return f"{value:,.1f} ms" if value < 10 else f"{value:,.0f} ms"


def table(rows: list[Row]) -> str:
    """The issue's table, with where the CPU went: the cores each process used during the row,
    and the CPU the service's three processes spent per successful answer."""
    ceiling = {r.concurrency: r.rps for r in rows if r.route == "ceiling"}
    cores = " / ".join([*PROCESSES, "other"])
    served = " / ".join(PROCESSES[:3])
    lines = [
        f"| route | concurrency | req/s | p50 | p99 | against the ceiling | errors | cores: {cores}"
        f" | CPU per answer: {served} |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = "1" if r.route == "ceiling" else f"{r.rps / ceiling[r.concurrency]:.3f}"
        errors = ", ".join(f"{n} × {why}" for why, n in r.errors.most_common()) or "0"
        used = " / ".join(f"{c:.2f}" for c in r.cores)
        each = " / ".join(ms(c / r.rps * 1000) if r.rps else "-" for c in r.cores[:3])
        lines.append(
            f"| {LABELS[r.route]} | {r.concurrency} | {r.rps:,.0f} | {ms(r.p(50))} | {ms(r.p(99))}"
            f" | {ratio} | {errors} | {used} | {each} |"
        )
    return "\n".join(lines)


def last_line(cases: int, rows: list[Row]) -> str:
    at50 = {r.route: r for r in rows if r.concurrency == 50}
    pairs = [f"cases={cases}"]
    for route in ("status", "list", "portal", "ceiling"):
        row = at50[route]
        pairs += [f"{route}_rps={row.rps:.1f}", f"{route}_p99_ms={row.p(99):.1f}"]
    pairs.append(f"errors={sum(r.failed for r in rows)}")
    return " ".join(pairs)


def machine() -> str:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in ln
        ),
        "?",
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"{os.cpu_count()} cores ({model}), load average {load}"


# ---- the run ---------------------------------------------------------------------------------------


async def main(
    cases: int,
    seconds: float,
    store: str,
    open_concurrency: int,
    seed: int,
    profile: Path | None,
    web_processes: int,
) -> str:
    run = uuid.uuid4().hex[:6]
    web_port = str(free_port())
    async with (
        stack.stack(store, cases, worker_extra={"SMO_WEB_PORT": web_port}) as st,
        web_process(st, cases, web_processes) as web,
    ):
        print(st.describe())
        print(f"web: {web_processes} process(es) on one port")
        print(f"machine: {machine()}")
        start = now()
        members = await open_cases(st, cases, run, open_concurrency)
        print(f"opened {cases} cases in {now() - start:.1f}s ({cases / (now() - start):.1f} cases/s)")
        start = now()
        sessions = await sign_in_members(st, members, 10)
        print(f"signed {len(sessions)} members in through the portal in {now() - start:.1f}s")
        token = await asyncio.to_thread(TokenStore(st.services.engine).add, "bench-desk", Role.COORDINATOR)
        routes = targets(token, sessions)
        base = st.settings.base_url
        await check_routes(base, routes)
        assert st.server.process is not None
        pids = dict(zip(PROCESSES, (st.server.process.pid, st.worker.pid, web.pid, os.getpid()), strict=True))
        meter = Meter(pids)
        rows: list[Row] = []
        for n, (route, target) in enumerate(routes.items()):
            for concurrency in CONCURRENCY:
                with profiled(profile, pids, f"{route}-{concurrency}"):
                    row = await hammer(
                        base,
                        route,
                        target,
                        concurrency=concurrency,
                        seconds=seconds,
                        meter=meter,
                        seed=seed + n,
                    )
                rows.append(row)
                done = f"{row.rps:,.0f} req/s, p99 {ms(row.p(99))}, {row.failed} errors"
                print(f"  {route} at {concurrency}: {done}")
        print(f"machine after: {machine()}")
        print(table(rows))
        return last_line(cases, rows)


@contextlib.contextmanager
def profiled(folder: Path | None, pids: Mapping[str, int], what: str) -> Iterator[None]:
    """py-spy on the worker and the web while one row runs (nothing without --profile)."""
    with contextlib.ExitStack() as exits:
        if folder is not None:
            for name in ("worker", "web"):
                exits.enter_context(stack.profiled(pids[name], folder / f"{name}-{what}.txt"))
        yield


if __name__ == "__main__":
    parser = stack.arguments(__doc__)
    parser.set_defaults(store="sqlite")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each row runs")
    parser.add_argument("--open-concurrency", type=int, default=32, help="cases opened at a time")
    parser.add_argument("--seed", type=int, default=29)
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--web-processes", type=int, default=cores, help=f"`smo web --processes` (default {cores}: the cores)"
    )
    args = parser.parse_args()
    if args.cases < 1 or args.seconds <= 0:
        raise SystemExit("error: --cases and --seconds must be positive")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(
        asyncio.run(
            main(
                args.cases,
                args.seconds,
                args.store,
                args.open_concurrency,
                args.seed,
                args.profile,
                args.web_processes,
            )
        )
    )
