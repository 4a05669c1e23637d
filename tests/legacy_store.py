"""Documents as the store kept them before case keys, for the tests of what still reads them.

Then, a document was `objects/<sha256>` (its name `meta/<sha256>`) under the master ring,
shared by every case that sent the same bytes; migration 0010 marked every case of that time
`legacy` in `case_keys`.
"""

from __future__ import annotations

import io
from typing import BinaryIO, cast

from models.db import insert_new, utcnow
from models.retention_tables import CaseKeyRow
from runtime.documents import DocumentMeta, DocumentStore, media_type_for
from security.envelope import Encryptor


def _sealed(store: DocumentStore, data: bytes) -> tuple[str, bytes]:
    out = io.BytesIO()
    encryptor = Encryptor(cast(BinaryIO, out), store.keyring)
    encryptor.write(data)
    return encryptor.finish().sha256, out.getvalue()


def legacy_case(store: DocumentStore, case_id: str) -> None:
    """A case the case DB held when migration 0010 ran."""
    with store.case_keys.engine.begin() as conn:
        row = {"case_id": case_id, "wrapped": None, "legacy": True, "created_at": utcnow()}
        insert_new(conn, CaseKeyRow, [row], ["case_id"])


def legacy_document(store: DocumentStore, case_id: str, data: bytes, name: str | None = None) -> str:
    """`data` stored the old way for `case_id` (a legacy case): its id."""
    legacy_case(store, case_id)
    doc_id, sealed = _sealed(store, data)
    store.blobs.put_new(f"objects/{doc_id}", sealed)
    if name is not None:
        meta = DocumentMeta(doc_id=doc_id, name=name, media_type=media_type_for(name), case_id=case_id)
        store.blobs.put_new(f"meta/{doc_id}", _sealed(store, meta.model_dump_json().encode())[1])
    return doc_id
