"""Moving the documents to another store (`smo storage migrate --from URL --to URL`).

Each document is copied as it is stored (its envelope ciphertext, and its sealed name first, as
the store itself writes them: a document in place is never without its name), then verified in
the target by decrypting it whole (every chunk is authenticated, the last one as the last) and,
for a document of the old shared store, hashing the plaintext against its id; its name by
opening it. Both stores take the same keys (SMO_DOCUMENT_KEYS, and the case keys in the case
DB): nothing is decrypted on the way.

Resumable: what the target already holds is verified, not copied again, and nothing is ever
written over, so a migration stopped anywhere (killed, the network gone) is run again to finish.
A copy that fails its check is removed from the target, so the next run copies it afresh. The
result counts the documents copied by this run, those verified in the target (all of them, when
it ends well) and those that failed; each failure is said by the first 12 digits of its id and
the kind of fault, never a name.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from runtime.blobs import StoreError
from runtime.case_keys import CaseErased
from runtime.documents import META_BYTES, DocumentNotFound, DocumentStore
from security.envelope import DEFAULT_CHUNK_SIZE, IntegrityError, decrypt_stream
from security.keys import KeyRing


@dataclass
class Moved:
    copied: int = 0
    verified: int = 0
    failed: int = 0
    erased: int = 0  # objects left of an erased case (its key destroyed): never copied

    @property
    def seen(self) -> int:
        return self.verified + self.failed

    def __str__(self) -> str:
        said = f"{self.seen} documents: copied {self.copied}, verified {self.verified}, failed {self.failed}"
        return f"{said}; {self.erased} left of erased cases, not copied" if self.erased else said


def document_keys(store: DocumentStore) -> Iterator[str]:
    """Every document's key: the old shared store's, then each case's (never a large one's parts)."""
    yield from store.blobs.keys("objects/")
    for key in store.blobs.keys("cases/"):
        if key.split("/")[2] == "objects":
            yield key


def meta_key_of(key: str) -> str:
    folders, _, name = key.rpartition("/")
    return f"{folders.removesuffix('objects')}meta/{name}"


def migrate(source: DocumentStore, target: DocumentStore, say: Callable[[str], object] = print) -> Moved:
    """Copy every document of `source` that `target` lacks, and verify each one in `target`."""
    moved = Moved()
    for key in document_keys(source):
        name = key.rpartition("/")[2]
        try:
            ring_for(source, key)  # an erased case's leftovers are not carried over
        except CaseErased:
            for leftover in (key, meta_key_of(key)):
                target.blobs.delete(leftover)
            moved.erased += 1
            continue
        except IntegrityError:
            pass  # counted below, where the copy is checked
        try:
            moved.copied += copy_one(source, target, key)
            verify(target, key, named=source.blobs.exists(meta_key_of(key)))
        except (IntegrityError, DocumentNotFound, CaseErased, StoreError, ValueError) as exc:
            moved.failed += 1
            say(f"failed: {name[:12]} ({type(exc).__name__})")
            continue
        moved.verified += 1
        if moved.seen % 100 == 0:
            say(f"{moved} so far")
    return moved


def copy_one(source: DocumentStore, target: DocumentStore, key: str) -> int:
    """Copy one document's name and ciphertext where the target has none: 1 when it was copied."""
    meta_key = meta_key_of(key)
    if not target.blobs.exists(meta_key) and (sealed := source.blobs.get_small(meta_key, META_BYTES)):
        target.blobs.put_new(meta_key, sealed)
    if target.blobs.exists(key):
        return 0
    src = source.blobs.reader(key)
    if src is None:
        raise DocumentNotFound(key.rpartition("/")[2])
    sink = target.blobs.sink(key.rpartition("objects/")[0])
    try:
        with src:
            for block in iter(partial(src.read, DEFAULT_CHUNK_SIZE), b""):
                sink.write(block)
        return int(sink.commit(key))
    finally:
        sink.abort()


def ring_for(store: DocumentStore, key: str) -> KeyRing:
    """The keys that open a stored key: its case's, or the master ring for the old shared store."""
    if not key.startswith("cases/"):
        return store.keyring
    case_key = store.case_keys.for_reading(key.split("/")[1])
    if case_key is None:
        raise IntegrityError("its case has no key")
    return case_key.ring


def verify(target: DocumentStore, key: str, *, named: bool) -> None:
    """Decrypt the target's copy whole, and open its name; IntegrityError otherwise.

    What fails is removed from the target, so that the next run copies it afresh.
    """
    ring = ring_for(target, key)
    shared_id = None if key.startswith("cases/") else key.rpartition("/")[2]
    src = target.blobs.reader(key)
    if src is None:
        raise DocumentNotFound(key.rpartition("/")[2])
    try:
        with src:
            for _ in decrypt_stream(src, ring, expected_sha256=shared_id):
                pass
    except IntegrityError:
        target.blobs.delete(key)
        raise
    meta_key = meta_key_of(key)
    if named:
        raw = target.blobs.get_small(meta_key, META_BYTES)
        try:
            if raw is None:
                raise IntegrityError("its name is missing")
            b"".join(decrypt_stream(io.BytesIO(raw), ring))
        except IntegrityError:
            target.blobs.delete(meta_key)
            raise
