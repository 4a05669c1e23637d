"""Scenarios for streaming envelope encryption of documents at rest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from security.envelope import (
    TAG_BYTES,
    IntegrityError,
    decrypt_stream,
    decrypt_to,
    encrypt_stream,
)
from security.keys import KeyRing

CHUNK = 1024


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.parse(KeyRing.generate_spec("kek-1"))


def _encrypt(data: bytes, ring: KeyRing, chunk_size: int = CHUNK) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, ring, chunk_size=chunk_size)
    return out.getvalue()


def _decrypt(blob: bytes, ring: KeyRing, expected: str | None = None) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(blob), ring, expected_sha256=expected))


def _split(blob: bytes, chunk_size: int = CHUNK) -> tuple[bytes, list[bytes]]:
    """Header bytes and the list of encrypted chunk records."""
    (length,) = struct.unpack(">I", blob[7:11])
    header_end = 11 + length
    body = blob[header_end:]
    record = chunk_size + TAG_BYTES
    return blob[:header_end], [
        body[i : i + record] for i in range(0, len(body), record)
    ]


class GeneratedReader(io.RawIOBase):
    """Produces ``total`` pseudo-random-looking bytes on demand, never all at once."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.position = 0
        self.largest_read = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.remaining, 64 * 1024)  # short reads on purpose
        block = bytes((self.position + i) * 31 % 251 for i in range(min(n, 251)))
        data = (block * (n // 251 + 1))[:n]
        buffer[:n] = data
        self.digest.update(data)
        self.remaining -= n
        self.position += n
        self.largest_read = max(self.largest_read, len(buffer))
        return n


class HashingSink(io.RawIOBase):
    """Writable that keeps only a digest and a byte count."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def test_multi_chunk_file_round_trips_and_reports_plaintext_sha(ring: KeyRing) -> None:
    data = os.urandom(10 * 1024 + 123)
    out = io.BytesIO()
    result = encrypt_stream(io.BytesIO(data), out, ring, chunk_size=CHUNK)

    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    _, chunks = _split(out.getvalue())
    assert len(chunks) == 11
    assert _decrypt(out.getvalue(), ring, expected=result.sha256) == data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_boundary_sizes_round_trip(ring: KeyRing, size: int) -> None:
    data = os.urandom(size)
    assert _decrypt(_encrypt(data, ring), ring) == data


def test_ciphertext_does_not_contain_plaintext(ring: KeyRing) -> None:
    data = b"Histopathology: adenocarcinoma, patient Marguerite Fictional. " * 50
    blob = _encrypt(data, ring)
    assert b"adenocarcinoma" not in blob
    assert b"Marguerite" not in blob


def test_flipped_byte_in_any_chunk_is_detected(ring: KeyRing) -> None:
    blob = bytearray(_encrypt(os.urandom(10 * 1024), ring))
    blob[len(blob) // 2] ^= 0x40
    with pytest.raises(IntegrityError, match="authentication"):
        _decrypt(bytes(blob), ring)


def test_truncation_at_a_chunk_boundary_is_detected(ring: KeyRing) -> None:
    blob = _encrypt(os.urandom(10 * 1024), ring)
    header, chunks = _split(blob)
    with pytest.raises(IntegrityError):
        _decrypt(header + b"".join(chunks[:-1]), ring)


def test_truncation_mid_chunk_and_header_only_are_detected(ring: KeyRing) -> None:
    blob = _encrypt(os.urandom(10 * 1024), ring)
    header, _ = _split(blob)
    with pytest.raises(IntegrityError):
        _decrypt(blob[:-7], ring)
    with pytest.raises(IntegrityError, match="no content"):
        _decrypt(header, ring)
    with pytest.raises(IntegrityError):
        _decrypt(header[:-3], ring)


def test_appended_data_is_detected(ring: KeyRing) -> None:
    blob = _encrypt(os.urandom(4 * CHUNK), ring)
    with pytest.raises(IntegrityError):
        _decrypt(blob + b"\x00" * 40, ring)


def test_swapped_chunks_are_detected(ring: KeyRing) -> None:
    blob = _encrypt(os.urandom(10 * 1024), ring)
    header, chunks = _split(blob)
    chunks[2], chunks[3] = chunks[3], chunks[2]
    with pytest.raises(IntegrityError, match="chunk 2"):
        _decrypt(header + b"".join(chunks), ring)


def test_chunk_from_another_document_is_rejected(ring: KeyRing) -> None:
    first_header, first_chunks = _split(_encrypt(os.urandom(4 * CHUNK), ring))
    _, other_chunks = _split(_encrypt(os.urandom(4 * CHUNK), ring))
    first_chunks[1] = other_chunks[1]
    with pytest.raises(IntegrityError):
        _decrypt(first_header + b"".join(first_chunks), ring)


def test_wrong_expected_sha_is_rejected_before_last_chunk_is_released(
    ring: KeyRing,
) -> None:
    data = os.urandom(5 * CHUNK)
    blob = _encrypt(data, ring)
    stream = decrypt_stream(io.BytesIO(blob), ring, expected_sha256="0" * 64)
    released = [next(stream) for _ in range(4)]
    with pytest.raises(IntegrityError, match="sha256"):
        next(stream)
    # Everything but the final chunk was streamed; the final one was withheld.
    assert b"".join(released) == data[: 4 * CHUNK]


def test_malformed_expected_sha_is_a_caller_error(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="64 hex"):
        decrypt_stream(io.BytesIO(_encrypt(b"x", ring)), ring, expected_sha256="abc")


def test_decrypt_to_writes_and_verifies(ring: KeyRing) -> None:
    data = os.urandom(7 * CHUNK + 5)
    blob = _encrypt(data, ring)
    out = io.BytesIO()
    result = decrypt_to(
        io.BytesIO(blob), out, ring, hashlib.sha256(data).hexdigest().upper()
    )
    assert out.getvalue() == data
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(IntegrityError):
        decrypt_to(io.BytesIO(blob), io.BytesIO(), ring, "f" * 64)


def test_file_wrapped_with_rotated_kek_still_decrypts() -> None:
    old = KeyRing.generate_spec("kek-2023")
    new = KeyRing.generate_spec("kek-2024")
    data = os.urandom(3 * CHUNK)
    blob = _encrypt(data, KeyRing.parse(old))

    rotated = KeyRing.parse(f"{new},{old}")
    assert _decrypt(blob, rotated) == data
    header, _ = _split(_encrypt(data, rotated))
    assert json.loads(header[11:])["kek"] == "kek-2024"


def test_unknown_kek_fails_immediately_with_integrity_error(ring: KeyRing) -> None:
    blob = _encrypt(b"report", ring)
    stranger = KeyRing.parse(KeyRing.generate_spec("other"))
    with pytest.raises(IntegrityError, match="kek-1"):
        decrypt_stream(io.BytesIO(blob), stranger)


def test_header_pointing_at_another_kek_is_rejected() -> None:
    spec_a, spec_b = KeyRing.generate_spec("a"), KeyRing.generate_spec("b")
    ring = KeyRing.parse(f"{spec_a},{spec_b}")
    blob = _encrypt(b"report body", ring)
    header, chunks = _split(blob)
    fields = json.loads(header[11:])
    fields["kek"] = "b"
    body = json.dumps(fields).encode()
    forged = b"SMOENV\x01" + struct.pack(">I", len(body)) + body + b"".join(chunks)
    with pytest.raises(IntegrityError, match="document key"):
        _decrypt(forged, ring)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"PK\x03\x04 not ours",
        b"SMOENV\x09\x00\x00\x00\x02{}",
        b"SMOENV\x01\x00\x00\x00\x02{}",
    ],
)
def test_foreign_or_malformed_files_are_rejected(ring: KeyRing, blob: bytes) -> None:
    with pytest.raises(IntegrityError):
        _decrypt(blob, ring)


def test_fifty_mebibyte_stream_is_processed_chunk_by_chunk(
    ring: KeyRing, tmp_path: Path
) -> None:
    total = 50 * 1024 * 1024
    reader = GeneratedReader(total)
    target = tmp_path / "doc.enc"
    with open(target, "wb") as dst:
        result = encrypt_stream(cast(BinaryIO, reader), dst, ring)

    assert result.size == total
    assert result.sha256 == reader.digest.hexdigest()
    # The reader was never asked for more than one chunk at a time.
    assert reader.largest_read <= 1 << 20

    sink = HashingSink()
    with open(target, "rb") as src:
        verified = decrypt_to(src, cast(BinaryIO, sink), ring, result.sha256)
    assert verified.size == total
    assert sink.digest.hexdigest() == result.sha256
