"""The case workflow's modules reach the outside only through models/: the sandbox then
passes through pydantic models and nothing that talks to a database, mail or crypto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["activities", "aiosmtplib", "calendars", "cryptography", "holidays", "runtime", "security"]
HEAVY += ["sqlalchemy", "sqlmodel", "structlog", "workalendar", "yaml"]


def test_importing_the_case_workflow_pulls_in_no_backend_library() -> None:
    code = (
        "import json, sys, workflows.smo_case;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert loaded & set(HEAVY) == set()
    assert "models" in loaded and "temporalio" in loaded
