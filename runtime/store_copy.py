"""Moving the documents to another store (`smo storage migrate --from URL --to URL`).

Each document is copied as it is stored (its envelope ciphertext, and its sealed name first, as
the store itself writes them: a document in place is never without its name), then verified in
the target by decrypting it whole and hashing the plaintext against its id, and its name by
opening it. Both stores take the same keys (SMO_DOCUMENT_KEYS): nothing is decrypted on the way.

Resumable: what the target already holds is verified, not copied again, and nothing is ever
written over, so a migration stopped anywhere (killed, the network gone) is run again to finish.
A copy that fails its check is removed from the target, so the next run copies it afresh. The
result counts the documents copied by this run, those verified in the target (all of them, when
it ends well) and those that failed; each failure is said by the first 12 digits of its id and
the kind of fault, never a name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from runtime.blobs import StoreError
from runtime.documents import META_BYTES, DocumentNotFound, DocumentStore
from security.envelope import DEFAULT_CHUNK_SIZE, IntegrityError


@dataclass
class Moved:
    copied: int = 0
    verified: int = 0
    failed: int = 0

    @property
    def seen(self) -> int:
        return self.verified + self.failed

    def __str__(self) -> str:
        return f"{self.seen} documents: copied {self.copied}, verified {self.verified}, failed {self.failed}"


def migrate(source: DocumentStore, target: DocumentStore, say: Callable[[str], object] = print) -> Moved:
    """Copy every document of `source` that `target` lacks, and verify each one in `target`."""
    moved = Moved()
    for key in source.blobs.keys("objects"):
        doc_id = key.removeprefix("objects/")
        try:
            moved.copied += copy_one(source, target, doc_id)
            verify(target, doc_id, named=source.blobs.exists(source.meta_key(doc_id)))
        except (IntegrityError, DocumentNotFound, StoreError, ValueError) as exc:
            moved.failed += 1
            say(f"failed: {doc_id[:12]} ({type(exc).__name__})")
            continue
        moved.verified += 1
        if moved.seen % 100 == 0:
            say(f"{moved} so far")
    return moved


def copy_one(source: DocumentStore, target: DocumentStore, doc_id: str) -> int:
    """Copy one document's name and ciphertext where the target has none: 1 when it was copied."""
    meta_key, key = source.meta_key(doc_id), source.key_for(doc_id)
    if not target.blobs.exists(meta_key) and (sealed := source.blobs.get_small(meta_key, META_BYTES)):
        target.blobs.put_new(meta_key, sealed)
    if target.blobs.exists(key):
        return 0
    src = source.blobs.reader(key)
    if src is None:
        raise DocumentNotFound(doc_id)
    sink = target.blobs.sink()
    try:
        with src:
            for block in iter(partial(src.read, DEFAULT_CHUNK_SIZE), b""):
                sink.write(block)
        return int(sink.commit(key))
    finally:
        sink.abort()


def verify(target: DocumentStore, doc_id: str, *, named: bool) -> None:
    """Decrypt the target's copy whole against its id, and open its name; IntegrityError otherwise.

    What fails is removed from the target, so that the next run copies it afresh.
    """
    try:
        for _ in target.open(doc_id):
            pass
    except IntegrityError:
        target.delete(doc_id)
        raise
    if named and target.describe(doc_id) is None:
        target.blobs.delete(target.meta_key(doc_id))
        raise IntegrityError("its name cannot be read")
