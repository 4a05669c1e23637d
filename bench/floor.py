"""The part of a case's cost that no worker tuning removes: its notices and documents, alone.

    python bench/floor.py [--cases 40]

A full case of bench/lifecycle.py sends seven notices (nine messages: the two consult
bookings go to the member and the specialist) and stores seven encrypted documents (the
intake sheet, the four records prudential-kh requires, the consent form and the report, as
the API edge would). The bare workflow of the same shape does neither. This runs exactly
that work for N cases with the service's own code and nothing else:
`EmailActivities.send_notice` (its case-DB claim and delivery records on SQLite, the intake
sheet decrypted, the message rendered and sent over pooled SMTP) against the SMTP outbox in
a process of its own, and `DocumentStore.put_bytes`.
No Temporal server, no workflow, no activity machinery.

It prints the CPU per case of this process (the activity code and the document store) and of
the outbox (the mail relay), and their sum. bench/lifecycle.py's ratio cannot exceed
bare / (bare + floor) on a machine where the relay shares the cores, whatever the worker does.
Last line: `cases=N notices_per_case=… floor_ms_per_case=… activity_ms=… relay_ms=… documents_ms=…`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import stack
from chaos import prepare_home
from stack import cpu_seconds, now

from models.notices import Notice, NoticeKind
from models.settings import Settings
from runtime.logging import configure_logging
from security.redaction import clear_phi
from worker import Services, activities_for

# The notices of one lifecycle case, in order (bench/lifecycle.py: two consults, the second billed).
CASE_NOTICES: list[tuple[NoticeKind, str, bool]] = [  # kind, id suffix, names the specialist
    (NoticeKind.CASE_OPENED, "1", False),
    (NoticeKind.RECORDS_TO_SPECIALIST, "1", True),
    (NoticeKind.REPORT_DELIVERED, "1", False),
    (NoticeKind.CONSULT_BOOKED, "1", True),
    (NoticeKind.CONSULT_BOOKED, "2", True),
    (NoticeKind.RECEIPT, "consult-2", False),
    (NoticeKind.CASE_CLOSED, "1", False),
]
DOCUMENTS_PER_CASE = 7
SPECIALIST = "SP-ONC-001"  # on the seeded roster (data/specialists.yaml)

RELAY = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from runtime.outbox import OutboxServer
    OutboxServer(Path(sys.argv[1]), "127.0.0.1", int(sys.argv[2])).start()
    print("ready", flush=True)
    time.sleep(3600)
    """
)


def mine() -> float:
    t = os.times()
    return t.user + t.system


def main(cases: int) -> str:
    home = Path(tempfile.mkdtemp(prefix="smo-floor-"))
    os.environ.update(prepare_home(home, cases))
    os.environ.pop("DATABASE_URL", None)
    os.environ["SMO_LOG_LEVEL"] = "WARNING"  # as the benchmarks' worker runs
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    relay = subprocess.Popen(
        [sys.executable, "-c", RELAY, str(settings.outbox_dir), str(settings.smtp_port)],
        cwd=stack.PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
        return asyncio.run(measure(settings, cases, relay.pid))
    finally:
        relay.kill()
        shutil.rmtree(home, ignore_errors=True)


async def measure(settings: Settings, cases: int, relay_pid: int) -> str:
    services = Services.from_settings(settings)
    (send_notice,) = [a for a in activities_for(services) if getattr(a, "__name__", "") == "send_notice"]
    # Warm up: imports, the SMTP session, statement caches.
    warm = services.store.put_intake(stack.intake(0, "floor"), "WARM")
    await send_notice(
        Notice(notice_id="warm:1", case_id="WARM", kind=NoticeKind.CASE_CLOSED, intake_doc_id=warm.doc_id)
    )
    cpu0, relay0, start = mine(), cpu_seconds(relay_pid), now()
    docs_cpu = 0.0
    for n in range(cases):
        case_id = f"F{n:05d}"
        d0 = mine()
        sheet = services.store.put_intake(stack.intake(n, "floor"), case_id)
        for k in range(DOCUMENTS_PER_CASE - 1):
            services.store.put_bytes(f"document {k} of case {n}".encode(), case_id)
        docs_cpu += mine() - d0
        due = datetime.now(UTC) + timedelta(days=14)
        for kind, suffix, to_specialist in CASE_NOTICES:
            await send_notice(
                Notice(
                    notice_id=f"{case_id}:{kind.value}:{suffix}",
                    case_id=case_id,
                    kind=kind,
                    intake_doc_id=sheet.doc_id,
                    specialist_id=SPECIALIST if to_specialist else None,
                    due_at=due,
                    params={"n": suffix, "slot": "2026-12-14 09:00", "amount": "150.00 USD"},
                )
            )
            clear_phi()  # as the worker's activity interceptor does after every activity
    wall = now() - start
    await asyncio.sleep(0.5)  # the relay's last file written
    total = (mine() - cpu0) / cases * 1000
    documents = docs_cpu / cases * 1000
    relay_ms = (cpu_seconds(relay_pid) - relay0) / cases * 1000
    messages = len(list(settings.outbox_dir.glob("*.eml"))) - 1
    services.engine.dispose()
    activity = total - documents
    floor = total + relay_ms
    print(f"{cases} cases in {wall:.1f}s; {messages / cases:.1f} messages a case")
    print(
        f"per case: notices (activity code) {activity:.1f} ms, mail relay {relay_ms:.1f} ms,"
        f" documents {documents:.1f} ms; floor {floor:.1f} ms"
    )
    return (
        f"cases={cases} notices_per_case={len(CASE_NOTICES)} floor_ms_per_case={floor:.1f}"
        f" activity_ms={activity:.1f} relay_ms={relay_ms:.1f} documents_ms={documents:.1f}"
    )


if __name__ == "__main__":
    parser = stack.arguments(__doc__)
    parser.add_argument("--cases", type=int, default=40)
    args = parser.parse_args()
    print(main(args.cases))
