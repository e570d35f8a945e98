"""Files: listing (offset and keyset), metadata, delete. Shared helpers for the other modules."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis

from service import jobs
from service.db import Tx, transaction
from service.errors import Conflict, Invalid, NotFound
from service.files import queries
from service.files.cursor import decode_cursor, encode_cursor
from service.files.schemas import FileCursorPage, FileInfo, FilePage, FileRow
from service.storage import Storage

log = logging.getLogger("mybox.files")

STATUSES = ("uploading", "verifying", "available", "aborted", "corrupt", "deleted", "restoring")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000_000
PURGE_TIMEOUT_SECONDS = 10  # a DELETE never waits longer on S3; the worker retries the rest


def object_key(file_id: UUID) -> str:
    return f"objects/{file_id}"


def thumbnail_key(file_id: UUID, size: int = 256) -> str:
    return f"thumbs/{file_id}/{size}.webp"


def parse_file_id(raw: str) -> UUID:
    """A path's file id; anything that is not a UUID is simply a file that does not exist."""
    try:
        return UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise NotFound("no such file", code="file_not_found") from None


def to_info(row: FileRow) -> FileInfo:
    return FileInfo(id=row.id, name=row.name, size=row.size, content_type=row.content_type, status=row.status,
                    tier=row.tier, sha256=row.sha256,
                    thumbnail_url=f"/files/{row.id}/thumbnail" if row.thumbnail_key else None,
                    created_at=row.created_at, uploaded_at=row.uploaded_at)


def storage_for(row: FileRow, hot: Storage, cold: Storage) -> Storage:
    return cold if row.tier == "cold" else hot


async def owned(tx: Tx, user_id: UUID, raw_id: str, *, for_update: bool = False) -> FileRow:
    row = await queries.get_owned(tx.conn, parse_file_id(raw_id), user_id, for_update=for_update)
    if row is None:
        raise NotFound("no such file", code="file_not_found")
    return row


# --- listing ------------------------------------------------------------------------------
def parse_statuses(values: list[str] | None) -> list[str] | None:
    """`status=a,b` or `status=a&status=b`; None means the default visible set."""
    chosen: set[str] = set()
    for value in values or ():
        for item in value.split(","):
            item = item.strip().lower()
            if not item:
                continue
            if item not in STATUSES:
                raise Invalid(f"status must be one of {', '.join(STATUSES)}", code="invalid_status", field="status")
            chosen.add(item)
    return sorted(chosen) or None


def _int_param(raw: str | None, default: int | None, low: int, high: int, field: str) -> int | None:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise Invalid(f"{field} must be a whole number from {low} to {high}", code="invalid_pagination", field=field)
    return value


async def list_files(tx: Tx, user_id: UUID, *, page: str | None, page_size: str | None, cursor: str | None,
                     status: list[str] | None) -> FilePage | FileCursorPage:
    size = _int_param(page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE, "pageSize")
    page_no = _int_param(page, None, 1, MAX_PAGE, "page")
    statuses = parse_statuses(status)
    if page_no is not None:
        if cursor:
            raise Invalid("use either page (offset mode) or cursor (keyset mode), not both",
                          code="invalid_pagination", field="cursor")
        total = await queries.count(tx.conn, user_id, statuses)
        rows = await queries.page_at(tx.conn, user_id, statuses, (page_no - 1) * size, size + 1)
        more, rows = len(rows) > size, rows[:size]
        return FilePage(items=[to_info(r) for r in rows], page=page_no, page_size=size, total=total,
                        next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)
    after = decode_cursor(cursor) if cursor else None
    rows = await queries.page_after(tx.conn, user_id, statuses, after, size + 1)
    more, rows = len(rows) > size, rows[:size]
    return FileCursorPage(items=[to_info(r) for r in rows],
                          next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)


async def metadata(tx: Tx, user_id: UUID, raw_id: str) -> FileInfo:
    return to_info(await owned(tx, user_id, raw_id))


# --- delete -------------------------------------------------------------------------------
async def remove_stored(row: FileRow, hot: Storage, cold: Storage) -> None:
    """Remove a file's object and thumbnails; removing what is already gone is fine."""
    keys = {row.object_key, thumbnail_key(row.id, 256), thumbnail_key(row.id, 1280)}
    if row.thumbnail_key:
        keys.add(row.thumbnail_key)
    for key in sorted(keys):
        await hot.remove(key)
    if row.tier == "cold" or row.status == "restoring":
        await cold.remove(row.object_key)


async def delete_file(tx: Tx, user_id: UUID, raw_id: str, *, pool: asyncpg.Pool, hot: Storage, cold: Storage,
                      redis: ArqRedis | None, queue: str) -> None:
    """Gone from listings and downloads when this transaction commits; the bytes go right after.
    If removing them fails, purged_at stays NULL and the worker's reconciliation retries."""
    row = await owned(tx, user_id, raw_id, for_update=True)
    if row.status == "uploading":
        raise Conflict(f"this upload is still in progress; cancel it with DELETE /files/{row.id}/upload",
                       code="upload_in_progress")
    await queries.mark_deleted(tx.conn, row.id, user_id)

    async def purge() -> None:
        try:
            await asyncio.wait_for(remove_stored(row, hot, cold), PURGE_TIMEOUT_SECONDS)
            async with transaction(pool) as purge_tx:
                await queries.mark_purged(purge_tx.conn, row.id)
        except Exception:
            log.warning("could not purge deleted file %s now; the worker will retry", row.id, exc_info=True)
            await jobs.enqueue(redis, queue, "purge_file", str(row.id), job_id=f"purge:{row.id}")

    tx.after_commit(purge)
