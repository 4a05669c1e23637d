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

A file's own name passes the same checks and is then kept with it, encrypted in the store
(runtime/documents.py), with the case it came for, so that its download for that case is
called what the sender called it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from models.case import RecordType
from runtime.clients import client_of
from runtime.documents import DocumentStore, StoredDocument
from runtime.i18n import N_
from service import discard
from web.errors import WebError

CHUNK = 256 << 10
# A form field is a token, a date, an address or a sentence of at most 500 characters, which in
# Khmer script is up to 1,500 bytes: a longer value is cut here and then refused by its model.
FIELD_BYTES = 4096
NAME_CHARS = 255
_FORBIDDEN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
# Invisible characters that are not controls: Khmer and other scripts write with the
# zero-width space and joiners; the rest of their class (right-to-left overrides, the byte
# order mark) only hides what a name is.
_INVISIBLE_LETTERS = frozenset("\u200b\u200c\u200d")
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # Cs: bytes that were not UTF-8
# What a member may upload: the report is the specialist's, the signed consent form the desk's.
MEMBER_RECORD_TYPES = [t for t in RecordType if t not in (RecordType.SMO_REPORT, RecordType.CONSENT)]


@dataclass(frozen=True)
class Wording:
    """What an edge says when a check refuses an upload: the API to a program, a page to a person."""

    not_multipart: str
    incomplete: str  # a part other than the field or the file the form sends next
    malformed: str
    file_name: str = ""  # empty: the check's own sentence
    record_type: str = ""
    empty: str = "a file part is empty; send the file's content"
    # A browser sends an empty part without a name for a file input left empty: not a document.
    skip_unnamed: bool = False


API = Wording(
    not_multipart="send the files as multipart/form-data parts named 'file'",
    incomplete="send the files as multipart/form-data parts named 'file'",
    malformed="the multipart body is malformed",
)
# A page's words are the catalog's: the portal shows each in the reader's language.
PAGES = Wording(
    not_multipart=N_("Send the documents with the upload form."),
    incomplete=N_("The form was sent incompletely. Reload the page and try again."),
    malformed=N_("The upload was malformed. Please try again."),
    file_name=N_(
        "That file name cannot be used. Give the file a short name of letters and numbers,"
        " then send it again."
    ),
    record_type=N_("Choose what kind of document this is."),
    empty=N_("One of the files is empty. Choose the file again; nothing was kept."),
    skip_unnamed=True,
)


def file_name_problem(name: str | None) -> str | None:
    """Why a part's file name is refused, or None; the name itself is never part of the answer.

    A name is a name, not a path: no separator, no `.` or `..` alone or at its start, no
    control or hidden character, and none of these %-escaped either (decoded twice, for
    `%252f`). Dots inside a name are ordinary: `biopsy..v2.pdf` is a file, not a way out.
    """
    if name is None or name == "":
        return None
    if len(kept_name(name)) > NAME_CHARS:
        return f"a file name may have at most {NAME_CHARS} characters"
    spellings = [name]
    for _ in range(2):
        spellings.append(unquote(spellings[-1], errors="replace"))
    for spelling in spellings:
        if spelling == "." or spelling.startswith(".."):
            return "a file name may not be '.' or '..', nor start with '..'"
        if _FORBIDDEN_NAME.search(spelling):
            return "a file name may not contain '/', '\\', NUL or control characters"
        if any(unicodedata.category(ch) in _HIDDEN and ch not in _INVISIBLE_LETTERS for ch in spelling):
            return "a file name may not contain control or formatting characters"
    return None


def kept_name(name: str) -> str:
    """The name to keep for a checked file name: as the sender's computer called it.

    Form senders may %-escape a name (RFC 7578 4.2: aiohttp escapes all of it, browsers a
    quote and a line break), so escapes that decode to UTF-8 are decoded once.
    """
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        return name


class MultipartForm:
    """One multipart body, read in the form's order: its fields first, then its file parts."""

    def __init__(self, reader: MultipartReader, wording: Wording, client: str = "") -> None:
        self.reader = reader
        self.wording = wording
        self._held: BodyPartReader | None = None  # a part read ahead by `optional_field`
        self.client = client  # whose share of the store's threads the files are written with

    @classmethod
    async def of(cls, request: web.Request, wording: Wording) -> MultipartForm:
        try:
            return cls(await request.multipart(), wording, client_of(request))
        except (AssertionError, ValueError, KeyError):
            raise WebError(422, wording.not_multipart) from None

    async def field(self, name: str, limit: int = 0) -> str:
        """The next part, which must be the field `name`: its first FIELD_BYTES, as text.

        With a `limit`, a longer text (a report's summary) is read whole, chunk by chunk, and one
        past the limit is refused (422) before more of it is read."""
        try:
            part = await self._next()
            if not isinstance(part, BodyPartReader) or part.name != name:
                raise WebError(422, self.wording.incomplete)
            if not limit:
                return await _text(part)
            data = bytearray()
            while chunk := await part.read_chunk():
                data += chunk
                if len(data) > limit:
                    raise WebError(422, f"{name}: longer than {limit} bytes")
            return bytes(data).decode("utf-8", errors="replace")
        except (ValueError, HttpProcessingError):
            raise WebError(422, self.wording.malformed) from None

    async def _next(self) -> object:
        held, self._held = self._held, None
        return held if held is not None else await self.reader.next()

    async def optional_field(self, name: str, limit: int = 0) -> str | None:
        """The next part's text if it is the field `name` (read as `field` reads it); else None,
        and the part stays next."""
        try:
            part = await self._next()
        except (ValueError, HttpProcessingError):
            raise WebError(422, self.wording.malformed) from None
        if isinstance(part, BodyPartReader) and part.name == name:
            self._held = part
            return await self.field(name, limit)
        if isinstance(part, BodyPartReader):
            self._held = part
        return None

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
        case_id: str,
        most: int | None = None,
        too_many: str = "",
        least: int = 0,
        too_few: str = "",
    ) -> list[StoredDocument]:
        """Stream each remaining part (each a `file`) into the store; on any refusal remove them again.

        For a form whose files are all of one kind (its type, if any, is a field read before).
        Every check on a part comes before a byte of it is stored, so a refused document
        leaves nothing behind. `case_id` is the case the files are for: their names are its own.
        """
        pairs = await self._store(
            store, None, case_id, most=most, too_many=too_many, least=least, too_few=too_few
        )
        return [doc for doc, _ in pairs]

    async def store_typed_files(
        self,
        store: DocumentStore,
        offered: Collection[RecordType],
        *,
        case_id: str,
        most: int | None = None,
        too_many: str = "",
        least: int = 0,
        too_few: str = "",
    ) -> list[tuple[StoredDocument, RecordType]]:
        """Stream the remaining parts, each file with its own record type, into the store.

        The form sends, after its other fields and in this order, for each document:

            record_type   a field: a `RecordType` value among `offered`
            file          the file part (or several: each takes the type sent last before it)

        and again for the next document: `record_type, file, record_type, file, ...`. A file
        input left empty (a part without a file name, as a browser sends it) is skipped with
        its type unchecked, so a form may offer more rows than the member fills. Refused
        (422, nothing kept): a file before any `record_type`, a `record_type` with no file
        after it, a type the form does not offer, and every check `store_files` makes (the
        file name, an empty file, `most` and `least`, counted in files).
        Returns each stored document with its type, in the form's order.
        """
        pairs = await self._store(
            store, offered, case_id, most=most, too_many=too_many, least=least, too_few=too_few
        )
        return [(doc, kind) for doc, kind in pairs if kind is not None]

    async def _store(
        self,
        store: DocumentStore,
        offered: Collection[RecordType] | None,
        case_id: str,
        *,
        most: int | None,
        too_many: str,
        least: int,
        too_few: str,
    ) -> list[tuple[StoredDocument, RecordType | None]]:
        """The file parts to the end of the body, with their types when `offered` is given."""
        stored: list[tuple[StoredDocument, RecordType | None]] = []
        asked: str | None = None  # the record type sent last, for the file parts after it
        unclaimed = False  # a record type no file part has followed yet
        try:
            while (part := await self._next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise WebError(422, self.wording.incomplete)
                if offered is not None and part.name == "record_type":
                    if unclaimed:
                        raise WebError(422, self.wording.incomplete)
                    asked, unclaimed = await _text(part), True
                    continue
                if part.name != "file":
                    raise WebError(422, self.wording.incomplete)
                unclaimed = False
                if not part.filename and self.wording.skip_unnamed:
                    continue
                kind = None if offered is None else self.record_type(asked or "", offered)
                if (problem := file_name_problem(part.filename)) is not None:
                    raise WebError(422, self.wording.file_name or problem)
                if most is not None and len(stored) >= most:
                    raise WebError(422, too_many)
                name = kept_name(part.filename) if part.filename else None
                read = partial(part.read_chunk, CHUNK)
                doc = await store.receive(read, client=self.client, name=name, case_id=case_id)
                stored.append((doc, kind))
                if stored[-1][0].size == 0:  # an empty part is no record (and the schema says so)
                    raise WebError(422, self.wording.empty)
            if unclaimed:
                raise WebError(422, self.wording.incomplete)
            if len(stored) < least:
                raise WebError(422, too_few)
        except BaseException as exc:
            await discard(store, [doc for doc, _ in stored])
            if isinstance(exc, (ValueError, HttpProcessingError)):  # a malformed body or part header
                raise WebError(422, self.wording.malformed) from None
            raise
        return stored


async def _text(part: BodyPartReader) -> str:
    """A field's value: its first FIELD_BYTES, as text."""
    value = await part.read(decode=True)  # aiohttp bounds it by the app's client_max_size
    return value[:FIELD_BYTES].decode("utf-8", errors="replace")
