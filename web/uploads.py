"""Uploads: one streaming multipart reader with one set of checks, for the API and every portal form.

A form's fields come first and are read small; then each file part goes chunk by chunk into
the encrypted store (runtime/documents.py). Nothing is spooled: the next chunk is read from the
request (on the event loop) only when the store has written the last one (on its own threads),
so server memory stays at a few chunks whatever the upload's size, only ciphertext touches the
disk, and an upload whose body stops arriving holds no thread while the server waits for it
(web/transport.py drops it after the read timeout).

The checks are the same for every edge: a file name that could mean a path or hide
characters (escaped or not), a part beyond the most the upload may carry (the API's
per-call limit, what is left of the program's document cap), a record type the form does
not offer, a field longer than a form's field. A refusal is a `WebError` in the edge's own
words (`Wording`), and removes what the upload had stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import partial

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from models.case import RecordType
from runtime.clients import client_of
from runtime.documents import DocumentStore, StoredDocument
from service import discard
from web.errors import WebError

CHUNK = 256 << 10
# A form field is a token, a date, an address or a sentence of at most 500 characters, which in
# Khmer script is up to 1,500 bytes: a longer value is cut here and then refused by its model.
FIELD_BYTES = 4096
_FORBIDDEN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_ESCAPED_PATH = re.compile(r"%(2f|5c|00)", re.IGNORECASE)  # a path hidden in %-escapes is a path too
# What a member may upload: the report is the specialist's, the signed consent form the desk's.
MEMBER_RECORD_TYPES = [t for t in RecordType if t not in (RecordType.SMO_REPORT, RecordType.CONSENT)]


@dataclass(frozen=True)
class Wording:
    """What an edge says when a check refuses an upload: the API to a program, a page to a person."""

    not_multipart: str
    incomplete: str  # a part other than the field or the file the form sends next
    malformed: str
    file_name: str  # `{reason}` is the check's own sentence
    record_type: str = ""
    empty: str = "a file part is empty; send the file's content"
    # A browser sends an empty part without a name for a file input left empty: not a document.
    skip_unnamed: bool = False


API = Wording(
    not_multipart="send the files as multipart/form-data parts named 'file'",
    incomplete="send the files as multipart/form-data parts named 'file'",
    malformed="the multipart body is malformed",
    file_name="{reason}",
)
PAGES = Wording(
    not_multipart="Send the documents with the upload form.",
    incomplete="The form was sent incompletely. Reload the page and try again.",
    malformed="The upload was malformed. Please try again.",
    file_name="That file name cannot be used: {reason}.",
    record_type="Choose what kind of document this is.",
    empty="One of the files is empty. Choose the file again; nothing was kept.",
    skip_unnamed=True,
)


def file_name_problem(name: str | None) -> str | None:
    """Why a part's file name is refused, or None; the name itself is never stored."""
    if name is None or name == "":
        return None
    if len(name) > 255:
        return "a file name may have at most 255 characters"
    if ".." in name or _FORBIDDEN_NAME.search(name):
        return "a file name may not contain '..', '/', '\\', NUL or control characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        return "a file name may not contain control or formatting characters"
    if _ESCAPED_PATH.search(name):
        return "a file name may not contain '/', '\\' or NUL, escaped or not"
    return None


class MultipartForm:
    """One multipart body, read in the form's order: its fields first, then its file parts."""

    def __init__(self, reader: MultipartReader, wording: Wording, client: str = "") -> None:
        self.reader = reader
        self.wording = wording
        self.client = client  # whose share of the store's threads the files are written with

    @classmethod
    async def of(cls, request: web.Request, wording: Wording) -> MultipartForm:
        try:
            return cls(await request.multipart(), wording, client_of(request))
        except (AssertionError, ValueError, KeyError):
            raise WebError(422, wording.not_multipart) from None

    async def field(self, name: str) -> str:
        """The next part, which must be the field `name`: its first FIELD_BYTES, as text."""
        try:
            part = await self.reader.next()
            if not isinstance(part, BodyPartReader) or part.name != name:
                raise WebError(422, self.wording.incomplete)
            value = await part.read(decode=True)  # aiohttp bounds it by the app's client_max_size
        except (ValueError, HttpProcessingError):
            raise WebError(422, self.wording.malformed) from None
        return value[:FIELD_BYTES].decode("utf-8", errors="replace")

    def record_type(self, value: str, offered: Collection[RecordType]) -> RecordType:
        """The record type a form's field names, if the form offers it."""
        try:
            record_type = RecordType(value)
        except ValueError:
            raise WebError(422, self.wording.record_type) from None
        if record_type not in offered:
            raise WebError(422, self.wording.record_type)
        return record_type

    async def store_files(
        self,
        store: DocumentStore,
        *,
        most: int | None = None,
        too_many: str = "",
        least: int = 0,
        too_few: str = "",
    ) -> list[StoredDocument]:
        """Stream each remaining part (each a `file`) into the store; on any refusal remove them again.

        Every check on a part comes before a byte of it is stored, so a refused document
        leaves nothing behind.
        """
        stored: list[StoredDocument] = []
        try:
            while (part := await self.reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or part.name != "file":
                    raise WebError(422, self.wording.incomplete)
                if not part.filename and self.wording.skip_unnamed:
                    continue
                if (problem := file_name_problem(part.filename)) is not None:
                    raise WebError(422, self.wording.file_name.format(reason=problem))
                if most is not None and len(stored) >= most:
                    raise WebError(422, too_many)
                stored.append(await store.receive(partial(part.read_chunk, CHUNK), client=self.client))
                if stored[-1].size == 0:  # an empty part is no record (and the schema says so)
                    raise WebError(422, self.wording.empty)
            if len(stored) < least:
                raise WebError(422, too_few)
        except BaseException as exc:
            await discard(store, stored)
            if isinstance(exc, (ValueError, HttpProcessingError)):  # a malformed body or part header
                raise WebError(422, self.wording.malformed) from None
            raise
        return stored
