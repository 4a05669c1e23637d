"""The document store's bytes in an S3 bucket (SeaweedFS, MinIO, AWS S3), through aiobotocore.

`SMO_STORAGE_URL=s3://bucket[/prefix]?endpoint=http://127.0.0.1:8333&region=us-east-1`; the
credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_PROFILE, …), never from the URL. With an endpoint the bucket is
addressed by path (`addressing=virtual` in the URL to change it), as S3 servers of one's own
expect. `check` creates the bucket when it is missing.

Every object is written with `If-None-Match: *`: nothing is ever written over, and of two
writers of the same key the second is told so. A small document (its ciphertext within one
part, `PART`) is one PutObject of `objects/<sha256>`. A larger one is streamed part by part as
it is encrypted, into a multipart upload of a key of its own (`blobs/<random>`: a document's
key is known only after its last byte); then `objects/<sha256>` is written empty, naming that
blob in its metadata (`x-amz-meta-smo-blob`). Readers follow the name. An upload that fails
or stops is aborted, and a blob whose document is not written is removed: nothing
half-written is ever under `objects/`. (Where the store itself is unreachable the abort
cannot reach it either: a bucket lifecycle rule that aborts incomplete multipart uploads
after a day clears those.) At most two parts of one upload are in memory, one of them on
its way out, so memory stays flat whatever the size.

aiobotocore's client belongs to one event loop; the store is called from many (the web
edge's, the worker's) and from threads (`asyncio.to_thread`, the store's own pool). So the
client lives on an event loop of its own, on a daemon thread, and every call is handed to it
and waited for: a store call blocks its thread as a disk write would, and never an event
loop (unless it is called there, as it never is).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import io
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from runtime.blobs import StoreError, StoreRefused, StoreUnavailable
from runtime.s3_stream import BLOB_META, S3Body, S3Sink
from security.envelope import IntegrityError

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import CreateBucketConfigurationTypeDef

_log = logging.getLogger(__name__)
# It says where it found the credentials each time a client starts: noise in the service's log.
logging.getLogger("aiobotocore.credentials").setLevel(logging.WARNING)
T = TypeVar("T")

TAKEN = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
MISSING = {"NoSuchKey", "NotFound", "404"}
_BUSY = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "OperationAborted"}


class _Loop:
    """An event loop on a daemon thread of its own: where the client and its connections live."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smo-s3", daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a store call made on the store's own loop would wait for itself")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


class S3Blobs:
    """Objects in one bucket, under an optional prefix; keys as runtime/blobs.py names them."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        region: str | None = None,
        addressing: str | None = None,
        url: str = "",
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint = endpoint
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.region = region or "us-east-1"
        self.addressing = addressing or ("path" if endpoint else "auto")
        self.url = url or f"s3://{bucket}/{self.prefix}"
        self._start = threading.Lock()
        self._loop: _Loop | None = None
        self._client: S3Client | None = None
        self._exit = contextlib.AsyncExitStack()

    @classmethod
    def from_url(cls, url: str) -> S3Blobs:
        parts = urlsplit(url)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region", "addressing"}
        if not parts.netloc or unknown:
            raise StoreError(
                "SMO_STORAGE_URL: write s3://bucket[/prefix]?endpoint=URL&region=NAME"
                + (f" (no such setting: {', '.join(sorted(unknown))})" if unknown else "")
            )
        if query.get("addressing", "path") not in ("path", "virtual", "auto"):
            raise StoreError("SMO_STORAGE_URL: addressing is path, virtual or auto")
        where = f"s3://{parts.netloc}{parts.path}"
        where += f" at {query['endpoint']}" if "endpoint" in query else ""
        return cls(
            parts.netloc,
            prefix=parts.path,
            endpoint=query.get("endpoint"),
            region=query.get("region"),
            addressing=query.get("addressing"),
            url=where,
        )

    # ---- the client on its loop ----------------------------------------------------------

    def _started(self) -> tuple[_Loop, S3Client]:
        with self._start:
            if self._loop is None or self._client is None:
                self._loop = loop = _Loop()
                self._client = loop.submit(self._open()).result()
                atexit.register(self.close)
            return self._loop, self._client

    async def _open(self) -> S3Client:
        config = AioConfig(
            s3={"addressing_style": self.addressing},
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=32,
            # The envelope's AEAD guards every byte; S3 servers of one's own may not know the
            # newer default checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = get_session()
        if self.endpoint:
            # A server of one's own: its credentials are in the environment or a profile, and
            # no cloud's instance or container metadata service is asked for any.
            resolver = session.get_component("credential_provider")
            for method in ("iam-role", "container-role"):
                resolver.remove(method)
        client = session.create_client(
            "s3", endpoint_url=self.endpoint, region_name=self.region, config=config
        )
        return await self._exit.enter_async_context(client)

    def submit(self, call: Callable[[S3Client], Awaitable[T]], doing: str) -> concurrent.futures.Future[T]:
        loop, client = self._started()
        return loop.submit(self._mapped(call(client), doing))

    def run(self, call: Callable[[S3Client], Awaitable[T]], doing: str) -> T:
        return self.submit(call, doing).result()

    async def _mapped(self, call: Awaitable[T], doing: str) -> T:
        try:
            return await call
        except ClientError as exc:
            raise self.failure(exc, doing) from exc
        except NoCredentialsError as exc:
            raise StoreRefused(
                f"no credentials for the document store {self.url}: set AWS_ACCESS_KEY_ID and"
                " AWS_SECRET_ACCESS_KEY"
            ) from exc
        except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
            raise StoreUnavailable(
                f"the document store {self.url} did not answer while {doing} ({type(exc).__name__})"
            ) from exc

    def failure(self, exc: ClientError, doing: str) -> StoreError:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "") or str(status)
        if status in (401, 403):
            return StoreRefused(
                f"the document store {self.url} refused the credentials while {doing} ({code});"
                " check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if status >= 500 or code in _BUSY:
            return StoreUnavailable(f"the document store {self.url} is failing while {doing} ({code})")
        return StoreError(f"the document store {self.url} refused {doing} ({code})")

    def later(self, fn: Callable[[], object]) -> None:
        """Call `fn` on the client's loop, without waiting (closing a response body)."""
        if self._loop is not None:
            self._loop.loop.call_soon_threadsafe(fn)

    def key(self, key: str) -> str:
        return self.prefix + key

    def close(self) -> None:
        with self._start:
            loop, self._loop, self._client = self._loop, None, None
            if loop is None:
                return
            atexit.unregister(self.close)
            with contextlib.suppress(Exception):
                loop.submit(self._shut()).result(10)
            loop.stop()

    async def _shut(self) -> None:
        # What is still under way (an upload being dropped while the store was unreachable)
        # ends here, before the client's connections close.
        unfinished = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        await self._exit.aclose()

    # ---- the store's calls ---------------------------------------------------------------

    def check(self) -> None:
        async def reach(client: S3Client) -> None:
            try:
                await client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) not in MISSING | {"NoSuchBucket"}:
                    raise
                if self.region == "us-east-1":  # the one region that takes no location
                    await client.create_bucket(Bucket=self.bucket)
                else:
                    where: CreateBucketConfigurationTypeDef = {"LocationConstraint": self.region}  # type: ignore[typeddict-item]
                    await client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration=where)
                _log.info("document store: created the bucket %s", self.bucket)

        self.run(reach, "checking the bucket")

    def sink(self, scope: str = "") -> S3Sink:
        return S3Sink(self, scope)

    def put_new(self, key: str, data: bytes, blob: str | None = None) -> bool:
        async def put(client: S3Client) -> bool:
            try:
                await client.put_object(
                    Bucket=self.bucket,
                    Key=self.key(key),
                    Body=data,
                    IfNoneMatch="*",
                    Metadata={BLOB_META: blob} if blob else {},
                )
            except ClientError as exc:
                if _code(exc) in TAKEN:
                    return False
                raise
            return True

        return self.run(put, "writing a document")

    def reader(self, key: str) -> BinaryIO | None:
        async def get(client: S3Client) -> Any:
            answer = await _unless_missing(client.get_object(Bucket=self.bucket, Key=self.key(key)))
            blob = None if answer is None else answer.get("Metadata", {}).get(BLOB_META)
            if answer is not None and blob is not None:
                answer["Body"].close()
                answer = await _unless_missing(client.get_object(Bucket=self.bucket, Key=self.key(blob)))
            return None if answer is None else answer["Body"]

        body = self.run(get, "reading a document")
        return None if body is None else io.BufferedReader(S3Body(self, body), 256 << 10)

    def get_small(self, key: str, limit: int) -> bytes | None:
        async def get(client: S3Client) -> bytes | None:
            answer = await _unless_missing(client.get_object(Bucket=self.bucket, Key=self.key(key)))
            if answer is None:
                return None
            async with answer["Body"] as body:
                if answer.get("ContentLength", 0) > limit:
                    raise IntegrityError(f"larger than {limit} bytes")
                return await body.read()

        return self.run(get, "reading a document's name")

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def head(self, key: str) -> dict[str, str] | None:
        """The object's metadata, or None when there is none."""

        async def ask(client: S3Client) -> dict[str, str] | None:
            answer = await _unless_missing(client.head_object(Bucket=self.bucket, Key=self.key(key)))
            return None if answer is None else dict(answer.get("Metadata", {}))

        return self.run(ask, "looking for a document")

    def delete(self, key: str) -> None:
        # The document first, then its blob: a blob left behind is unreachable, never half a document.
        meta = self.head(key)
        if meta is None:
            return
        self.remove(key)
        if BLOB_META in meta:
            self.remove(meta[BLOB_META])

    def remove(self, key: str) -> None:
        async def delete(client: S3Client) -> None:
            await client.delete_object(Bucket=self.bucket, Key=self.key(key))

        self.run(delete, "removing a document")

    def forget(self, folder: str) -> None:
        # An upload cut off part-way is no object (a listing does not show it), but its parts
        # are kept under the case's prefix until aborted.
        async def abort_uploads(client: S3Client) -> None:
            answer = await client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.key(folder))
            for upload in answer.get("Uploads", []):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )

        self.run(abort_uploads, "dropping unfinished uploads")
        # S3 has no folders, but a filer-backed store (SeaweedFS) keeps the emptied ones, named
        # after the case; deleting the folder's own key removes it, and is nothing elsewhere.
        for kind in ("objects/", "meta/", "blobs/", ""):
            self.remove(f"{folder}{kind}")

    def keys(self, prefix: str) -> Iterator[str]:
        token: str | None = None
        while True:
            page, token = self.run(partial(self._page, prefix=prefix, token=token), "listing the documents")
            yield from page
            if token is None:
                return

    async def _page(
        self, client: S3Client, *, prefix: str, token: str | None
    ) -> tuple[list[str], str | None]:
        more = {"ContinuationToken": token} if token else {}
        answer = await client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(prefix), **more)  # type: ignore[arg-type]
        keys = [item["Key"].removeprefix(self.prefix) for item in answer.get("Contents", [])]
        return keys, answer.get("NextContinuationToken") if answer.get("IsTruncated") else None


async def _unless_missing(call: Awaitable[T]) -> T | None:
    """The answer, or None when the object is not there."""
    try:
        return await call
    except ClientError as exc:
        if _code(exc) in MISSING:
            return None
        raise


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {}).get("Code", "")
    return error or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
