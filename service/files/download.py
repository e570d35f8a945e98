"""GET/HEAD /files/{id}, GET /files/{id}/download-url and GET /files/{id}/thumbnail.

plan_* functions decide status and headers from the row and the request's conditional headers;
open_body then starts the (ranged) S3 GET, so storage errors still become JSON errors before
the first byte of the response is sent. Bytes pass through as S3 sends them."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Awaitable, Callable, Mapping
from uuid import UUID

from service.config import Settings
from service.db import Tx
from service.errors import Conflict, Invalid, NotFound, Unavailable
from service.files import queries
from service.files.disposition import content_disposition
from service.files.ranges import (http_date, if_range_allows, none_match, not_modified_since,
                                  parse_range)
from service.files.schemas import DownloadUrl, FileRow
from service.files.service import owned, storage_for, thumbnail_key
from service.storage import ObjectMissing, Storage

log = logging.getLogger("mybox.files.download")

THUMBNAIL_SIZES = (256, 1280)


@dataclass
class Plan:
    """What to send: status, headers, and which bytes of which object (length 0: no body)."""
    status: int
    headers: dict[str, str]
    storage: Storage | None = None
    key: str = ""
    start: int = 0
    length: int = 0
    full: bool = True


def _etag(row: FileRow) -> str:
    # file bytes never change under one id, so the id is a strong validator (stable across tiering)
    return f'"{row.id.hex}"'


def _last_modified(row: FileRow) -> datetime:
    return row.uploaded_at or row.created_at


def _downloadable(row: FileRow, settings: Settings) -> None:
    if row.status != "available":
        raise Conflict(f"the file is {row.status}, not available for download", code="file_not_available")
    if row.tier == "cold" and settings.cold_tier_mode == "archive":
        raise Conflict("the file is archived; restore it first with POST /files/{id}/restore",
                       code="file_archived")


async def plan_download(tx: Tx, user_id: UUID, raw_id: str, request_headers: Mapping[str, str], *,
                        hot: Storage, cold: Storage, settings: Settings, record_access: bool = True) -> Plan:
    row = await owned(tx, user_id, raw_id)
    _downloadable(row, settings)
    etag, modified = _etag(row), _last_modified(row)
    validators = {"ETag": etag, "Last-Modified": http_date(modified), "Cache-Control": "private, no-cache"}
    inm = request_headers.get("if-none-match")
    if none_match(inm, etag) or (inm is None and not_modified_since(request_headers.get("if-modified-since"),
                                                                   modified)):
        return Plan(304, validators)
    headers = {
        **validators,
        "Content-Type": row.content_type,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(row.name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if row.sha256:
        headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(row.sha256)).decode()}:"
    rng = None
    if if_range_allows(request_headers.get("if-range"), etag, modified):
        rng = parse_range(request_headers.get("range"), row.size)
    plan = Plan(200, headers, storage_for(row, hot, cold), row.object_key, 0, row.size)
    if rng is not None:
        start, end = rng
        plan.status, plan.start, plan.length, plan.full = 206, start, end - start + 1, False
        headers["Content-Range"] = f"bytes {start}-{end}/{row.size}"
    headers["Content-Length"] = str(plan.length)
    if record_access and (row.last_accessed_at is None
                          or datetime.now(timezone.utc) - row.last_accessed_at > timedelta(hours=1)):
        await queries.touch_accessed(tx.conn, row.id)
    return plan


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


async def open_body(plan: Plan) -> tuple[AsyncIterator[bytes], Callable[[], Awaitable[None]]]:
    """Start the S3 GET for the plan. Returns the byte iterator and a release function that
    must run when the response ends (also when the client went away mid-way)."""
    if plan.length == 0 or plan.storage is None:
        async def nothing() -> None:
            return None
        return _empty(), nothing
    try:
        resp = await plan.storage.open_range(plan.key, 0 if plan.full else plan.start,
                                             None if plan.full else plan.length)
    except ObjectMissing:
        log.error("object %s is missing from bucket %s", plan.key, plan.storage.bucket)
        raise Unavailable("the file's bytes are not in storage right now; retry shortly",
                          code="object_missing", headers={"Retry-After": "5"}) from None

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        finally:
            resp.release()

    async def release() -> None:
        resp.release()

    return chunks(), release


async def download_url(tx: Tx, user_id: UUID, raw_id: str, *, hot: Storage, cold: Storage,
                       settings: Settings) -> DownloadUrl:
    """A presigned GET for the public S3 host: no token needed, Range works, and the browser
    saves the file under its name (response-content-disposition)."""
    row = await owned(tx, user_id, raw_id)
    _downloadable(row, settings)
    ttl = timedelta(seconds=settings.presign_ttl_seconds)
    expires_at = datetime.now(timezone.utc) + ttl
    url = await storage_for(row, hot, cold).presign_get(
        row.object_key, ttl, filename_disposition=content_disposition(row.name), content_type=row.content_type)
    if row.last_accessed_at is None or datetime.now(timezone.utc) - row.last_accessed_at > timedelta(hours=1):
        await queries.touch_accessed(tx.conn, row.id)
    return DownloadUrl(url=url, expires_at=expires_at.replace(microsecond=0))


async def plan_thumbnail(tx: Tx, user_id: UUID, raw_id: str, size: int | None,
                         request_headers: Mapping[str, str], *, hot: Storage) -> Plan:
    chosen = 256 if size is None else size
    if chosen not in THUMBNAIL_SIZES:
        raise Invalid("size must be 256 or 1280", code="invalid_size", field="size")
    row = await owned(tx, user_id, raw_id)
    if not row.thumbnail_key:
        raise NotFound("this file has no thumbnail (yet)", code="thumbnail_not_found")
    key = row.thumbnail_key if chosen == 256 else thumbnail_key(row.id, chosen)
    etag = f'"{row.id.hex}-{chosen}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600"}
    if none_match(request_headers.get("if-none-match"), etag):
        return Plan(304, headers)
    try:
        stat = await hot.stat(key)
    except ObjectMissing:
        raise NotFound(f"this file has no {chosen}px thumbnail", code="thumbnail_not_found") from None
    headers.update({"Content-Type": "image/webp", "Content-Length": str(stat.size),
                    "X-Content-Type-Options": "nosniff"})
    return Plan(200, headers, hot, key, 0, stat.size)
