"""SeaweedFS past one machine, for the two-hosts test: each server its own process, so that one
volume server can be stopped while the others serve.

- `weed master -defaultReplication=010`: every volume has one copy on each of two racks;
- `weed volume -rack=r1` and `weed volume -rack=r2`;
- `weed filer`, and its S3 gateway `weed s3 -filer=…`.

The gateway runs beside the filer, not as `weed filer -s3`: in 4.48 the filer's own gateway dials
the filer's gRPC at its HTTP port + 10000 whatever `-port.grpc` says, and every port here is
given explicitly (tests run in parallel). The gateway keeps no chunk cache (`-cacheCapacityMB=0`),
so a read after a volume server is gone goes to the volume servers that are left. A write needs
both racks, so `wait_ready` returns only once both volume servers have joined.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.polling import until
from tests.seaweed import READY_WITHIN, SeaweedFS, weed_binary, write_identities

RACKS = ("r1", "r2")
LOCALHOST = "127.0.0.1"


@dataclass
class SeaweedRacks(SeaweedFS):
    """`process` is the S3 gateway's once all are up; `servers` holds every server's by name."""

    servers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    volume_ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, folder: Path, ports: list[int]) -> SeaweedRacks:
        """Master, a volume server on each rack, filer and S3 gateway on `ports` (ten of them)."""
        master, master_grpc, r1, r1_grpc, r2, r2_grpc, filer, filer_grpc, s3, s3_grpc = ports
        write_identities(folder / "s3.json")
        for directory in ("master", "filer", *RACKS):
            (folder / directory).mkdir()
        local = [f"-ip={LOCALHOST}", f"-ip.bind={LOCALHOST}"]
        master_at = f"-master={LOCALHOST}:{master}.{master_grpc}"
        volumes = {
            f"volume-{rack}": [
                "volume", *local, f"-port={port}", f"-port.grpc={grpc}", f"-dir={folder / rack}",
                f"-rack={rack}", "-max=30", "-preStopSeconds=0", master_at,
            ]
            for rack, port, grpc in zip(RACKS, (r1, r2), (r1_grpc, r2_grpc), strict=True)
        }  # fmt: skip
        others = {
            **volumes,
            "filer": [
                "filer", *local, f"-port={filer}", f"-port.grpc={filer_grpc}", master_at,
                f"-defaultStoreDir={folder / 'filer'}", f"-localSocket={folder / 'filer.sock'}",
            ],
            "s3": [
                "s3", *local, f"-filer={LOCALHOST}:{filer}.{filer_grpc}", f"-port={s3}",
                f"-port.grpc={s3_grpc}", f"-config={folder / 's3.json'}",
                f"-localSocket={folder / 's3.sock'}", "-port.iceberg=0", "-port.lance=0",
                "-cacheCapacityMB=0",
            ],
        }  # fmt: skip
        first = _spawn(folder, "master", [
            "master", *local, f"-port={master}", f"-port.grpc={master_grpc}", f"-mdir={folder / 'master'}",
            "-defaultReplication=010", "-volumeSizeLimitMB=64", "-telemetry=false",
        ])  # fmt: skip
        racks = cls(folder, s3, first, ports, {"master": first}, dict(zip(RACKS, (r1, r2), strict=True)))
        try:
            # Started once the master leads, the others join at once; before, they retry every 5 s.
            racks.wait_leader(master)
            for name, args in others.items():
                racks.servers[name] = _spawn(folder, name, args)
            racks.process = racks.servers["s3"]
            racks.wait_ready()
        except BaseException:
            racks.stop()
            raise
        return racks

    def wait_leader(self, port: int) -> None:
        """Until the master says it leads (its Raft election takes about two seconds)."""

        def leads() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"weed master exited ({self.process.returncode}):\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(f"http://{LOCALHOST}:{port}/cluster/status", timeout=5) as answer,
            ):
                return bool(json.load(answer).get("IsLeader"))
            return False

        until(leads, within=READY_WITHIN, what=lambda: f"weed master leads no cluster:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        tails = []
        for name in self.servers:
            text = (self.folder / f"{name}.log").read_text(errors="replace").splitlines()
            tails.append(f"-- weed {name}\n" + "\n".join(text[-lines:]))
        return "\n".join(tails)

    def volumes(self, rack: str) -> dict[int, int]:
        """The volumes the volume server on `rack` holds now, with their file counts (asked of the
        volume server itself: the master's view lags by a heartbeat)."""
        url = f"http://{LOCALHOST}:{self.volume_ports[rack]}/status"
        with urllib.request.urlopen(url, timeout=10) as answer:
            status = json.load(answer)
        return {int(v["Id"]): int(v["FileCount"]) for v in status.get("Volumes") or []}

    def stop_volume(self, rack: str) -> None:
        """The volume server on `rack` is lost: SIGKILL, no goodbye to the master."""
        _kill(self.servers[f"volume-{rack}"])

    def stop(self) -> None:
        # The data is thrown away: no graceful stop (a filer's takes 15 s).
        for process in self.servers.values():
            _kill(process)
        super().stop()  # and the gRPC sockets they left in the temporary folder


def _spawn(folder: Path, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    with (folder / f"{name}.log").open("wb") as log:
        command = [weed_binary(), *args]
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
