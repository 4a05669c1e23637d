"""Secrets of the development stack stay with its owner: none on a command line, none world-readable."""

from __future__ import annotations

import asyncio
import json
import smtplib
import stat
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from runtime.devserver import DevServer
from runtime.outbox import OutboxServer
from tests.conftest import free_port
from tests.polling import eventually

TOKEN = "codec-token-that-must-stay-private-0123456789"


@pytest.mark.asyncio
async def test_the_ui_codec_token_reaches_the_ui_but_no_command_line(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:9/codec/t/{TOKEN}"
    db = tmp_path / "temporal.db"
    server = DevServer(db, port=free_port(), ui_port=free_port(), codec_endpoint=endpoint)
    assert all(TOKEN not in part for part in server.command())
    await server.start()
    try:
        assert server.process is not None
        cmdline = await asyncio.to_thread(Path(f"/proc/{server.process.pid}/cmdline").read_bytes)
        assert TOKEN.encode() not in cmdline
        assert stat.S_IMODE(server.env_file.stat().st_mode) == 0o600

        def read_settings() -> dict[str, Any] | None:
            url = f"http://127.0.0.1:{server.ui_port}/api/v1/settings"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return dict(json.load(r))
            except OSError:
                return None

        answer = await eventually(
            lambda: asyncio.to_thread(read_settings),
            lambda s: s is not None,
            what=lambda _: "the Web UI never answered its settings",
        )
        assert answer is not None and answer["Codec"]["Endpoint"] == endpoint
    finally:
        await server.stop()


def test_outbox_messages_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    port = free_port()
    outbox = OutboxServer(tmp_path / "outbox", port=port).start()
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "desk@smo.test", "member@example.com", "Your case"
        msg["Message-ID"] = "<case-1:test@smo.test>"
        msg.set_content("Dear member")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(msg)
            smtp.send_message(msg)  # a redelivery: logged, not stored twice
    finally:
        outbox.stop()
    folder = tmp_path / "outbox"
    files = [p for p in folder.iterdir()]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert any(p.suffix == ".eml" for p in files)
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), {
        p.name: oct(p.stat().st_mode) for p in files
    }
