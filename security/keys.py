"""Named AES-256 keys for encrypting PHI (workflow payloads and documents at rest).

A key ring is configured as a single string, ``"kid1:<b64>,kid0:<b64>"``, so it
fits in one environment variable or secrets-file entry. The first key is the
current one and is used for all new encryption; every key in the ring is still
accepted for decryption, which is what makes rotation possible: prepend a new
key, keep the old ones until nothing encrypted with them is still needed.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterator, Sequence

KEY_BYTES = 32

# Key ids travel in payload metadata and file headers and are part of the spec
# syntax, so keep them to a conservative, delimiter-free alphabet.
_KEY_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class UnknownKeyError(KeyError):
    """The requested key id is not in the key ring."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(key_id)
        self.key_id = key_id
        self.known = tuple(known)

    def __str__(self) -> str:
        # KeyError.__str__ would only repr the id; say what is available instead.
        return (
            f"unknown encryption key id {self.key_id!r}; "
            f"the key ring holds {', '.join(self.known) or 'no keys'}"
        )


def _check_key_id(key_id: str) -> None:
    if not _KEY_ID_RE.fullmatch(key_id):
        raise ValueError(
            f"invalid key id {key_id!r}: use 1-64 characters from "
            "A-Z a-z 0-9 . _ - (starting with a letter or digit)"
        )


def _decode_key(key_id: str, encoded: str) -> bytes:
    text = encoded.strip()
    # Accept keys with or without '=' padding; urlsafe alphabet only.
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"key {key_id!r} is not valid urlsafe base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(
            f"key {key_id!r} must decode to {KEY_BYTES} bytes, got {len(raw)}"
        )
    return raw


class KeyRing:
    """An ordered set of named 256-bit keys; the first one is current.

    Key material is never included in ``repr``/``str`` so a ring can be logged
    or shown in a traceback without leaking secrets.
    """

    __slots__ = ("_keys", "_order")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        store: dict[str, bytes] = {}
        for key_id, key in keys:
            _check_key_id(key_id)
            if key_id in store:
                raise ValueError(f"duplicate key id {key_id!r} in key ring")
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"key {key_id!r} must be {KEY_BYTES} bytes, got {len(key)}"
                )
            store[key_id] = bytes(key)
        self._keys = store
        self._order = tuple(store)

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``"kid1:<urlsafe-b64 32 bytes>,kid0:<...>"``; the first key is current.

        Whitespace around entries is ignored so specs can be wrapped in files.
        Raises ValueError describing what is wrong (never echoing key material).
        """
        if not spec or not spec.strip():
            raise ValueError("empty key ring spec")
        entries: list[tuple[str, bytes]] = []
        for position, raw_entry in enumerate(spec.split(","), start=1):
            entry = raw_entry.strip()
            if not entry:
                raise ValueError(f"empty entry #{position} in key ring spec")
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not encoded.strip():
                raise ValueError(
                    f"entry #{position} of key ring spec must look like "
                    "'<key id>:<urlsafe base64 key>'"
                )
            _check_key_id(key_id)
            entries.append((key_id, _decode_key(key_id, encoded)))
        return cls(entries)

    @staticmethod
    def generate_spec(key_id: str) -> str:
        """Return a fresh ``"<key_id>:<random 32-byte key>"`` spec entry."""
        _check_key_id(key_id)
        key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
        return f"{key_id}:{key}"

    @property
    def current_id(self) -> str:
        """Id of the key used for new encryption."""
        return self._order[0]

    @property
    def current_key(self) -> bytes:
        """Key material of the current key."""
        return self._keys[self._order[0]]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """All key ids, current first."""
        return self._order

    def get(self, key_id: str) -> bytes:
        """Key material for ``key_id``; raises UnknownKeyError if absent."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(key_id, self._order) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_id!r}, key_ids={list(self._order)!r})"

    __str__ = __repr__
