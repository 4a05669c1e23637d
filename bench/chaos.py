"""Chaos: N cases at once while the worker process is killed (SIGKILL) and restarted at random.

    python bench/chaos.py --cases 20

Starts its own headless dev server (SQLite file), SMTP outbox and worker process
(`python worker.py`) in a temporary SMO_HOME, all on 127.0.0.1. Every case runs the whole
way through `service` like `starter.demo.run_demo` (a distinct patient each, so one SMO
per condition never refuses one): records, review, report, a free consult, a billed consult,
close. Meanwhile the worker is SIGKILLed every 1-3 s (up to --max-kills times) and started
again. Then it counts what the outside world saw:

- lost: cases that did not reach CLOSED;
- duplicate_charges: ledger rows beyond one per expected idempotency key (`<case>:consult:2`),
  plus any row nobody asked for;
- duplicate_emails: messages beyond one per (X-SMO-Notice-Id, To) in the outbox.

The last line is `cases=N completed=N lost=0 duplicate_charges=0 duplicate_emails=0 kills=K`.
The run is bounded (--deadline, 300 s by default) and always takes its processes down.
The roster copy it uses gives every specialist room for N more cases, so the bench measures
faults, not staffing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this directory first on sys.path, and bench/calendar.py would then shadow the
# standard library's `calendar` for everything imported below. Put the project root there.
_HERE = Path(__file__).resolve().parent
PROJECT_ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(PROJECT_ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import yaml  # noqa: E402
from temporalio.client import WorkflowExecutionStatus  # noqa: E402

from models.case import Stage  # noqa: E402
from models.settings import Settings  # noqa: E402
from runtime.devserver import DevServer  # noqa: E402
from runtime.outbox import OutboxServer, read_outbox, redeliveries  # noqa: E402
from runtime.secrets import ensure_dev_secrets  # noqa: E402
from runtime.temporal import connect  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    ICD10_BY_SPECIALTY,
    CaseDriver,
    WorkerProcess,
    charges,
    delivered,
    expected_charge_keys,
    free_port,
    patient,
    worker_env,
)
from worker import Services  # noqa: E402
from workflows.smo_case import SmoCaseWorkflow  # noqa: E402


@dataclass
class Outcome:
    cases: int
    completed: int = 0
    duplicate_charges: int = 0
    duplicate_emails: int = 0
    kills: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.cases - self.completed

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicate_charges == 0 and self.duplicate_emails == 0

    def line(self) -> str:
        return (
            f"cases={self.cases} completed={self.completed} lost={self.lost}"
            f" duplicate_charges={self.duplicate_charges} duplicate_emails={self.duplicate_emails}"
            f" kills={self.kills}"
        )


def prepare_home(home: Path, cases: int) -> dict[str, str]:
    """SMO_HOME with development secrets and a roster with room for every case."""
    ensure_dev_secrets(home)
    roster = yaml.safe_load((PROJECT_ROOT / "data" / "specialists.yaml").read_text(encoding="utf-8"))
    for specialist in roster:
        specialist["capacity"] = int(specialist.get("capacity", 3)) + cases
    (home / "specialists.yaml").write_text(yaml.safe_dump(roster), encoding="utf-8")
    return {
        "SMO_HOME": str(home),
        "SMO_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "SMO_SMTP_HOST": "127.0.0.1",
        "SMO_SMTP_PORT": str(free_port()),
        "SMO_TASK_QUEUE": f"smo-chaos-{uuid.uuid4().hex[:8]}",
        "SMO_SPECIALISTS_FILE": str(home / "specialists.yaml"),
        "SMO_LOG_FORMAT": "json",
    }


async def chaos_monkey(
    worker: WorkerProcess,
    done: asyncio.Event,
    rng: random.Random,
    *,
    every: tuple[float, float],
    max_kills: int,
    say: list[str],
    started: float,
) -> None:
    """SIGKILL the worker at random moments and start it again, until the cases are done."""
    while worker.kills < max_kills and not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), rng.uniform(*every))
        if done.is_set():
            break
        worker.kill()
        down = rng.uniform(0.0, 0.5)
        await asyncio.sleep(down)
        worker.start()
        say.append(f"kill {worker.kills} at {time.monotonic() - started:.1f}s, down {down:.2f}s")


async def final_stage(driver: CaseDriver) -> Stage | None:
    """The stage a case ended in, from the server (None while it still runs)."""
    description = await driver.handle.describe()
    if description.status is not WorkflowExecutionStatus.COMPLETED:
        return None
    return (await driver.result()).stage


async def run(args: argparse.Namespace, workdir: Path) -> Outcome:
    env = prepare_home(workdir / "smo", args.cases)
    for key in [k for k in os.environ if k.startswith("SMO_")] + ["DATABASE_URL"]:
        os.environ.pop(key, None)
    os.environ.update(env)
    settings = Settings()
    rng = random.Random(args.seed)
    outcome = Outcome(cases=args.cases)
    started = time.monotonic()
    deadline = started + args.deadline

    server = DevServer(
        workdir / "temporal.db", port=int(env["SMO_TEMPORAL_ADDRESS"].rsplit(":", 1)[1]), ui=False
    )
    worker = WorkerProcess(worker_env(settings), workdir / "worker.log")
    outbox: OutboxServer | None = None
    services: Services | None = None
    try:
        await server.start()
        outbox = OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port).start()
        services = Services.from_settings(settings)
        client = await connect(settings)
        worker.start()
        await worker.wait_polling(client)
        specialties = list(ICD10_BY_SPECIALTY.values())
        drivers = [
            CaseDriver(
                client,
                settings,
                services.store,
                f"CHAOS-{i:03d}",
                patient(i, icd10=specialties[i % len(specialties)]),
                status_timeout=args.deadline,
            )
            for i in range(1, args.cases + 1)
        ]
        print(
            f"chaos: {args.cases} cases, worker killed every {args.every[0]}-{args.every[1]} s"
            f" (at most {args.max_kills} times), seed {args.seed}, in {workdir}",
            flush=True,
        )

        done = asyncio.Event()
        log: list[str] = []
        monkey = asyncio.create_task(
            chaos_monkey(
                worker, done, rng, every=args.every, max_kills=args.max_kills, say=log, started=started
            )
        )
        cases = [asyncio.create_task(d.run_to_closed()) for d in drivers]
        # Keep some of the budget for the counting and the teardown.
        finished, pending = await asyncio.wait(cases, timeout=max(deadline - time.monotonic() - 20, 1.0))
        done.set()
        await monkey
        if not worker.running:
            worker.start()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        outcome.kills = worker.kills
        outcome.notes += log

        for driver, task in zip(drivers, cases, strict=True):
            if task in finished and task.exception() is not None:
                outcome.notes.append(f"{driver.case_id}: driver error {task.exception()!r}")
            stage = await final_stage(driver)
            if stage is Stage.CLOSED:
                outcome.completed += 1
            else:
                where = "an unknown stage"
                with contextlib.suppress(Exception):
                    current = await asyncio.wait_for(driver.handle.query(SmoCaseWorkflow.status), 10)
                    where = current.stage.value
                outcome.notes.append(f"{driver.case_id}: LOST in {where}")

        ledger = charges(settings)
        expected = expected_charge_keys([d.case_id for d in drivers])
        outcome.duplicate_charges = sum(n - 1 for n in ledger.values()) + sum(
            n for key, n in ledger.items() if key not in expected
        )
        missing = sorted(expected - set(ledger))
        if missing:
            outcome.notes.append(f"charges never made: {missing}")
        sent = delivered(settings.outbox_dir)
        outcome.duplicate_emails = sum(n - 1 for n in sent.values())
        # A crash between an SMTP server's 250 and the sender's record resends the same
        # Message-ID; the outbox keeps one copy and counts the redelivery here.
        outcome.notes.append(
            f"redelivered with the same Message-ID (kept once): {redeliveries(settings.outbox_dir)}"
        )
        message_ids: dict[tuple[str, str], set[str]] = {}
        for m in read_outbox(settings.outbox_dir):
            pair = (str(m["X-SMO-Notice-Id"]), str(m["To"]))
            message_ids.setdefault(pair, set()).add(str(m["Message-ID"]))
        for (notice, to), n in sorted(sent.items()):
            if n > 1:
                outcome.notes.append(
                    f"{notice} to {to}: {n} messages, {len(message_ids[notice, to])} Message-ID(s)"
                )
        outcome.notes.append(
            f"{sum(sent.values())} messages for {len(sent)} (notice, recipient) pairs;"
            f" pairs with more than one Message-ID: {sum(len(v) > 1 for v in message_ids.values())};"
            f" {sum(ledger.values())} ledger rows for {len(expected)} billed consults;"
            f" {time.monotonic() - started:.1f}s"
        )
        return outcome
    finally:
        worker.kill()
        if outbox is not None:
            outbox.stop()
        if services is not None:
            services.engine.dispose()
        await server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--max-kills", type=int, default=10)
    parser.add_argument(
        "--every",
        type=float,
        nargs=2,
        default=(1.0, 3.0),
        metavar=("MIN", "MAX"),
        help="seconds between kills, drawn uniformly",
    )
    parser.add_argument("--deadline", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (worker log, DBs)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)

    workdir = Path(tempfile.mkdtemp(prefix="smo-chaos-"))
    try:
        outcome = asyncio.run(run(args, workdir))
    except BaseException:
        print(f"chaos: failed; work directory kept: {workdir}", file=sys.stderr)
        raise
    for note in outcome.notes:
        print(note)
    keep = args.keep or not outcome.clean
    if keep:
        print(f"work directory: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(outcome.line())
    return 0 if outcome.clean else 1


if __name__ == "__main__":
    sys.exit(main())
