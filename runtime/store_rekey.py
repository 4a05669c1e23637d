"""Rewriting the old shared store's documents under their cases' own keys (`smo storage rekey`).

Before case keys, a document was `objects/<sha256>` under the master ring, shared by every case
that sent the same bytes; migration 0010 marked the cases of that time `legacy`. Rekeying a
legacy case reads each of its documents (the ones the case DB registered for it, and the
details sheet the case names) through the old store, checks it against its id, writes it
again under the case's key with the name it came with, and then marks the case rekeyed: from
then on it reads only its own objects, and erasing it is real.

A running case is left as it is: it may hold documents it has not registered yet. Once no
legacy case is left, nothing can name a shared object any more, and `prune` removes them
(asked for explicitly: a store pointed at the wrong case DB would otherwise lose them all).
Run again after an interruption, it finishes: a document already rewritten is not written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from models.db import DocumentRow, table
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
    pruned: int = 0  # shared objects removed once no legacy case was left

    def __str__(self) -> str:
        return (
            f"{self.cases} cases rekeyed: {self.copied} documents rewritten, {self.missing} missing, "
            f"{self.failed} failed; {self.running} running cases left for later; "
            f"{self.pruned} shared objects removed"
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


def rekey(
    store: DocumentStore,
    sheets: Callable[[str], str | None],
    is_running: Callable[[str], bool],
    say: Callable[[str], object] = print,
    *,
    prune: bool = False,
) -> Rekeyed:
    """Rekey every legacy case; `sheets` names a case's details sheet (None: none known)."""
    done = Rekeyed()
    for case_id in store.case_keys.legacy_cases():
        if is_running(case_id):
            done.running += 1
            continue
        sheet = sheets(case_id)
        ids: Iterable[str] = dict.fromkeys([*registered(store, case_id), *([sheet] if sheet else [])])
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
            done.cases += 1
    if prune and not store.case_keys.legacy_cases():
        for kind in ("objects/", "meta/"):
            for key in list(store.blobs.keys(kind)):
                store.blobs.delete(key)
                done.pruned += kind == "objects/"
    return done
