"""Wall time of the `smo` commands a coordinator types, beside `temporal workflow describe`.

    python bench/cli.py [--repeat 5] [--store memory|sqlite]

Starts a headless dev server (in memory unless --store sqlite), the outbox, a worker and the
service's API (the CLI is its client: `SMO_API_URL`, and a coordinator's `SMO_TOKEN`), parks
one case under review, then times each command as a fresh process (what a person waits
for: interpreter start, imports, the RPCs), `--repeat` times, and prints the median.
The last line is `smo_help_s=… smo_sla_due_s=… smo_case_status_s=… temporal_describe_s=…`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import stack
from aiohttp import web
from stack import now, park

from models.users import Role
from tests.conftest import free_port
from web.server import service_app
from web.tokens import TokenStore


def timed(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        start = now()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        times.append(now() - start)
        if done.returncode != 0:
            raise SystemExit(f"error: {' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return statistics.median(times)


@contextlib.asynccontextmanager
async def api(st: stack.Stack) -> AsyncIterator[dict[str, str]]:
    """The service's API on a free port, and the environment of a coordinator who uses it."""
    runner = web.AppRunner(service_app(st.settings, st.services, dev=True), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    token = await asyncio.to_thread(TokenStore(st.services.engine).add, "bench-coordinator", Role.COORDINATOR)
    try:
        yield os.environ | {"SMO_API_URL": f"http://127.0.0.1:{port}", "SMO_TOKEN": token}
    finally:
        await runner.cleanup()


async def main(repeat: int, store: str) -> str:
    async with stack.stack(store, 1) as st, api(st) as env:
        print(st.describe())
        case_id = await park(st, 0, uuid.uuid4().hex[:6])
        smo = str(Path(sys.executable).parent / "smo")
        temporal = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
        commands = {
            "smo_help_s": [smo, "--help"],
            "smo_sla_due_s": [
                smo, "sla", "due", "--received", "2026-12-01T10:00:00+07:00", "--working-days", "10",
            ],
            "smo_case_status_s": [smo, "case", "status", case_id],
            "temporal_describe_s": [
                temporal, "workflow", "describe", "--workflow-id", f"smo-{case_id}",
                "--address", st.settings.temporal_address,
            ],
        }  # fmt: skip
        figures = {}
        for key, cmd in commands.items():
            figures[key] = await asyncio.to_thread(timed, cmd, repeat, env)
            print(f"{Path(cmd[0]).name} {' '.join(cmd[1:4])}: median {figures[key]:.2f}s of {repeat}")
        return " ".join(f"{k}={v:.2f}" for k, v in figures.items())


if __name__ == "__main__":
    parser = stack.arguments(__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(asyncio.run(main(args.repeat, args.store)))
