"""How a document's bytes stream into and out of an S3 bucket (runtime/s3.py), part by part.

`S3Sink` takes the ciphertext as it is encrypted. What fits in one part (`PART`) is written
whole when the document's key is known; past that, it goes out as a multipart upload of a
key of its own (`blobs/<random>`), one part in memory while the one before it is sent, and at
`commit` the document's key is written empty, naming that blob (`x-amz-meta-smo-blob`). An
upload that fails or stops is aborted, and a blob whose document was not written is
removed again. `S3Body` reads a response body from any thread, one run on the client's loop
for each read.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import logging
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runtime.blobs import StoreError, StoreUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

    from runtime.s3 import S3Blobs

_log = logging.getLogger(__name__)

PART = 8 << 20  # S3 wants parts of at least 5 MiB (the last one excepted)
BLOB_META = "smo-blob"  # the metadata naming a large document's blob


class S3Body(io.RawIOBase):
    """A response body read from any thread: each read is run on the store's loop."""

    def __init__(self, blobs: S3Blobs, body: Any) -> None:
        self.blobs = blobs
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        async def fill(_client: S3Client) -> bytes:
            parts: list[bytes] = []
            wanted = len(buffer)
            while wanted and (chunk := await self.body.read(wanted)):
                parts.append(chunk)
                wanted -= len(chunk)
            return b"".join(parts)

        data = self.blobs.run(fill, "reading a document")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.blobs.later(self.body.close)
        super().close()


class S3Sink:
    """A document's ciphertext on its way into the bucket, streamed part by part."""

    def __init__(self, blobs: S3Blobs, scope: str = "") -> None:
        self.blobs = blobs
        self.scope = scope  # the prefix of the document's own key: its blob is kept beside it
        self.buffer = bytearray()
        self.blob = ""  # the multipart upload's key, once the first part is full
        self.upload_id = ""
        self.parts: list[CompletedPartTypeDef] = []
        self.sending: concurrent.futures.Future[CompletedPartTypeDef] | None = None
        self.completed = False
        self.unreachable = False  # the store stopped answering: dropping the upload is not waited for

    def write(self, data: bytes, /) -> int:
        self.buffer += data
        if len(self.buffer) >= PART:
            with self._noting():
                self._send()
        return len(data)

    @contextlib.contextmanager
    def _noting(self) -> Iterator[None]:
        try:
            yield
        except StoreUnavailable:
            self.unreachable = True
            raise

    def _send(self) -> None:
        """Hand the buffer over as the next part, once the part before it has arrived."""
        if not self.upload_id:
            self.blob = f"{self.scope}blobs/{uuid.uuid4().hex}"
            self.upload_id = self.blobs.run(self._begin, "starting an upload")
        self._sent()
        body, number, self.buffer = bytes(self.buffer), len(self.parts) + 1, bytearray()

        async def part(client: S3Client) -> CompletedPartTypeDef:
            answer = await client.upload_part(
                Bucket=self.blobs.bucket,
                Key=self.blobs.key(self.blob),
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
            )
            return {"ETag": answer["ETag"], "PartNumber": number}

        self.sending = self.blobs.submit(part, "uploading a document")

    def _sent(self) -> None:
        if self.sending is not None:
            sending, self.sending = self.sending, None
            self.parts.append(sending.result())

    async def _begin(self, client: S3Client) -> str:
        answer = await client.create_multipart_upload(Bucket=self.blobs.bucket, Key=self.blobs.key(self.blob))
        return answer["UploadId"]

    def commit(self, key: str) -> bool:
        try:
            with self._noting():
                return self._commit(key)
        finally:
            self.abort()

    def _commit(self, key: str) -> bool:
        if not self.upload_id:
            return self.blobs.put_new(key, bytes(self.buffer))
        if self.buffer:
            self._send()
        self._sent()
        self.blobs.run(self._complete, "finishing an upload")
        self.completed = True
        if self.blobs.put_new(key, b"", blob=self.blob):
            self.blob = ""  # the document's now
            return True
        return False

    async def _complete(self, client: S3Client) -> None:
        await client.complete_multipart_upload(
            Bucket=self.blobs.bucket,
            Key=self.blobs.key(self.blob),
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
            IfNoneMatch="*",
        )

    def abort(self) -> None:
        """Drop the parts sent (or the blob made of them) unless a document holds them."""
        self.buffer = bytearray()
        if self.sending is not None:
            self.sending.cancel()
            with contextlib.suppress(Exception):
                self.sending.result()
            self.sending = None
        blob, upload_id, self.blob, self.upload_id = self.blob, self.upload_id, "", ""
        if not blob:
            return
        completed = self.completed

        async def drop(client: S3Client) -> None:
            if completed:
                await client.delete_object(Bucket=self.blobs.bucket, Key=self.blobs.key(blob))
            else:
                await client.abort_multipart_upload(
                    Bucket=self.blobs.bucket, Key=self.blobs.key(blob), UploadId=upload_id
                )

        dropping = self.blobs.submit(drop, "dropping an upload")
        dropping.add_done_callback(_left_over)
        if not self.unreachable:  # else the caller hears of the outage now, not after more retries
            with contextlib.suppress(StoreError):
                dropping.result()


def _left_over(dropping: concurrent.futures.Future[None]) -> None:
    if not dropping.cancelled() and (exc := dropping.exception()) is not None:
        _log.warning("document store: an unfinished upload is left to the bucket's lifecycle (%s)", exc)
