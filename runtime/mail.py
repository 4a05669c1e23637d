"""The SMTP client that notices go out through (aiosmtplib): pooled sessions, one serialisation.

A message is serialised once, with `WIRE_POLICY`, and handed to `sendmail` with the envelope
addresses its caller names. aiosmtplib's `send_message` would fold every header through an
`email.header.Header` and parse the addresses back out of the headers; the bytes are the same
(tests/test_email_wire.py), but for a body line that begins "From " (see `WIRE_POLICY`).
"""

from __future__ import annotations

import asyncio
from email.message import Message
from email.policy import Compat32

import aiosmtplib


class _PlainHeaders(Compat32):
    """compat32 that writes a short plain-ASCII header as it is.

    compat32 wraps every header in an `email.header.Header` to fold it at 78 columns, which
    costs more than the rest of the message; a header that needs no folding or encoding comes
    out of it unchanged, so it is written directly (tests/test_email_wire.py compares the two).
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        # Printable ASCII only: the Header folds at any line boundary str.splitlines knows
        # (\x1c-\x1e and \x85 among them), not only CR and LF.
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()
            and len(name) + 2 + len(value) <= 78
            and value == value.strip()
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# What aiosmtplib's send_message writes for a compat32 message (it normalises line endings to
# CRLF and dot-stuffs on sending), built without a header object per header, and without its
# mbox habit of writing a body line that begins "From " as ">From ".
WIRE_POLICY = _PlainHeaders()


class SmtpMailer:
    """The SMTP client. It keeps a few sessions open between messages: a connection and its
    EHLO cost the worker more than the message itself. A session that errs in any way is
    closed, never reused, so a retry always starts on a fresh connection."""

    def __init__(
        self, host: str, port: int, timeout: float = 15.0, *, pool_size: int = 4, idle_seconds: float = 20.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.pool_size = pool_size
        # Below the idle timeouts of common servers (aiosmtpd 300 s, Postfix 300 s).
        self.idle_seconds = idle_seconds
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._key: tuple[str, int, asyncio.AbstractEventLoop] | None = None

    def _take(self) -> aiosmtplib.SMTP | None:
        loop = asyncio.get_running_loop()
        if self._key != (self.host, self.port, loop):
            # Another server (the settings changed) or another event loop: forget the old ones.
            self._key, self._idle = (self.host, self.port, loop), []
        deadline = loop.time() - self.idle_seconds
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and since > deadline:
                return client
            client.close()
        return None

    async def send(self, message: Message, *, sender: str, recipients: list[str]) -> None:
        """Send one message to these envelope addresses (the caller knows them: reading them
        back out of the headers is an address parse per header)."""
        data = message.as_bytes(policy=WIRE_POLICY)
        client = self._take()
        if client is not None:
            try:
                await client.sendmail(sender, recipients, data)
            except aiosmtplib.SMTPServerDisconnected:
                client.close()  # the server dropped an idle session: one fresh attempt below
            except BaseException:
                client.close()
                raise
            else:
                self._give(client)
                return
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout)
        try:
            await client.connect()
            await client.sendmail(sender, recipients, data)
        except BaseException:
            client.close()
            raise
        self._give(client)

    def _give(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.pool_size and self._key == (
            self.host,
            self.port,
            asyncio.get_running_loop(),
        ):
            self._idle.append((client, asyncio.get_running_loop().time()))
        else:
            client.close()


def permanent(exc: aiosmtplib.SMTPException) -> bool:
    """A 5xx answer will not change on retry; 4xx and connection errors may."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code >= 500
    return False
