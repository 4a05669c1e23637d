"""`smo web --processes 2`: two web processes share one port under a supervisor, and stop with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from models.settings import Settings
from tests.polling import DEADLINE, until

SMO = Path(sys.executable).parent / "smo"


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_two_web_processes_answer_on_one_port_and_stop_with_their_supervisor(
    settings: Settings, tmp_path: Path
) -> None:
    log = (tmp_path / "web.log").open("wb")
    command = [str(SMO), "web", "--processes", "2"]
    web = subprocess.Popen(command, env=os.environ.copy(), stdout=log, stderr=log)
    children: set[int] = set()
    try:
        def serving() -> bool:
            assert web.poll() is None, (tmp_path / "web.log").read_text()
            try:
                with urllib.request.urlopen(f"{settings.base_url}/health", timeout=5) as answer:
                    # Two web processes (and multiprocessing's resource tracker).
                    return answer.status == 200 and len(_children(web.pid)) >= 2
            except OSError:
                return False

        # Both processes are up and serving, each with its own pid, behind the one port.
        until(serving, within=DEADLINE, what=lambda: "smo web --processes 2 did not come up")
        children = _children(web.pid)
        for _ in range(20):
            with urllib.request.urlopen(f"{settings.base_url}/health", timeout=5) as answer:
                assert answer.status == 200
    finally:
        web.send_signal(signal.SIGTERM)
        code = web.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "web.log").read_text()

    def alive(pid: int) -> bool:  # a zombie waiting for init to reap it has stopped already
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    until(
        lambda: not any(alive(pid) for pid in children),
        within=DEADLINE,
        what=lambda: "a web process outlived its supervisor",
    )
