"""The completeness check: what the program's "complete medical records" lacks, item by item.

Both programs count the SLA from complete records, so the check runs before the clock can
start: every required type received (or waived), no record older than its type's limit,
and every document in English or with an English translation linked to it. Each unmet item
has a code the desk can waive with a reason (`smo records complete --waive ITEM`):

- a record type (`imaging`): none received;
- `translation:<doc>`: the document (first 12 hex of its id) is not in English, untranslated;
- `recent:<doc>`: the document is dated older than its type's limit.

A document that declared no language is one from before languages were declared: English.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from models.case import DocumentRef, RecordType
from models.case_terms import ProgramTerms

ENGLISH = "en"


def short(doc_id: str) -> str:
    return doc_id[:12]


def unmet(
    docs: Iterable[DocumentRef],
    terms: ProgramTerms,
    today: date,
    waived: Iterable[RecordType] = (),
    waived_checks: Iterable[str] = (),
) -> list[str]:
    """The check's unmet items, in a stable order: missing types first, then each document's."""
    documents = [d for d in docs if d.record_type is not RecordType.SMO_REPORT]
    translated = {d.translation_of for d in documents if d.translation_of is not None}
    originals = [d for d in documents if d.translation_of is None]
    received = {d.record_type for d in originals}
    skip_types, skip_checks = set(waived), set(waived_checks)
    items = [t.value for t in terms.required_records if t not in received and t not in skip_types]
    for doc in originals:
        if terms.english_required and doc.language not in (None, ENGLISH) and doc.doc_id not in translated:
            items.append(f"translation:{short(doc.doc_id)}")
        limit = terms.recency_days.get(doc.record_type)
        if limit is not None and doc.dated is not None and (today - doc.dated).days > limit:
            items.append(f"recent:{short(doc.doc_id)}")
    return [item for item in items if item not in skip_checks]
