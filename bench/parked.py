"""Thousands of cases parked under review on one worker: what they cost it.

    python bench/parked.py --cases 2000 [--store memory|sqlite] [--concurrency 24]

Starts a headless dev server (in memory unless --store sqlite), the SMTP outbox and one
worker process (`python worker.py`, default settings unless SMO_WORKER_* are set). Opens N
cases and drives each to UNDER_REVIEW (records in, specialist assigned, the SLA timer
pending), then measures:

- parking: cases/s and the worker's CPU per parked case (from /proc, the worker alone);
- the worker's RSS with every case parked;
- `status` latency (client round trip) over 200 random parked cases: first touch, then the
  same 200 again (warm: in the sticky cache), then after a worker restart (cold: each query
  replays the case's history).

The last line is `cases=N parked_per_s=… worker_rss_mib=… warm_status_p99_ms=…
cold_status_p50_ms=… cold_status_p99_ms=…`.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from pathlib import Path

import stack
from stack import Stack, cpu_seconds, now, park, percentile, rss_mib, summary

import service as ops
from workflows.smo_case import SmoCaseWorkflow

SAMPLE = 200


async def status_latencies(st: Stack, case_ids: list[str]) -> list[float]:
    """Sequential `status` queries, one per case; milliseconds each."""
    out = []
    for case_id in case_ids:
        handle = ops.handle_for(st.client, case_id)
        start = now()
        await handle.query(SmoCaseWorkflow.status, rpc_timeout=timedelta(seconds=30))
        out.append((now() - start) * 1000)
    return out


async def main(cases: int, store: str, concurrency: int, seed: int, profile: Path | None) -> str:
    run = uuid.uuid4().hex[:6]
    async with stack.stack(store, cases) as st:
        print(st.describe())
        pid = st.worker.pid
        idle_rss = rss_mib(pid)
        assert st.server.process is not None
        server_pid = st.server.process.pid
        cpu0, server0, start = cpu_seconds(pid), cpu_seconds(server_pid), now()
        done = 0

        async def one(n: int) -> str:
            nonlocal done
            case_id = await park(st, n, run)
            done += 1
            if done % 500 == 0:
                print(f"  parked {done}/{cases} in {now() - start:.0f}s, worker RSS {rss_mib(pid):.0f} MiB")
            return case_id

        with stack.profiled(pid, profile and profile / "parking.txt"):
            ids = await stack.bounded([lambda n=n: one(n) for n in range(cases)], concurrency)
        wall, cpu = now() - start, cpu_seconds(pid) - cpu0
        server_cpu = cpu_seconds(server_pid) - server0
        await asyncio.sleep(2)  # let the last completions land
        parked_rss = rss_mib(pid)
        print(f"parked {cases} cases in {wall:.1f}s = {cases / wall:.2f} cases/s (concurrency {concurrency})")
        print(f"worker CPU: {cpu:.1f}s = {cpu / cases * 1000:.1f} ms per parked case")
        print(f"describe polls: {stack.FOLLOWING.describes / cases:.1f} per parked case")
        print(f"dev server CPU: {server_cpu:.1f}s = {server_cpu / cases * 1000:.1f} ms per parked case")
        print(f"worker RSS: {idle_rss:.0f} MiB idle, {parked_rss:.0f} MiB with {cases} parked")

        sample = random.Random(seed).sample(ids, min(SAMPLE, len(ids)))
        cpu0 = cpu_seconds(pid)
        first = await status_latencies(st, sample)
        first_cpu = (cpu_seconds(pid) - cpu0) / len(sample) * 1000
        warm = await status_latencies(st, sample)
        warm_rss = rss_mib(pid)
        print(f"status, first touch (ms): {summary(first)}; worker CPU {first_cpu:.1f} ms per query")
        print(f"status, warm (ms): {summary(warm)}; worker RSS after queries {warm_rss:.0f} MiB")

        await st.restart_worker()
        pid = st.worker.pid
        restarted_rss = rss_mib(pid)
        cpu0 = cpu_seconds(pid)
        with stack.profiled(pid, profile and profile / "cold-status.txt"):
            cold = await status_latencies(st, sample)
        cold_cpu = (cpu_seconds(pid) - cpu0) / len(sample) * 1000
        print(
            f"status, cold after restart (ms): {summary(cold)} (first three {[round(x) for x in cold[:3]]});"
            f" worker CPU {cold_cpu:.1f} ms per query;"
            f" RSS {restarted_rss:.0f} → {rss_mib(pid):.0f} MiB"
        )
        rss = max(parked_rss, warm_rss)
        return (
            f"cases={cases} parked_per_s={cases / wall:.2f} worker_rss_mib={rss:.0f}"
            f" worker_cpu_ms_per_case={cpu / cases * 1000:.1f}"
            f" warm_status_p99_ms={percentile(warm, 99):.1f} cold_status_p50_ms={percentile(cold, 50):.1f}"
            f" cold_status_p99_ms={percentile(cold, 99):.1f}"
        )


if __name__ == "__main__":
    parser = stack.arguments(__doc__)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(asyncio.run(main(args.cases, args.store, args.concurrency, args.seed, args.profile)))
