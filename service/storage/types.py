"""What the storage package hands out: its errors, small records, and the S3-error translation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
from miniopy_async.error import InvalidResponseError, S3Error, ServerError


class StorageUnavailable(Exception):
    """S3 did not answer (down, refused, timed out, 5xx)."""


class ObjectMissing(Exception):
    """The object (or upload) does not exist in S3."""


@dataclass(frozen=True)
class StoredPart:
    part_number: int
    etag: str
    size: int


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    last_modified: datetime | None


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime | None


@dataclass(frozen=True)
class ObjectStat:
    size: int
    etag: str
    content_type: str | None


def _endpoint(url: str) -> tuple[str, bool]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return parts.netloc, parts.scheme == "https"


def normalize_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, S3Error):
        if exc.code in ("NoSuchKey", "NoSuchUpload", "NoSuchBucket", "NotFound"):
            return ObjectMissing(f"{exc.code}: {exc.message}")
        return exc
    if isinstance(exc, (ServerError, InvalidResponseError, aiohttp.ClientError, OSError, asyncio.TimeoutError)):
        return StorageUnavailable(f"object storage unavailable: {type(exc).__name__}")
    return exc
