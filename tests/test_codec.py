"""Scenarios for the Temporal payload encryption codec and key ring."""

from __future__ import annotations

import base64

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from security.codec import (
    ENCODING,
    METADATA_KEY_ID,
    EncryptionCodec,
    PayloadDecryptionError,
    data_converter,
)
from security.keys import KeyRing, UnknownKeyError


class CaseInput(BaseModel):
    case_id: str
    patient_name: str
    diagnosis_text: str


def _ring(*ids: str) -> KeyRing:
    return KeyRing.parse(",".join(KeyRing.generate_spec(i) for i in ids))


SAMPLE = CaseInput(
    case_id="case-0001",
    patient_name="Marguerite Fictional",
    diagnosis_text="suspected sarcoidosis of the left lung",
)


@pytest.mark.asyncio
async def test_pydantic_model_round_trips_through_encrypting_converter() -> None:
    converter = data_converter(_ring("k1"))
    (payload,) = await converter.encode([SAMPLE])
    (decoded,) = await converter.decode([payload], [CaseInput])
    assert decoded == SAMPLE


@pytest.mark.asyncio
async def test_encrypted_payload_hides_plaintext_and_encoding_but_names_key() -> None:
    converter = data_converter(_ring("k-2024", "k-2023"))
    (payload,) = await converter.encode([SAMPLE])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[METADATA_KEY_ID] == b"k-2024"
    assert set(payload.metadata) == {"encoding", METADATA_KEY_ID}
    wire = payload.SerializeToString()
    for secret in (SAMPLE.patient_name, SAMPLE.diagnosis_text, "json/plain"):
        assert secret.encode() not in wire


@pytest.mark.asyncio
async def test_same_value_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(_ring("k1"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    first, second = await codec.encode([plain, plain])
    assert first.data != second.data


@pytest.mark.asyncio
async def test_rotation_old_key_decrypts_new_key_encrypts() -> None:
    old_spec = KeyRing.generate_spec("k-old")
    new_spec = KeyRing.generate_spec("k-new")
    before = EncryptionCodec(KeyRing.parse(old_spec))
    after = EncryptionCodec(KeyRing.parse(f"{new_spec},{old_spec}"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}')

    (old_ciphertext,) = await before.encode([plain])
    (roundtrip,) = await after.decode([old_ciphertext])
    assert roundtrip == plain

    (new_ciphertext,) = await after.encode([plain])
    assert new_ciphertext.metadata[METADATA_KEY_ID] == b"k-new"


@pytest.mark.asyncio
async def test_ring_that_dropped_the_old_key_fails_clearly() -> None:
    old = EncryptionCodec(_ring("k-old"))
    without_old = EncryptionCodec(_ring("k-new"))
    (ciphertext,) = await old.encode([Payload(data=b"x")])
    with pytest.raises(PayloadDecryptionError, match="k-old"):
        await without_old.decode([ciphertext])


@pytest.mark.asyncio
async def test_tampered_ciphertext_or_key_id_is_rejected() -> None:
    ring = KeyRing.parse(f"{KeyRing.generate_spec('k1')},{KeyRing.generate_spec('k0')}")
    codec = EncryptionCodec(ring)
    (payload,) = await codec.encode([Payload(data=b"secret")])

    flipped = Payload()
    flipped.CopyFrom(payload)
    data = bytearray(flipped.data)
    data[-1] ^= 0x01
    flipped.data = bytes(data)
    with pytest.raises(PayloadDecryptionError, match="authentication"):
        await codec.decode([flipped])

    relabelled = Payload()
    relabelled.CopyFrom(payload)
    relabelled.metadata[METADATA_KEY_ID] = b"k0"
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([relabelled])

    truncated = Payload()
    truncated.CopyFrom(payload)
    truncated.data = payload.data[:10]
    with pytest.raises(PayloadDecryptionError, match="truncated"):
        await codec.decode([truncated])


@pytest.mark.asyncio
async def test_unencrypted_history_payloads_pass_through() -> None:
    codec = EncryptionCodec(_ring("k1"))
    legacy = Payload(metadata={"encoding": b"json/plain"}, data=b'{"legacy": true}')
    no_metadata = Payload(data=b"raw")
    assert await codec.decode([legacy, no_metadata]) == [legacy, no_metadata]


@pytest.mark.asyncio
async def test_converter_also_encrypts_failure_messages() -> None:
    converter = data_converter(_ring("k1"))
    failure = Failure()
    await converter.encode_failure(
        ValueError("patient Marguerite Fictional not found"), failure
    )
    assert "Marguerite" not in failure.message
    assert b"Marguerite" not in failure.SerializeToString()
    restored = await converter.decode_failure(failure)
    assert "Marguerite Fictional" in str(restored)


def test_keyring_parse_and_lookup() -> None:
    spec = f"{KeyRing.generate_spec('a1')}, {KeyRing.generate_spec('a0')}"
    ring = KeyRing.parse(spec)
    assert ring.current_id == "a1"
    assert ring.key_ids == ("a1", "a0")
    assert len(ring.get("a0")) == 32
    with pytest.raises(UnknownKeyError, match="unknown encryption key id 'zz'"):
        ring.get("zz")


def test_keyring_never_shows_key_material() -> None:
    entry = KeyRing.generate_spec("k1")
    encoded = entry.split(":", 1)[1]
    ring = KeyRing.parse(entry)
    assert encoded not in repr(ring)
    assert encoded not in str(ring)
    assert "k1" in repr(ring)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("k1", "look like"),
        ("k1:", "look like"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "32 bytes"),
        ("k1:not*base64!", "base64"),
        ("bad id:" + base64.urlsafe_b64encode(bytes(32)).decode(), "invalid key id"),
        (
            "k1:"
            + base64.urlsafe_b64encode(bytes(32)).decode()
            + ",k1:"
            + base64.urlsafe_b64encode(bytes(32)).decode(),
            "duplicate",
        ),
        ("k1:" + base64.urlsafe_b64encode(bytes(32)).decode() + ",", "empty entry"),
    ],
)
def test_malformed_key_ring_specs_are_rejected(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyRing.parse(spec)


def test_keyring_accepts_unpadded_base64() -> None:
    key = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    assert KeyRing.parse(f"k1:{key}").get("k1") == bytes(range(32))
