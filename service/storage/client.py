"""The Storage class: one S3 endpoint and bucket (objects, streamed PUT, ranged GET, copy,
presigned URLs for the public host), plus the multipart operations it mixes in."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from datetime import timedelta
from io import BytesIO
from typing import AsyncIterator
from xml.sax.saxutils import escape

import aiohttp
from miniopy_async import Minio
from miniopy_async.commonconfig import ComposeSource, CopySource
from miniopy_async.datatypes import Part
from miniopy_async.error import S3Error

from service.errors import TooLarge
from service.storage.multipart import MultipartOps
from service.storage.types import (ListedObject, ObjectMissing, ObjectStat, StorageUnavailable, _endpoint,
                                   _translate, normalize_etag)

log = logging.getLogger("mybox.storage")

STREAM_PART_SIZE = 8 * 1024 * 1024  # measured best here: 8 MiB parts, 2 in flight
STREAM_PARALLEL = 2


class Storage(MultipartOps):
    """One S3 endpoint and bucket, plus a second client that signs URLs for the public host."""

    def __init__(self, *, endpoint: str, public_endpoint: str, access_key: str, secret_key: str,
                 region: str, bucket: str, storage_class: str = "") -> None:
        self.bucket = bucket
        self.storage_class = storage_class
        self.endpoint = endpoint
        host, secure = _endpoint(endpoint)
        pub_host, pub_secure = _endpoint(public_endpoint or endpoint)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=128, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5, sock_read=120),
        )
        self.client = Minio(host, access_key=access_key, secret_key=secret_key, secure=secure,
                            region=region, session=self._session)
        # presigning is computed locally; this client never opens a connection
        self.signer = Minio(pub_host, access_key=access_key, secret_key=secret_key, secure=pub_secure,
                            region=region)

    async def close(self) -> None:
        await self._session.close()
        await self.signer.close_session()

    # --- buckets and health -------------------------------------------------------------
    async def ping(self) -> None:
        try:
            await self.client.bucket_exists(self.bucket)
        except Exception as exc:
            raise _translate(exc) from exc

    async def ensure_bucket(self, cors_origins: tuple[str, ...] = ()) -> None:
        try:
            if not await self.client.bucket_exists(self.bucket):
                try:
                    await self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            if cors_origins:
                try:
                    await self.put_cors(cors_origins)
                except S3Error as exc:
                    if exc.code != "NotImplemented":
                        raise
                    # community MinIO has no per-bucket CORS; compose sets it server-wide
                    log.info("bucket CORS not supported by this S3 server; relying on server-wide CORS")
        except (S3Error, StorageUnavailable):
            raise
        except Exception as exc:
            raise _translate(exc) from exc

    async def put_cors(self, origins: tuple[str, ...]) -> None:
        """Let the web UI PUT parts straight to S3 and read the ETag header."""
        rules = "".join(f"<AllowedOrigin>{escape(o)}</AllowedOrigin>" for o in origins)
        body = (
            '<CORSConfiguration><CORSRule>' + rules +
            "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
            "<AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader>"
            "<ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Length</ExposeHeader>"
            "<ExposeHeader>Content-Range</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds>"
            "</CORSRule></CORSConfiguration>"
        ).encode()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        resp = await self.client._execute("PUT", self.bucket, body=body,
                                          headers={"Content-MD5": md5, "Content-Type": "application/xml"},
                                          query_params={"cors": ""})
        resp.release()

    # --- objects ------------------------------------------------------------------------
    async def stat(self, key: str) -> ObjectStat:
        try:
            obj = await self.client.stat_object(self.bucket, key)
        except Exception as exc:
            raise _translate(exc) from exc
        return ObjectStat(size=int(obj.size or 0), etag=normalize_etag(obj.etag or ""), content_type=obj.content_type)

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
            return True
        except ObjectMissing:
            return False

    async def remove(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error (S3 semantics)."""
        try:
            await self.client.remove_object(self.bucket, key)
        except Exception as exc:
            err = _translate(exc)
            if isinstance(err, ObjectMissing):
                return
            raise err from exc

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            await self.client.put_object(self.bucket, key, BytesIO(data), len(data), content_type=content_type)
        except Exception as exc:
            raise _translate(exc) from exc

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str,
                         max_bytes: int | None = None) -> tuple[int, str]:
        """Stream an unknown-length body into one object with a multipart loop (8 MiB parts,
        2 in flight), hashing as it goes. Returns (size, sha256 hex). Memory stays at about
        (STREAM_PARALLEL + 1) parts. On any failure the S3 upload is aborted: nothing is left."""
        digest = hashlib.sha256()
        size = 0
        # chunks wait in a list and are joined once per part (one copy); a part may exceed
        # STREAM_PART_SIZE by less than one chunk, which S3 allows (only the last part may be < 5 MiB)
        pending: list[bytes] = []
        pending_size = 0
        upload_id: str | None = None
        tasks: set[asyncio.Task[str]] = set()
        parts: list[Part] = []
        sem = asyncio.Semaphore(STREAM_PARALLEL)
        next_part = 0
        headers = {"Content-Type": content_type}
        if self.storage_class:
            headers["x-amz-storage-class"] = self.storage_class

        async def send(number: int, data: bytes) -> None:
            async with sem:
                etag = await self.client._upload_part(self.bucket, key, data, None, upload_id, number)
            parts.append(Part(number, etag))

        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"file is larger than the limit of {max_bytes} bytes", code="file_too_large")
                digest.update(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= STREAM_PART_SIZE:
                    if upload_id is None:
                        upload_id = await self.client._create_multipart_upload(self.bucket, key, headers)
                    # wait for a free slot before reading more: bounded memory, backpressure
                    while len(tasks) >= STREAM_PARALLEL:
                        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                        for t in done:
                            tasks.discard(t)
                            t.result()
                    data = b"".join(pending)
                    pending.clear()
                    pending_size = 0
                    next_part += 1
                    tasks.add(asyncio.create_task(send(next_part, data)))
                    del data
            buf = b"".join(pending)
            pending.clear()
            if upload_id is None:
                await self.client.put_object(self.bucket, key, BytesIO(buf), len(buf),
                                             content_type=content_type,
                                             metadata={"x-amz-storage-class": self.storage_class} if self.storage_class else None)
            else:
                if buf:
                    next_part += 1
                    tasks.add(asyncio.create_task(send(next_part, buf)))
                if tasks:
                    await asyncio.gather(*tasks)
                    tasks.clear()
                parts.sort(key=lambda p: p.part_number)
                await self.client._complete_multipart_upload(self.bucket, key, upload_id, parts)
            return size, digest.hexdigest()
        except BaseException as exc:
            for t in tasks:
                t.cancel()
            if upload_id is not None:
                try:
                    await self.client._abort_multipart_upload(self.bucket, key, upload_id)
                except Exception:
                    log.warning("could not abort streamed upload of %s", key, exc_info=True)
            if isinstance(exc, Exception):
                raise _translate(exc) from exc
            raise

    async def open_range(self, key: str, offset: int = 0, length: int | None = None) -> aiohttp.ClientResponse:
        """Start a (ranged) GET; the caller iterates response.content and must release it."""
        if length == 0:
            raise ValueError("empty range")
        try:
            return await self.client.get_object(self.bucket, key, offset=offset, length=length or 0)
        except Exception as exc:
            raise _translate(exc) from exc

    async def iter_range(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Yield the object's bytes as S3 sends them (no re-chunking), then release the connection."""
        resp = await self.open_range(key, offset, length)
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            resp.release()

    async def copy_from(self, key: str, source: "Storage", source_key: str) -> None:
        """Copy an object between buckets: server-side when both live on one endpoint
        (CopyObject up to 5 GiB, multipart UploadPartCopy above), streamed across otherwise."""
        try:
            st = await source.stat(source_key)
            if source.endpoint == self.endpoint:
                if st.size <= 5 * 1024**3:
                    await self.client.copy_object(self.bucket, key, CopySource(source.bucket, source_key))
                else:
                    await self.client.compose_object(self.bucket, key, [ComposeSource(source.bucket, source_key)])
            else:
                await self.put_stream(key, source.iter_range(source_key),
                                      content_type=st.content_type or "application/octet-stream")
        except (ObjectMissing, StorageUnavailable):
            raise
        except Exception as exc:
            raise _translate(exc) from exc

    async def list_keys(self, prefix: str = "") -> AsyncIterator[tuple[str, int]]:
        try:
            async for obj in self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
                yield obj.object_name, int(obj.size or 0)
        except Exception as exc:
            raise _translate(exc) from exc

    async def list_objects(self, prefix: str, *, start_after: str | None = None,
                           limit: int | None = None) -> AsyncIterator[ListedObject]:
        """Objects under a prefix in key order, with their age; resumable with start_after."""
        count = 0
        try:
            async for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True,
                                                      start_after=start_after):
                yield ListedObject(obj.object_name, int(obj.size or 0), obj.last_modified)
                count += 1
                if limit is not None and count >= limit:
                    return
        except Exception as exc:
            raise _translate(exc) from exc

    # --- presigning (computed locally, for the public host) -----------------------------
    async def presign_internal_get(self, key: str, expires: timedelta) -> str:
        """A GET URL for the endpoint this process talks to (for a local tool such as ffmpeg)."""
        return await self.client.presigned_get_object(self.bucket, key, expires=expires)

    async def presign_get(self, key: str, expires: timedelta, *, filename_disposition: str | None = None,
                          content_type: str | None = None) -> str:
        headers: dict[str, str] = {}
        if filename_disposition:
            headers["response-content-disposition"] = filename_disposition
        if content_type:
            headers["response-content-type"] = content_type
        return await self.signer.presigned_get_object(self.bucket, key, expires=expires,
                                                      response_headers=headers or None)

    async def presign_part(self, key: str, upload_id: str, part_number: int, expires: timedelta) -> str:
        return await self.signer.get_presigned_url(
            "PUT", self.bucket, key, expires=expires,
            extra_query_params={"uploadId": upload_id, "partNumber": str(part_number)})


def hot_storage(settings) -> Storage:  # settings: service.config.Settings
    return Storage(endpoint=settings.s3_endpoint, public_endpoint=settings.s3_public_endpoint,
                   access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                   region=settings.s3_region, bucket=settings.s3_bucket)


def cold_storage(settings) -> Storage:
    endpoint = settings.s3_cold_endpoint or settings.s3_endpoint
    return Storage(endpoint=endpoint,
                   public_endpoint=settings.s3_public_endpoint if not settings.s3_cold_endpoint else endpoint,
                   access_key=settings.s3_cold_access_key or settings.s3_access_key,
                   secret_key=settings.s3_cold_secret_key or settings.s3_secret_key,
                   region=settings.s3_region, bucket=settings.s3_cold_bucket,
                   storage_class=settings.s3_cold_storage_class)
