"""Rewriting the old shared store's documents under their cases' own keys (`smo storage rekey`).

Before case keys, a document was `objects/<sha256>` under the master ring, shared by every case
that sent the same bytes; migration 0010 marked the cases of that time `legacy`. Rekeying a
legacy case reads each of its documents (the ones the case DB registered for it, and the
details sheet the case names) through the old store, checks it against its id, writes it
again under the case's key with the name it came with, and then marks the case rekeyed: from
then on it reads only its own objects, and erasing it is real.

A running case is left as it is: it may hold documents it has not registered yet. A shared
object goes only once what it held is under its case's own key and no legacy case may still
read it: a store pointed at the wrong case DB loses nothing (no case there registers its
objects). Run again after an interruption, it finishes: a document already rewritten is not
written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from models.db import DocumentRow, table
from models.retention_tables import CaseKeyRow
from runtime.blobs import StoreError
from runtime.documents import DocumentNotFound, DocumentStore, DocumentWriter
from security.envelope import IntegrityError


@dataclass
class Rekeyed:
    cases: int = 0  # legacy cases finished by this run
    copied: int = 0  # documents rewritten under their case's key
    missing: int = 0  # documents a case names that neither store holds
    failed: int = 0  # documents that failed their check (the case stays legacy)
    running: int = 0  # legacy cases left for a run after they close
    pruned: int = 0  # shared objects removed: rewritten, and no legacy case may read them
    kept: int = 0  # shared objects left after a prune: no case registers them, or one still may

    def __str__(self) -> str:
        return (
            f"{self.cases} cases rekeyed: {self.copied} documents rewritten, {self.missing} missing, "
            f"{self.failed} failed; {self.running} running cases left for later; "
            f"{self.pruned} shared objects removed, {self.kept} kept"
        )


def registered(store: DocumentStore, case_id: str) -> list[str]:
    documents = table(DocumentRow)
    with store.case_keys.engine.connect() as conn:
        return list(conn.scalars(select(documents.c.doc_id).where(documents.c.case_id == case_id)))


def rewrite(store: DocumentStore, case_id: str, doc_id: str) -> bool:
    """One shared document under the case's own key: whether it was written (False: it was)."""
    key = store.case_keys.for_writing(case_id)
    if store.blobs.exists(store.key_for(key, doc_id)):
        return False
    if not store.blobs.exists(f"objects/{doc_id}"):
        raise DocumentNotFound(doc_id)
    meta = store.describe(case_id, doc_id)
    writer = DocumentWriter(store, case_id, None if meta is None else meta.name)
    try:
        for chunk in store.open(case_id, doc_id):  # IntegrityError at the end if it is not `doc_id`
            writer.write(chunk)
        return writer.commit().created
    finally:
        writer.abort()


def still_needed(store: DocumentStore, sheets: Callable[[str], str | None]) -> set[str]:
    """The shared documents a legacy case may still read: what it registered, and its sheet."""
    needed: set[str] = set()
    for case_id in store.case_keys.legacy_cases():
        sheet = sheets(case_id)
        needed.update(registered(store, case_id), [sheet] if sheet else [])
    return needed


def rekeyed_ids(store: DocumentStore) -> set[str]:
    """The documents cases no longer legacy registered: each is under its case's key now."""
    documents, keys = table(DocumentRow), table(CaseKeyRow)
    own = select(keys.c.case_id).where(keys.c.legacy.is_(False), keys.c.wrapped.is_not(None))
    with store.case_keys.engine.connect() as conn:
        return set(conn.scalars(select(documents.c.doc_id).where(documents.c.case_id.in_(own))))


def remove_shared(store: DocumentStore, doc_ids: Iterable[str]) -> int:
    removed = 0
    for doc_id in doc_ids:
        removed += store.blobs.exists(f"objects/{doc_id}")
        store.blobs.delete(f"objects/{doc_id}")
        store.blobs.delete(f"meta/{doc_id}")
    return removed


def rekey(
    store: DocumentStore,
    sheets: Callable[[str], str | None],
    is_running: Callable[[str], bool],
    say: Callable[[str], object] = print,
    *,
    prune: bool = False,
) -> Rekeyed:
    """Rekey every legacy case; `sheets` names a case's details sheet (None: none known).

    The shared copies of what this run rewrote go as soon as no legacy case may still read
    them (so an erased case leaves none behind). `prune` removes, besides, every shared object
    that a case no longer legacy registered and no legacy case needs (left by earlier runs);
    one no case registers (a sheet, a case this case DB does not know) is kept and counted.
    """
    done = Rekeyed()
    rewritten: set[str] = set()
    for case_id in store.case_keys.legacy_cases():
        if is_running(case_id):
            done.running += 1
            continue
        sheet = sheets(case_id)
        ids = list(dict.fromkeys([*registered(store, case_id), *([sheet] if sheet else [])]))
        failed = 0
        for doc_id in ids:
            try:
                done.copied += rewrite(store, case_id, doc_id)
            except DocumentNotFound:
                done.missing += 1
            except (IntegrityError, StoreError) as exc:
                failed += 1
                say(f"failed: case {case_id}, document {doc_id[:12]} ({type(exc).__name__})")
        done.failed += failed
        if failed == 0:
            store.case_keys.mark_rekeyed(case_id)
            rewritten.update(ids)
            done.cases += 1
    needed = still_needed(store, sheets)
    done.pruned += remove_shared(store, rewritten - needed)
    if prune:
        done.pruned += remove_shared(store, rekeyed_ids(store) - needed)
        done.kept = sum(1 for _ in store.blobs.keys("objects/"))
    return done
