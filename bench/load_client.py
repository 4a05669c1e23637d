"""The client side of bench/load.py: members signed in through HTTP, one route hammered at one
concurrency for a fixed time, and where the machine's CPU went meanwhile.

The load generator is the benchmark's own process (aiohttp's client, one event loop), so it
shares the two cores with what it measures; the ceiling row measures the pair of them.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp
from stack import CLOCK_TICKS, cpu_seconds, percentile

from runtime.outbox import read_outbox
from web.portal.signin import COOKIE

# What a case-opened email carries, as tests/portal/conftest.py finds it.
SIGN_IN_PATH = re.compile(r"/portal/signin/[A-Za-z0-9_-]{43}")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')

# One request of a route: its path and headers, chosen with the row's random generator.
Target = Callable[[random.Random], tuple[str, Mapping[str, str]]]


# ---- members, signed in as a member does it ---------------------------------------------------


def sign_in_paths(outbox_dir: Path) -> dict[str, str]:
    """Per case, the newest sign-in path that the outbox received for its member."""
    paths: dict[str, str] = {}
    for msg in read_outbox(outbox_dir):
        case_id, body = msg.get("X-SMO-Case-Id"), msg.get_body(("plain",))
        found = SIGN_IN_PATH.findall(str(body.get_content())) if case_id and body is not None else []
        if found:
            paths[str(case_id)] = found[-1]
    return paths


async def sign_in(http: aiohttp.ClientSession, base: str, path: str, dob: date) -> str:
    """Open the emailed link, post the date of birth with the form's CSRF token, and return the
    session id the portal set (its cookie is Secure outside `smo dev`, so it is read, not kept
    in a jar, and sent by hand with each page)."""
    async with http.get(base + path) as resp:
        page = await resp.text()
        if resp.status != 200:
            raise RuntimeError(f"the sign-in form answered {resp.status}")
    match = CSRF.search(page)
    if match is None:
        raise RuntimeError("the sign-in form has no CSRF token")
    form = {
        "csrf": match.group(1),
        "date_of_birth_day": str(dob.day),
        "date_of_birth_month": str(dob.month),
        "date_of_birth_year": str(dob.year),
    }
    async with http.post(base + path, data=form, allow_redirects=False) as resp:
        morsel = resp.cookies.get(COOKIE)
        if resp.status != 303 or morsel is None:
            raise RuntimeError(f"the sign-in answered {resp.status} without a session")
        return morsel.value


# ---- where the CPU went --------------------------------------------------------------------------


def machine_busy() -> float:
    """CPU seconds every core of the machine has spent busy so far (all processes, /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """A process's CPU seconds with its children's (`smo web --processes N` supervises N)."""
    total = cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:  # its parent
            total += cpu_seconds(int(stat.parent.name))
    return total


@dataclass(frozen=True)
class Reading:
    at: float
    processes: tuple[float, ...]
    machine: float


class Meter:
    """The cores each named process used between two readings, and the rest of the machine's
    (another test run on the same host shows up as `other`)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.names = [*pids, "other"]
        self.pids = list(pids.values())

    def read(self) -> Reading:
        return Reading(time.perf_counter(), tuple(tree_cpu_seconds(p) for p in self.pids), machine_busy())

    def cores(self, start: Reading, end: Reading) -> list[float]:
        wall = end.at - start.at
        used = [(b - a) / wall for a, b in zip(start.processes, end.processes, strict=True)]
        return [*used, max(0.0, (end.machine - start.machine) / wall - sum(used))]


# ---- one row: a route at one concurrency -----------------------------------------------------------


@dataclass
class Row:
    route: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)  # every answered request, errors too
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # by status code or exception type
    wall: float = 0.0
    cores: Sequence[float] = ()

    @property
    def rps(self) -> float:
        """Successful answers per second of the row."""
        return self.ok / self.wall if self.wall else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q) if self.latencies_ms else float("nan")


async def hammer(
    base: str, route: str, target: Target, *, concurrency: int, seconds: float, meter: Meter, seed: int
) -> Row:
    """`concurrency` clients, each sending its next request as soon as the last is answered, for
    `seconds`; a request under way at the end is waited for and counted. Anything but a 200 is
    an error."""
    row = Row(route, concurrency)
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        base, connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def client() -> None:
            while loop.time() < end:
                path, headers = target(rng)
                start = time.perf_counter()
                try:
                    async with http.get(path, headers=headers, allow_redirects=False) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    row.errors[type(exc).__name__] += 1
                    continue
                row.latencies_ms.append((time.perf_counter() - start) * 1000)
                if status == 200:
                    row.ok += 1
                else:
                    row.errors[str(status)] += 1

        before = meter.read()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        after = meter.read()
    row.wall = after.at - before.at
    row.cores = meter.cores(before, after)
    return row
