"""A determinism lint of workflows/: what the workflow sandbox caught at run time, caught here.

The worker runs workflow code unsandboxed by default (`SMO_WORKER_SANDBOX=off`, see worker.py
and docs/performance.md). Then nothing stops a workflow from reading the wall clock, doing
I/O, drawing random numbers or starting a thread, and module globals are shared by every
case in the process. This scan of each file's syntax tree refuses all of that; the replay
tests (tests/test_replay.py, in the full sandbox) guard the recorded paths as before.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"

# Modules whose use in workflow code is I/O, wall clock, randomness, threads or processes,
# or a library that does its own I/O (the DB, SMTP, HTTP, a logger that is not replay-aware).
FORBIDDEN_MODULES = {
    "os", "io", "pathlib", "shutil", "glob", "tempfile", "fileinput", "socket", "ssl", "select",
    "selectors", "subprocess", "signal", "sqlite3", "smtplib", "http", "urllib", "ftplib",
    "time", "random", "secrets", "threading", "_thread", "concurrent", "multiprocessing",
    "sched", "queue", "logging", "sqlalchemy", "sqlmodel", "psycopg", "aiosmtplib", "aiosmtpd",
    "aiohttp", "httpx", "requests", "structlog", "yaml", "holidays", "workalendar", "runtime",
    "security", "starter", "activities", "calendars", "models.db", "models.settings",
    "models.migrations",
}  # fmt: skip
# Calls that read the clock, draw randomness or do I/O without importing anything.
FORBIDDEN_CALLS = {
    "open", "input", "print", "breakpoint", "exec", "eval", "compile", "__import__",
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today", "datetime.datetime.now",
    "datetime.datetime.utcnow", "datetime.date.today", "uuid.uuid1", "uuid.uuid4", "uuid4",
    "asyncio.to_thread", "asyncio.wait", "asyncio.as_completed", "asyncio.get_event_loop",
    "asyncio.get_running_loop", "asyncio.new_event_loop", "asyncio.run",
}  # fmt: skip
MUTATORS = {"append", "extend", "insert", "update", "add", "pop", "popitem", "clear", "setdefault",
            "remove", "discard", "sort", "reverse"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def _forbidden(module: str) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:n]) in FORBIDDEN_MODULES for n in range(1, len(parts) + 1))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _mutable(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    return isinstance(value, ast.Call) and _dotted(value.func) in {"dict", "list", "set", "defaultdict"}


def lint(source: str) -> list[Finding]:
    """Everything in one workflow module that could make a replay differ from the first run."""
    tree = ast.parse(source)
    found: list[Finding] = []
    module_mutables: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and _mutable(stmt.value):
            module_mutables |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
        elif isinstance(stmt, ast.AnnAssign) and _mutable(stmt.value) and isinstance(stmt.target, ast.Name):
            module_mutables.add(stmt.target.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden(alias.name):
                    found.append(Finding(node.lineno, f"imports {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _forbidden(node.module):
                found.append(Finding(node.lineno, f"imports from {node.module}"))
            for alias in node.names:
                if f"{node.module}.{alias.name}" in FORBIDDEN_CALLS:
                    found.append(Finding(node.lineno, f"imports {node.module}.{alias.name}"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            clock = name.rsplit(".", 1)[-1] in ("now", "utcnow", "today") and not name.startswith("workflow.")
            if name in FORBIDDEN_CALLS or (clock and "." in name):
                found.append(Finding(node.lineno, f"calls {name}()"))
            elif (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in MUTATORS
                and _dotted(node.func.value) in module_mutables
            ):
                found.append(Finding(node.lineno, f"mutates module-level {_dotted(node.func.value)}"))
        elif isinstance(node, ast.Global):
            found.append(Finding(node.lineno, f"global {', '.join(node.names)}"))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                base = target.value if isinstance(target, ast.Subscript | ast.Attribute) else None
                if base is not None and _dotted(base) in module_mutables:
                    found.append(Finding(node.lineno, f"mutates module-level {_dotted(base)}"))
                elif isinstance(node, ast.AugAssign) and _dotted(target) in module_mutables:
                    found.append(Finding(node.lineno, f"mutates module-level {_dotted(target)}"))
    return sorted(set(found), key=lambda f: f.line)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.rglob("*.py")), ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_workflow_code_reads_no_clock_does_no_io_draws_no_randomness_and_shares_no_state(path: Path) -> None:
    assert lint(path.read_text(encoding="utf-8")) == []


def test_the_workflows_folder_is_scanned() -> None:
    scanned = {str(p.relative_to(WORKFLOWS)) for p in WORKFLOWS.rglob("*.py")}
    assert scanned >= {"smo_case.py", "sla.py", "case/review.py"}


@pytest.mark.parametrize(
    ("snippet", "finding"),
    [
        ("from datetime import datetime\nx = datetime.now()", "calls datetime.now()"),
        ("import datetime\nx = datetime.datetime.utcnow()", "calls datetime.datetime.utcnow()"),
        ("from datetime import date\nx = date.today()", "calls date.today()"),
        ("import time\nx = time.time()", "imports time"),
        ("import random\nx = random.random()", "imports random"),
        ("from uuid import uuid4\nx = uuid4()", "imports uuid.uuid4"),
        ("import uuid\nx = uuid.uuid4()", "calls uuid.uuid4()"),
        ("data = open('/etc/passwd').read()", "calls open()"),
        ("from pathlib import Path\nx = Path('a').read_text()", "imports from pathlib"),
        ("import threading\nthreading.Thread(target=print).start()", "imports threading"),
        ("import asyncio\nasync def f():\n    await asyncio.to_thread(len, [])", "calls asyncio.to_thread()"),
        ("from sqlmodel import Session", "imports from sqlmodel"),
        ("import structlog\nlog = structlog.get_logger()", "imports structlog"),
        ("from runtime.db import init_db", "imports from runtime.db"),
        ("from activities.email import EmailActivities", "imports from activities.email"),
        ("from models.db import CaseRow", "imports from models.db"),
        ("SEEN = set()\ndef f(x):\n    SEEN.add(x)", "mutates module-level SEEN"),
        ("CACHE: dict[str, int] = {}\ndef f(k):\n    CACHE[k] = 1", "mutates module-level CACHE"),
        ("COUNT = 0\ndef f():\n    global COUNT\n    COUNT += 1", "global COUNT"),
    ],
)
def test_the_lint_refuses_what_would_break_a_replay(snippet: str, finding: str) -> None:
    assert finding in [f.what for f in lint(snippet)]


def test_the_lint_allows_the_workflow_apis_and_read_only_module_constants() -> None:
    ok = (
        "from datetime import timedelta\n"
        "from temporalio import workflow\n"
        "from models.case import Stage\n"
        "LIMITS = {'a': timedelta(days=1)}\n"
        "async def f():\n"
        "    now = workflow.now()\n"
        "    rid = workflow.uuid4()\n"
        "    pick = workflow.random().randint(1, 6)\n"
        "    await workflow.sleep(LIMITS['a'])\n"
    )
    assert lint(ok) == []
