"""The Temporal connection over mutual TLS, configured only through the SDK's environment
configuration (`TEMPORAL_*` variables or a TOML profile), against a real server.

The dev server has no TLS flags, so an asyncio TLS terminator (ALPN `h2`, client
certificate required) sits in front of it. The CA, the server certificate and the client
certificates are made here, for this run only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from models.case import Stage
from models.settings import Settings
from runtime.devserver import DevServer
from runtime.outbox import OutboxServer
from runtime.temporal import connect, connect_config
from tests import scenario
from tests.conftest import free_port
from worker import Services, build_worker

# ---- a throwaway PKI ------------------------------------------------------------------------


@dataclass
class Issued:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    """A certificate valid for a day from five minutes ago (clock skew)."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )


class ThrowawayCa:
    """A certificate authority that lives for one test."""

    def __init__(self, directory: Path, name: str = "smo test CA") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            _builder(subject, subject, self.key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name.replace(' ', '-')}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            _builder(subject, self.cert.subject, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path = self.directory / f"{name}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert=cert_path, key=_write_key(key, self.directory / f"{name}.key"))


# ---- the TLS terminator ---------------------------------------------------------------------


class TlsTerminator:
    """Accepts TLS (ALPN h2, a client certificate from `client_ca` required) and relays the
    decrypted HTTP/2 stream to the plaintext server, as a load balancer in front of Temporal does."""

    def __init__(self, target: str, server: Issued, client_ca: Path) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(server.cert, server.key)
        self.context.load_verify_locations(client_ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        self.port = 0
        self.refused = 0  # handshakes that failed (no or untrusted client certificate)
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> TlsTerminator:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Handshake(self), "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)


class _Handshake(asyncio.Protocol):
    """Upgrades each accepted connection to TLS itself, so a failed handshake is counted."""

    def __init__(self, terminator: TlsTerminator) -> None:
        self.terminator = terminator

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        task = asyncio.ensure_future(self._upgrade(transport))
        self.terminator._relays.add(task)
        task.add_done_callback(self.terminator._relays.discard)

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            tls = await loop.start_tls(transport, protocol, self.terminator.context, server_side=True)
        except (ssl.SSLError, ConnectionError, OSError):
            self.terminator.refused += 1
            transport.abort()
            return
        assert tls is not None
        protocol.connection_made(tls)
        writer = asyncio.StreamWriter(tls, protocol, reader, loop)
        await self.terminator.relay(reader, writer)


# ---- fixtures -------------------------------------------------------------------------------


@dataclass
class SecuredServer:
    ca: ThrowawayCa
    client: Issued
    terminator: TlsTerminator
    server_name: str


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[SecuredServer]:
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui=False)
    await server.start()
    ca = ThrowawayCa(tmp_path)
    server_cert = ca.issue("temporal.smo.test", server=True)
    terminator = await TlsTerminator(server.address, server_cert, ca.path).start()
    try:
        yield SecuredServer(ca, ca.issue("smo-worker", server=False), terminator, "temporal.smo.test")
    finally:
        await terminator.close()
        await server.stop()


@pytest.fixture
def tls_env(secured: SecuredServer, smo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Only the SDK's variables say where and how: no SMO_TEMPORAL_ADDRESS."""
    monkeypatch.delenv("SMO_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", secured.terminator.address)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(secured.ca.path))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", secured.server_name)
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(secured.client.cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(secured.client.key))
    yield Settings()


# ---- the scenarios --------------------------------------------------------------------------


async def test_a_worker_and_a_client_with_certificates_run_a_case_over_mutual_tls(
    secured: SecuredServer, tls_env: Settings, outbox: OutboxServer
) -> None:
    settings = tls_env
    client = await connect(settings)
    assert client.service_client.config.target_host == secured.terminator.address
    services = Services.from_settings(settings)
    try:
        async with build_worker(client, services, workflow_failure_exception_types=[Exception]):
            handle = await scenario.start(client, settings, scenario.case_input(services, "KH-TLS-1"))
            current = await scenario.until(None, handle, Stage.GATHERING_RECORDS)
            assert current.eligibility is not None and current.eligibility.eligible
    finally:
        services.engine.dispose()
    assert secured.terminator.refused == 0


async def test_a_client_without_a_certificate_is_refused(
    secured: SecuredServer, tls_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEMPORAL_TLS_CLIENT_CERT_PATH")
    monkeypatch.delenv("TEMPORAL_TLS_CLIENT_KEY_PATH")
    with pytest.raises(RuntimeError, match="connect"):
        await connect(Settings())
    assert secured.terminator.refused >= 1


async def test_a_client_certificate_from_another_ca_is_refused(
    secured: SecuredServer, tls_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rogue_dir = tmp_path / "rogue"
    rogue_dir.mkdir()
    rogue = ThrowawayCa(rogue_dir, "rogue CA").issue("smo-worker", server=False)
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(rogue.cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(rogue.key))
    with pytest.raises(RuntimeError, match="connect"):
        await connect(Settings())
    assert secured.terminator.refused >= 1


async def test_a_plaintext_client_is_refused_by_the_tls_endpoint(
    secured: SecuredServer, tls_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SERVER_CA_CERT_PATH", "SERVER_NAME", "CLIENT_CERT_PATH", "CLIENT_KEY_PATH"):
        monkeypatch.delenv(f"TEMPORAL_TLS_{name}")
    with pytest.raises(RuntimeError, match="connect"):
        await connect(Settings())


async def test_a_toml_profile_selected_by_name_connects_with_its_certificates(
    secured: SecuredServer, monkeypatch: pytest.MonkeyPatch, smo_home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        "[profile.default]\naddress = \"127.0.0.1:1\"\n\n"
        "[profile.secured]\n"
        f"address = \"{secured.terminator.address}\"\nnamespace = \"default\"\n"
        "[profile.secured.tls]\n"
        f"server_name = \"{secured.server_name}\"\n"
        f"server_ca_cert_path = \"{secured.ca.path}\"\n"
        f"client_cert_path = \"{secured.client.cert}\"\n"
        f"client_key_path = \"{secured.client.key}\"\n"
    )
    monkeypatch.delenv("SMO_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    monkeypatch.setenv("TEMPORAL_PROFILE", "secured")
    client = await connect(Settings())
    await client.service_client.check_health()
    assert client.service_client.config.target_host == secured.terminator.address


def test_smo_temporal_address_wins_over_the_sdk_address(
    monkeypatch: pytest.MonkeyPatch, smo_home: Path
) -> None:
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", "10.0.0.5:7233")
    sdk_env = {"TEMPORAL_ADDRESS": "elsewhere:7233", "TEMPORAL_NAMESPACE": "prod"}
    config = connect_config(Settings(), env=sdk_env)
    assert config["target_host"] == "10.0.0.5:7233"
    assert config["namespace"] == "prod"  # not set for the project: the SDK's value stands

    monkeypatch.delenv("SMO_TEMPORAL_ADDRESS")
    config = connect_config(Settings(), env={"TEMPORAL_API_KEY": "k-123"})
    assert config["target_host"] == "127.0.0.1:7233"
    assert config["api_key"] == "k-123" and config["tls"] is True  # an API key implies TLS


def test_an_unreadable_profile_file_is_a_clear_error(smo_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "temporal.toml"
    bad.write_text("[profile.default\naddress = ")
    with pytest.raises(RuntimeError, match="Temporal client configuration cannot be read"):
        connect_config(Settings(), env={"TEMPORAL_CONFIG_FILE": str(bad)})
