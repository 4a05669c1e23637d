"""Where the document store's bytes live: a directory on this machine, or an S3 bucket.

The document store (runtime/documents.py) encrypts and names; a `Blobs` keeps what it is
given under a key and hands it back. A key is `cases/<case>/objects/<name>` (a document's
envelope ciphertext) or `cases/<case>/meta/<name>` (its sealed name), or the same without
`cases/<case>/` for a document stored before documents were kept per case; nothing a key
holds is ever written over: an object is created whole or not at all, and a second writer of
the same key is told it was first-come (`commit` and `put_new` answer False). A document's
key is named from its content's digest, known only once the last byte has gone in, so a
`BlobSink` learns its key at `commit`.

`open_blobs` picks the backend from `SMO_STORAGE_URL`: `s3://bucket[/prefix]?endpoint=…&region=…`
(runtime/s3.py) or a directory (a path, or `file:///path`), the embedded default for `smo dev`.

A store that cannot be used says which way: `StoreUnavailable` (unreachable, failing,
too slow: try again later) or `StoreRefused` (the credentials or permissions are wrong: an
operator's to fix). Neither message names a key or anything read from a document.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from security.envelope import IntegrityError

KINDS = ("objects", "meta", "cases")  # the top-level folders of a store


class StoreError(Exception):
    """The document store cannot be used now; the message says why, and where."""


class StoreUnavailable(StoreError):
    """The store did not answer, or answered that it is failing: try again later."""


class StoreRefused(StoreError):
    """The store refused the credentials or the permissions it was given."""


class BlobSink(Protocol):
    """One object on its way in, its key not known yet: written, then committed or aborted."""

    def write(self, data: bytes, /) -> int: ...

    def commit(self, key: str) -> bool:
        """Place what was written under `key`: False (nothing placed) when the key is taken."""
        ...

    def abort(self) -> None:
        """Drop what was written; harmless after `commit` and when called twice."""
        ...


class Blobs(Protocol):
    url: str  # where, for an operator (no secret)

    def check(self) -> None:
        """At start-up: reachable and writable with the credentials given, else a StoreError."""
        ...

    def sink(self, scope: str = "") -> BlobSink:
        """A new object's way in; `scope` is the prefix its key will have (parts kept beside it)."""
        ...

    def put_new(self, key: str, data: bytes) -> bool:
        """Write a small object where none is: whether this call wrote it."""
        ...

    def reader(self, key: str) -> BinaryIO | None:
        """The object's bytes as a stream (to close), or None when there is none."""
        ...

    def get_small(self, key: str, limit: int) -> bytes | None:
        """A small object whole (IntegrityError when larger than `limit`), or None."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens when there is none."""
        ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key that starts with `prefix` (`objects/`, `cases/<case>/`), in no particular order."""
        ...

    def forget(self, folder: str) -> None:
        """Remove what is left of an emptied folder (`cases/<case>/`): not even its name stays."""
        ...

    def close(self) -> None: ...


def open_blobs(url: str) -> Blobs:
    """The backend `url` names: `s3://…`, `file:///…` or a directory path."""
    if url.startswith("s3://"):
        from runtime.s3 import S3Blobs  # aiobotocore is loaded only by a store that uses it

        return S3Blobs.from_url(url)
    if url.startswith("file://"):
        return LocalBlobs(Path(url.removeprefix("file://")))
    if "://" in url:
        raise StoreError(f"SMO_STORAGE_URL: unknown scheme in {url.split('://')[0]!r}; use s3:// or file://")
    return LocalBlobs(Path(url))


class LocalSink:
    """Ciphertext into a private temporary file, linked into place at `commit`."""

    def __init__(self, blobs: LocalBlobs) -> None:
        self.blobs = blobs
        fd, spool = tempfile.mkstemp(dir=blobs.root / "tmp")
        self.tmp = Path(spool)
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes, /) -> int:
        return self.file.write(data)

    def commit(self, key: str) -> bool:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            return self.blobs.place(self.tmp, key)
        finally:
            self.abort()

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class LocalBlobs:
    """Objects under one root directory: `<root>/<folders of the key>/<first two hex digits>/<name>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        for place in (*KINDS, "tmp"):
            (root / place).mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        folders, _, name = key.rpartition("/")
        return self.root / folders / name[:2] / name

    def place(self, tmp: Path, key: str) -> bool:
        """Link a finished temporary file in as `key`: unlike a rename, never over another."""
        final = self.path_for(key)
        for _ in range(8):
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, final)
            except FileExistsError:
                return False
            except FileNotFoundError:
                continue  # its folder was removed a moment ago (the last object of it deleted)
            return True
        raise StoreUnavailable(f"the document store {self.root} keeps losing the folder of a new object")

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StoreRefused(f"the document store {self.root} is not writable")
        # Case ids differ by letter case: on a disk that does not, erasing one would erase both.
        fd, probe = tempfile.mkstemp(prefix="case-probe-", dir=self.root / "tmp")
        os.close(fd)
        try:
            if Path(probe).with_name(Path(probe).name.upper()).exists():
                raise StoreRefused(f"the document store {self.root} is on a disk that ignores letter case")
        finally:
            os.unlink(probe)

    def sink(self, scope: str = "") -> LocalSink:
        return LocalSink(self)

    def put_new(self, key: str, data: bytes) -> bool:
        sink = self.sink()
        try:
            sink.write(data)
            return sink.commit(key)
        finally:
            sink.abort()

    def reader(self, key: str) -> BinaryIO | None:
        try:
            return self.path_for(key).open("rb")
        except FileNotFoundError:
            return None

    def get_small(self, key: str, limit: int) -> bytes | None:
        src = self.reader(key)
        if src is None:
            return None
        with src:
            if os.fstat(src.fileno()).st_size > limit:
                raise IntegrityError(f"larger than {limit} bytes")
            return src.read()

    def exists(self, key: str) -> bool:
        return self.path_for(key).exists()

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        path.unlink(missing_ok=True)
        # An erased case leaves no folder named after it: empty folders go, up to the top ones.
        for folder in path.parents:
            if folder == self.root or folder.parent == self.root:
                break
            try:
                folder.rmdir()
            except OSError:
                break

    def keys(self, prefix: str) -> Iterator[str]:
        folders = prefix.rpartition("/")[0]
        for path in (self.root / folders).rglob("*"):
            parts = path.relative_to(self.root).parts
            if path.is_file() and len(parts) >= 3 and parts[0] != "tmp":
                key = "/".join((*parts[:-2], parts[-1]))
                if key.startswith(prefix):
                    yield key

    def forget(self, folder: str) -> None:
        # `delete` removed each emptied folder already; one emptied some other way goes now.
        path = self.root / folder.strip("/")
        if path.is_dir() and path != self.root and not any(p.is_file() for p in path.rglob("*")):
            shutil.rmtree(path)

    def close(self) -> None:
        return None
