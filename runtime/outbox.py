"""A local SMTP server (aiosmtpd) that writes every message it receives to an outbox folder.

`smo dev` runs it so that the service's real SMTP client has a real server to talk to;
tests run it to assert on what a mail server actually received.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class OutboxHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        digest = hashlib.sha256(content).hexdigest()[:16]
        name = f"{time.time_ns()}-{digest}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, self.directory / name)
        return "250 Message accepted for delivery"


class OutboxServer:
    """Runs in its own thread (aiosmtpd's Controller), so it serves while the loop is busy."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.directory = directory
        self.controller = Controller(OutboxHandler(directory), hostname=host, port=port)

    def start(self) -> OutboxServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> OutboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_outbox(directory: Path) -> list[EmailMessage]:
    """Every message in the outbox, oldest first."""
    if not directory.exists():
        return []
    out = []
    for path in sorted(directory.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out
