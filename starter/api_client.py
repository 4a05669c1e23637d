"""The thin CLI's HTTP client: JSON calls and streamed uploads to the API, standard library only.

It holds no keys and needs no store: `SMO_API_URL` (default http://127.0.0.1:8081) and
`SMO_TOKEN` (or the `SMO_TOKEN` line `smo dev` writes into `.smo/secrets.env`) are all it
reads. Files go out in chunks as one multipart body; nothing is read whole into memory.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:
    import http.client

DEFAULT_URL = "http://127.0.0.1:8081"
CHUNK = 256 << 10
TIMEOUT = 120.0


class ApiRefused(Exception):
    """The API answered with an error: its one-line message, and the status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiUnreachable(Exception):
    pass


def _secrets_file_token() -> str:
    path = Path(os.environ.get("SMO_HOME", ".smo")) / "secrets.env"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "SMO_TOKEN":
            return value.strip()
    return ""


def api_url() -> str:
    """SMO_API_URL; else the service on this machine, at the port `smo dev` serves (SMO_WEB_PORT)."""
    explicit = os.environ.get("SMO_API_URL", "").strip()
    if explicit:
        return explicit
    port = os.environ.get("SMO_WEB_PORT", "").strip()
    return f"http://127.0.0.1:{port}" if port.isascii() and port.isdigit() else DEFAULT_URL


class Api:
    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.url = (url or api_url()).rstrip("/")
        self.token = token if token is not None else (os.environ.get("SMO_TOKEN") or _secrets_file_token())
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiRefused(0, f"SMO_API_URL {self.url!r} is not an http(s) URL")
        self.parts = parts

    def _connection(self) -> http.client.HTTPConnection:
        # Imported here, not at the top: with ssl and the email parser it is a tenth of `smo --help`.
        import http.client

        cls = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
        return cls(self.parts.hostname or "", self.parts.port, timeout=TIMEOUT)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        files: Sequence[Path] = (),
        multipart: bool = False,
        fields: Sequence[tuple[str, str]] = (),
    ) -> Any:
        if not self.token:
            raise ApiRefused(401, "SMO_TOKEN is not set: ask a supervisor for a token (smo user add)")
        target = self.parts.path.rstrip("/") + path
        params = {k: v for k, v in (query or {}).items() if v is not None and v is not False}
        if params:
            target += "?" + urlencode({k: "true" if v is True else v for k, v in params.items()})
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        payload: Any = None
        if multipart:
            boundary = uuid.uuid4().hex
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            payload = _multipart(files, boundary, fields)
        elif body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        import http.client

        conn = self._connection()
        try:
            conn.request(method, target, body=payload, headers=headers, encode_chunked=multipart)
            resp = conn.getresponse()
            raw = resp.read()
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            raise ApiUnreachable(
                f"cannot reach the SMO API at {self.url} ({type(exc).__name__}); is `smo dev` running?"
            ) from None
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if resp.status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise ApiRefused(resp.status, str(message or f"the API answered {resp.status} {resp.reason}"))
        return data


def _multipart(
    files: Sequence[Path], boundary: str, fields: Sequence[tuple[str, str]] = ()
) -> Iterator[bytes]:
    """The text `fields` first, in order, then one `file` part per path, read chunk by chunk
    while the body is sent."""
    for name, value in fields:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        yield value.encode("utf-8") + b"\r\n"
    for path in files:
        # The name is the file's own, without its folder; the server refuses odd ones.
        name = path.name.replace('"', "_")
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
