"""Temporal payload codec that encrypts every payload with AES-256-GCM.

Workflow inputs, results, signals and activity arguments carry PHI, and
Temporal stores them in its history database in clear unless a codec encrypts
them on the client/worker side. This codec follows the shape of the Temporal
encryption sample: the whole serialized ``Payload`` (data *and* metadata such
as the encoding) becomes the plaintext, and the output payload only reveals
``encoding: binary/encrypted`` and the key id.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    PayloadCodec,
)

from security.keys import KeyRing, UnknownKeyError

ENCODING = b"binary/encrypted"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
NONCE_BYTES = 12

# Domain-separation prefix for the associated data: the same keys also wrap
# document data keys (security.envelope), and a ciphertext from one use must
# never be accepted by the other.
_AAD_PREFIX = b"smo-orchestrator/payload/v1\x00"


class PayloadDecryptionError(Exception):
    """An encrypted payload could not be decrypted (unknown key or tampering)."""


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode("utf-8")


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec backed by a :class:`KeyRing`.

    Encrypts with the ring's current key; decrypts with whichever key id the
    payload names, so payloads written before a rotation stay readable while
    the old key remains in the ring. Payloads that are not encrypted at all
    (history written before encryption was enabled) pass through unchanged.
    """

    def __init__(self, keyring: KeyRing) -> None:
        super().__init__()
        self._keyring = keyring
        # AESGCM objects are cheap but not free; build one per key up front.
        self._ciphers = {kid: AESGCM(keyring.get(kid)) for kid in keyring.key_ids}

    @property
    def keyring(self) -> KeyRing:
        """The key ring used by this codec."""
        return self._keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the current key."""
        key_id = self._keyring.current_id
        cipher = self._ciphers[key_id]
        aad = _aad(key_id)
        out: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)
            out.append(
                Payload(
                    metadata={
                        METADATA_ENCODING: ENCODING,
                        METADATA_KEY_ID: key_id.encode("utf-8"),
                    },
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass through everything else."""
        return [self._decode_one(p) for p in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload
        raw_kid = payload.metadata.get(METADATA_KEY_ID)
        if raw_kid is None:
            raise PayloadDecryptionError("encrypted payload has no encryption-key-id metadata")
        try:
            key_id = raw_kid.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadDecryptionError("encrypted payload has a malformed encryption-key-id") from None
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(str(UnknownKeyError(key_id, self._keyring.key_ids)))
        data = payload.data
        if len(data) < NONCE_BYTES + 16:
            raise PayloadDecryptionError("encrypted payload is truncated")
        try:
            plaintext = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(key_id))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"encrypted payload failed authentication with key {key_id!r} "
                "(tampered, truncated or encrypted with a different key)"
            ) from None
        try:
            return Payload.FromString(plaintext)
        except DecodeError:
            # Authenticated but not a Payload: only possible if someone with
            # the key produced it, still worth a clear message.
            raise PayloadDecryptionError("decrypted payload is not a valid Payload message") from None


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, built once per process and shared.

    The SDK makes a payload converter for every workflow instance it creates (each new case,
    each replay past the sticky cache) and for every activation's payload pass, and each new
    pydantic converter starts with an empty TypeAdapter cache, so a cold query rebuilt the
    adapters of every type it touched. The encoding converters hold no state beyond that
    (thread-safe) cache, so every instance can delegate to the same ones.
    """

    _shared: ClassVar[tuple[EncodingPayloadConverter, ...] | None] = None

    def __init__(self) -> None:
        shared = SharedPydanticPayloadConverter._shared
        if shared is None:
            super().__init__()
            SharedPydanticPayloadConverter._shared = tuple(self.converters.values())
        else:
            CompositePayloadConverter.__init__(self, *shared)


def data_converter(keyring: KeyRing) -> DataConverter:
    """Pydantic data converter with payload encryption.

    Failure messages and stack traces are moved into encoded (hence encrypted)
    attributes too, because exception text often quotes the data that caused
    it. Search attributes are never passed through a codec: keep PHI out of them.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=SharedPydanticPayloadConverter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
