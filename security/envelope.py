"""Streaming envelope encryption for medical documents at rest.

Documents can be very large (imaging archives), so nothing here ever holds a
whole file in memory: content is processed chunk by chunk.

File layout::

    magic b"SMOENV" | version (1 byte) | header length (uint32 BE) | header JSON
    chunk 0 ciphertext+tag | chunk 1 ciphertext+tag | ... | final chunk

The header JSON names the key-encryption key (``kek``), the per-document data
key wrapped with it (AES-GCM, AAD binds the kek id), the 8-byte nonce prefix
and the chunk size. Each chunk is AES-256-GCM under the data key with nonce
``prefix || uint32 BE chunk index`` and associated data binding the chunk
index and a final-chunk flag (the STREAM construction), so truncating the
file, dropping, reordering or swapping chunks, or appending data is detected.

Rotation: the data key is wrapped with the ring's current key; a file wrapped
with an older key decrypts as long as that key is still in the ring.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from security.keys import KeyRing, UnknownKeyError

MAGIC = b"SMOENV"
VERSION = 1
DEFAULT_CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 64 << 20
MAX_HEADER_BYTES = 16 << 10
TAG_BYTES = 16
NONCE_PREFIX_BYTES = 8
WRAP_NONCE_BYTES = 12
DATA_KEY_BYTES = 32
_MAX_CHUNKS = 1 << 32  # the chunk counter is 4 bytes

_PREAMBLE = struct.Struct(">6sBI")  # magic, version, header length
_CHUNK_AAD = struct.Struct(">7sIIB")  # domain tag, chunk size, index, final flag
_CHUNK_DOMAIN = b"SMOENV1"
# Distinct from the payload codec's AAD so a wrapped key and a payload can
# never be substituted for one another, even though they share the keys.
_WRAP_AAD_PREFIX = b"smo-orchestrator/data-key/v1\x00"


class IntegrityError(Exception):
    """Encrypted document is corrupt, tampered with, truncated, or undecryptable."""


@dataclass(frozen=True, slots=True)
class EncryptResult:
    """Digest and size of the plaintext that was encrypted."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class DecryptResult:
    """Digest and size of the plaintext that was decrypted (and verified)."""

    sha256: str
    size: int


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Header:
    kek_id: str
    wrapped_key: bytes
    nonce_prefix: bytes
    chunk_size: int


def _read_exact(src: BinaryIO, n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads; fewer only at EOF."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        data: bytes | None = src.read(n - got)
        if data is None:
            # Non-blocking stream with nothing ready: treating that as EOF
            # would silently truncate the document.
            raise ValueError("non-blocking streams are not supported")
        if not data:
            break
        parts.append(data)
        got += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _write_all(dst: BinaryIO, data: bytes) -> None:
    """Write everything; raw (unbuffered) writers may accept only part."""
    view = memoryview(data)
    while view:
        written: int | None = dst.write(view)
        if written is None:
            raise ValueError("non-blocking streams are not supported")
        view = view[written:]


def _chunk_nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _chunk_aad(chunk_size: int, index: int, final: bool) -> bytes:
    return _CHUNK_AAD.pack(_CHUNK_DOMAIN, chunk_size, index, 1 if final else 0)


def _wrap_aad(kek_id: str) -> bytes:
    return _WRAP_AAD_PREFIX + kek_id.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise IntegrityError(
            f"envelope header field {field!r} is missing or not a string"
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(f"envelope header field {field!r} is not base64") from None


def _write_header(dst: BinaryIO, header: _Header) -> None:
    body = json.dumps(
        {
            "alg": "AES-256-GCM-STREAM",
            "kek": header.kek_id,
            "wrapped_key": _b64(header.wrapped_key),
            "nonce_prefix": _b64(header.nonce_prefix),
            "chunk_size": header.chunk_size,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    _write_all(dst, _PREAMBLE.pack(MAGIC, VERSION, len(body)) + body)


def _read_header(src: BinaryIO) -> _Header:
    preamble = _read_exact(src, _PREAMBLE.size)
    if len(preamble) != _PREAMBLE.size:
        raise IntegrityError("not an encrypted document: file too short")
    magic, version, length = _PREAMBLE.unpack(preamble)
    if magic != MAGIC:
        raise IntegrityError("not an encrypted document: bad magic bytes")
    if version != VERSION:
        raise IntegrityError(f"unsupported envelope version {version}")
    if not 0 < length <= MAX_HEADER_BYTES:
        raise IntegrityError(f"implausible envelope header length {length}")
    body = _read_exact(src, length)
    if len(body) != length:
        raise IntegrityError("envelope header is truncated")
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IntegrityError("envelope header is not valid JSON") from None
    if not isinstance(fields, dict):
        raise IntegrityError("envelope header is not a JSON object")
    if fields.get("alg") != "AES-256-GCM-STREAM":
        raise IntegrityError(f"unsupported envelope algorithm {fields.get('alg')!r}")
    kek_id = fields.get("kek")
    if not isinstance(kek_id, str) or not kek_id:
        raise IntegrityError("envelope header has no key id")
    chunk_size = fields.get("chunk_size")
    if (
        not isinstance(chunk_size, int)
        or isinstance(chunk_size, bool)
        or not 0 < chunk_size <= MAX_CHUNK_SIZE
    ):
        raise IntegrityError(f"implausible envelope chunk size {chunk_size!r}")
    nonce_prefix = _unb64(fields.get("nonce_prefix"), "nonce_prefix")
    if len(nonce_prefix) != NONCE_PREFIX_BYTES:
        raise IntegrityError("envelope nonce prefix has the wrong length")
    wrapped_key = _unb64(fields.get("wrapped_key"), "wrapped_key")
    if len(wrapped_key) != WRAP_NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES:
        raise IntegrityError("envelope wrapped key has the wrong length")
    return _Header(kek_id, wrapped_key, nonce_prefix, chunk_size)


def _wrap_data_key(keyring: KeyRing, data_key: bytes) -> tuple[str, bytes]:
    kek_id = keyring.current_id
    nonce = os.urandom(WRAP_NONCE_BYTES)
    sealed = AESGCM(keyring.get(kek_id)).encrypt(nonce, data_key, _wrap_aad(kek_id))
    return kek_id, nonce + sealed


def _unwrap_data_key(keyring: KeyRing, header: _Header) -> bytes:
    try:
        kek = keyring.get(header.kek_id)
    except UnknownKeyError as exc:
        raise IntegrityError(f"cannot unwrap document key: {exc}") from None
    wrapped = header.wrapped_key
    try:
        return AESGCM(kek).decrypt(
            wrapped[:WRAP_NONCE_BYTES],
            wrapped[WRAP_NONCE_BYTES:],
            _wrap_aad(header.kek_id),
        )
    except InvalidTag:
        raise IntegrityError(
            f"document key failed authentication under key {header.kek_id!r}"
        ) from None


class Encryptor:
    """Encryption pushed chunk by chunk: `write` plaintext as it arrives, `finish` when it ends.

    It writes the same file as `encrypt_stream`, but the caller does the waiting: nothing here
    waits for a source, so an upload read from the network holds no thread between its chunks.
    Memory stays at about two chunks whatever the document's size.
    """

    def __init__(self, dst: BinaryIO, keyring: KeyRing, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE}")
        data_key = AESGCM.generate_key(bit_length=256)
        kek_id, wrapped = _wrap_data_key(keyring, data_key)
        self._header = _Header(kek_id, wrapped, os.urandom(NONCE_PREFIX_BYTES), chunk_size)
        _write_header(dst, self._header)
        self._dst = dst
        self._cipher = AESGCM(data_key)
        self._digest = hashlib.sha256()
        self._pending = bytearray()
        self._size = 0
        self._index = 0

    def write(self, data: bytes) -> None:
        self._pending += data
        size = self._header.chunk_size
        # A chunk is sealed only once more follows it: the final flag is part of its associated
        # data, so the last chunk waits for `finish`.
        while len(self._pending) > size:
            self._seal(bytes(self._pending[:size]), final=False)
            del self._pending[:size]

    def finish(self) -> EncryptResult:
        """Seal the last chunk (empty for an empty document) and return the plaintext's digest."""
        self._seal(bytes(self._pending), final=True)
        self._pending.clear()
        return EncryptResult(sha256=self._digest.hexdigest(), size=self._size)

    def _seal(self, chunk: bytes, *, final: bool) -> None:
        if self._index >= _MAX_CHUNKS:
            raise ValueError("document too large for this chunk size")
        self._digest.update(chunk)
        self._size += len(chunk)
        nonce = _chunk_nonce(self._header.nonce_prefix, self._index)
        aad = _chunk_aad(self._header.chunk_size, self._index, final)
        _write_all(self._dst, self._cipher.encrypt(nonce, chunk, aad))
        self._index += 1


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    keyring: KeyRing,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> EncryptResult:
    """Encrypt ``src`` into ``dst`` chunk by chunk; return the plaintext sha256/size.

    Memory use is bounded by about two chunks regardless of the input size.
    """
    encryptor = Encryptor(dst, keyring, chunk_size=chunk_size)
    while block := _read_exact(src, chunk_size):
        encryptor.write(block)
        if len(block) < chunk_size:  # a short read happens only at the end
            break
    return encryptor.finish()


def decrypt_stream(
    src: BinaryIO,
    keyring: KeyRing,
    *,
    expected_sha256: str | None = None,
) -> Iterator[bytes]:
    """Decrypt ``src`` and yield plaintext chunks.

    The header is read and the data key unwrapped immediately, so a wrong file
    or unknown key raises :class:`IntegrityError` from this call. Chunk errors,
    truncation and a sha256 mismatch raise IntegrityError during iteration;
    the digest check happens only after the last chunk. Callers must therefore
    treat every yielded byte as untrusted until the iterator finishes without
    error (e.g. stream to a temporary file and only publish it afterwards, or
    use :func:`decrypt_to`).
    """
    header = _read_header(src)
    data_key = _unwrap_data_key(keyring, header)
    expected = _normalise_sha256(expected_sha256)
    return _iter_plaintext(src, header, AESGCM(data_key), expected, hashlib.sha256())


def _normalise_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("expected_sha256 must be 64 hex characters")
    return text


def _iter_plaintext(
    src: BinaryIO,
    header: _Header,
    cipher: AESGCM,
    expected: str | None,
    digest: _Digest,
) -> Iterator[bytes]:
    record_size = header.chunk_size + TAG_BYTES
    index = 0
    current = _read_exact(src, record_size)
    if not current:
        raise IntegrityError("encrypted document has no content chunks (truncated)")
    while True:
        # A short record can only be the last one; otherwise peek to find out.
        upcoming = _read_exact(src, record_size) if len(current) == record_size else b""
        final = not upcoming
        if len(current) < TAG_BYTES:
            raise IntegrityError(f"chunk {index} is truncated")
        if index >= _MAX_CHUNKS:
            raise IntegrityError("encrypted document has too many chunks")
        try:
            plaintext = cipher.decrypt(
                _chunk_nonce(header.nonce_prefix, index),
                current,
                _chunk_aad(header.chunk_size, index, final),
            )
        except InvalidTag:
            raise IntegrityError(
                f"chunk {index} failed authentication "
                "(tampered, reordered, truncated or extended)"
            ) from None
        digest.update(plaintext)
        if final:
            if expected is not None and not hmac.compare_digest(
                digest.hexdigest(), expected
            ):
                raise IntegrityError(
                    "plaintext sha256 does not match the expected digest"
                )
            if plaintext:
                yield plaintext
            return
        yield plaintext
        current = upcoming
        index += 1


def decrypt_to(
    src: BinaryIO,
    dst: BinaryIO,
    keyring: KeyRing,
    expected_sha256: str | None = None,
) -> DecryptResult:
    """Decrypt ``src`` into ``dst``, verifying every chunk and the final digest.

    Plaintext is written as each chunk is authenticated, so when this raises
    :class:`IntegrityError`, ``dst`` holds partial, unverified data: write to a
    temporary location and discard it on error.
    """
    header = _read_header(src)
    data_key = _unwrap_data_key(keyring, header)
    expected = _normalise_sha256(expected_sha256)
    digest = hashlib.sha256()
    size = 0
    for chunk in _iter_plaintext(src, header, AESGCM(data_key), expected, digest):
        size += len(chunk)
        _write_all(dst, chunk)
    return DecryptResult(sha256=digest.hexdigest(), size=size)
