"""The code's layout: small modules throughout, and a case workflow that reaches the outside only
through models/ (the sandbox then passes through pydantic models and nothing that talks to a
database, mail or crypto). Which layer may import which is tests/test_layers.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

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


def test_no_product_module_grows_past_400_lines(product_modules: list[Path]) -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in product_modules}
    offenders = {name: n for name, n in sorted(sizes.items()) if n > 400}
    assert sizes
    assert not offenders, "over 400 lines: " + ", ".join(f"{name} ({n})" for name, n in offenders.items())
