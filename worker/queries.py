"""SQL for the worker's jobs: thumbnails, checksum verification, purging, reconciliation.

Every statement is one autocommitted step: a job records its progress as it goes, so a job that
dies halfway leaves the row in a state the next run (or reconciliation) understands.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from service.db import to_struct

PURGEABLE = ("deleted", "aborted", "corrupt")


class FileRow(msgspec.Struct, kw_only=True):
    id: UUID
    status: str
    tier: str
    size: int
    content_type: str
    object_key: str
    sha256: str | None
    declared_sha256: str | None
    thumbnail_key: str | None
    thumbnail_state: str | None
    thumbnail_attempts: int
    verify_attempts: int
    purged_at: datetime | None
    s3_upload_id: str | None = None


_FILE_COLUMNS = (
    "f.id, f.status, f.tier, f.size, f.content_type, f.object_key, f.sha256, f.declared_sha256,"
    " f.thumbnail_key, f.thumbnail_state, f.thumbnail_attempts, f.verify_attempts, f.purged_at"
)


async def file_row(db: asyncpg.Pool | asyncpg.Connection, file_id: UUID) -> FileRow | None:
    row = await db.fetchrow(
        f"SELECT {_FILE_COLUMNS}, s.s3_upload_id FROM files f"
        " LEFT JOIN upload_sessions s ON s.file_id = f.id WHERE f.id = $1", file_id)
    return to_struct(row, FileRow)


# --- thumbnails -------------------------------------------------------------------------
async def start_thumbnail_attempt(db: asyncpg.Pool, file_id: UUID) -> int | None:
    """Count an attempt before the work starts (a worker killed mid-job still counts it).
    None when the file is no longer waiting for a thumbnail."""
    return await db.fetchval(
        "UPDATE files SET thumbnail_attempts = thumbnail_attempts + 1"
        " WHERE id = $1 AND status = 'available' AND thumbnail_state IS NULL RETURNING thumbnail_attempts",
        file_id)


async def give_back_thumbnail_attempt(db: asyncpg.Pool, file_id: UUID) -> None:
    """A transient failure (S3 or Postgres away) is not the file's fault."""
    await db.execute(
        "UPDATE files SET thumbnail_attempts = greatest(thumbnail_attempts - 1, 0) WHERE id = $1", file_id)


async def finish_thumbnail(db: asyncpg.Pool, file_id: UUID, thumbnail_key: str) -> bool:
    """Record the thumbnail; False when the file stopped being available meanwhile."""
    row = await db.fetchrow(
        "UPDATE files SET thumbnail_key = $2, thumbnail_state = 'done', thumbnail_error = NULL"
        " WHERE id = $1 AND status = 'available' RETURNING id", file_id, thumbnail_key)
    return row is not None


async def set_thumbnail_outcome(db: asyncpg.Pool, file_id: UUID, state: str, error: str | None) -> None:
    """A final outcome without a thumbnail: 'none' (not an image) or 'failed' (with the reason)."""
    await db.execute(
        "UPDATE files SET thumbnail_state = $2, thumbnail_error = $3 WHERE id = $1 AND thumbnail_state IS NULL",
        file_id, state, error)


# --- verification -----------------------------------------------------------------------
async def start_verify_attempt(db: asyncpg.Pool, file_id: UUID) -> int | None:
    return await db.fetchval(
        "UPDATE files SET verify_attempts = verify_attempts + 1"
        " WHERE id = $1 AND status IN ('available', 'verifying') RETURNING verify_attempts", file_id)


async def give_back_verify_attempt(db: asyncpg.Pool, file_id: UUID) -> None:
    await db.execute("UPDATE files SET verify_attempts = greatest(verify_attempts - 1, 0) WHERE id = $1", file_id)


async def mark_verified(db: asyncpg.Pool, file_id: UUID, sha256: str) -> str | None:
    """Store the checksum; a `verifying` file becomes `available`. Returns the new status, or
    None when the file left available/verifying meanwhile (deleted, aborted)."""
    return await db.fetchval(
        "UPDATE files SET sha256 = $2, status = 'available'"
        " WHERE id = $1 AND status IN ('available', 'verifying') RETURNING status", file_id, sha256)


async def mark_corrupt(db: asyncpg.Pool, file_id: UUID, sha256: str | None) -> bool:
    """The stored bytes are not what the client declared: never serve them again."""
    row = await db.fetchrow(
        "UPDATE files SET status = 'corrupt', sha256 = coalesce($2, sha256)"
        " WHERE id = $1 AND status IN ('available', 'verifying') RETURNING id", file_id, sha256)
    return row is not None


# --- purging ----------------------------------------------------------------------------
async def mark_purged(db: asyncpg.Pool, file_id: UUID) -> bool:
    row = await db.fetchrow(
        "UPDATE files SET purged_at = now(), thumbnail_key = NULL"
        " WHERE id = $1 AND status = any($2::text[]) AND purged_at IS NULL RETURNING id",
        file_id, list(PURGEABLE))
    return row is not None


# --- reconciliation ---------------------------------------------------------------------
async def files_missing_thumbnail(db: asyncpg.Pool, grace_seconds: float, max_attempts: int,
                                  limit: int) -> list[UUID]:
    rows = await db.fetch(
        "SELECT id FROM files WHERE status = 'available' AND thumbnail_state IS NULL"
        " AND thumbnail_attempts < $2"
        " AND coalesce(uploaded_at, created_at) < now() - make_interval(secs => $1)"
        " ORDER BY coalesce(uploaded_at, created_at) LIMIT $3", float(grace_seconds), max_attempts, limit)
    return [r["id"] for r in rows]


async def give_up_thumbnails(db: asyncpg.Pool, max_attempts: int, limit: int) -> list[UUID]:
    """Files whose thumbnail attempts all ended without an outcome (worker killed, timed out)."""
    rows = await db.fetch(
        "UPDATE files SET thumbnail_state = 'failed',"
        " thumbnail_error = 'gave up after ' || thumbnail_attempts || ' attempts'"
        " WHERE id IN (SELECT id FROM files WHERE status = 'available' AND thumbnail_state IS NULL"
        "   AND thumbnail_attempts >= $1 LIMIT $2) RETURNING id", max_attempts, limit)
    return [r["id"] for r in rows]


async def files_missing_checksum(db: asyncpg.Pool, grace_seconds: float, max_attempts: int,
                                 limit: int) -> list[UUID]:
    rows = await db.fetch(
        "SELECT id FROM files WHERE status IN ('available', 'verifying') AND sha256 IS NULL"
        " AND verify_attempts < $2"
        " AND coalesce(uploaded_at, created_at) < now() - make_interval(secs => $1)"
        " ORDER BY coalesce(uploaded_at, created_at) LIMIT $3", float(grace_seconds), max_attempts, limit)
    return [r["id"] for r in rows]


async def count_unverifiable(db: asyncpg.Pool, max_attempts: int) -> int:
    """Files whose verification keeps dying (reported; an operator has to look at them)."""
    return await db.fetchval(
        "SELECT count(*) FROM files WHERE status IN ('available', 'verifying') AND sha256 IS NULL"
        " AND verify_attempts >= $1", max_attempts)


async def files_to_purge(db: asyncpg.Pool, grace_seconds: float, limit: int) -> list[UUID]:
    rows = await db.fetch(
        "SELECT id FROM files WHERE status = any($3::text[]) AND purged_at IS NULL"
        " AND coalesce(deleted_at, uploaded_at, created_at) < now() - make_interval(secs => $1)"
        " ORDER BY coalesce(deleted_at, uploaded_at, created_at) LIMIT $2",
        float(grace_seconds), limit, list(PURGEABLE))
    return [r["id"] for r in rows]


async def unpurged_ids(db: asyncpg.Pool, ids: list[UUID]) -> set[UUID]:
    """Which of these ids have a row whose objects should still exist (not purged)."""
    rows = await db.fetch("SELECT id FROM files WHERE id = any($1::uuid[]) AND purged_at IS NULL", ids)
    return {r["id"] for r in rows}
