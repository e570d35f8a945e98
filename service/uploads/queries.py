"""SQL for upload sessions and their parts (and the file rows they create)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from service.db import to_struct
from service.uploads.schemas import ExpiredSession, Session

_SESSION_COLUMNS = (
    "f.id AS file_id, f.user_id, f.object_key, f.size, f.status, f.declared_sha256,"
    " s.s3_upload_id, s.part_size, s.part_count, s.expires_at, s.finished_at"
)


async def insert_upload(conn: asyncpg.Connection, *, file_id: UUID, user_id: UUID, name: str, size: int,
                        content_type: str, object_key: str, declared_sha256: str | None, upload_id: str,
                        part_size: int, part_count: int, expires_at: datetime) -> None:
    """The `uploading` file row and its session row, in the caller's transaction."""
    await conn.execute(
        "INSERT INTO files (id, user_id, name, size, content_type, status, tier, object_key, declared_sha256)"
        " VALUES ($1, $2, $3, $4, $5, 'uploading', 'hot', $6, $7)",
        file_id, user_id, name, size, content_type, object_key, declared_sha256)
    await conn.execute(
        "INSERT INTO upload_sessions (file_id, s3_upload_id, part_size, part_count, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        file_id, upload_id, part_size, part_count, expires_at)


async def file_status(conn: asyncpg.Connection, file_id: UUID, user_id: UUID) -> str | None:
    return await conn.fetchval("SELECT status FROM files WHERE id = $1 AND user_id = $2", file_id, user_id)


async def session(conn: asyncpg.Connection, file_id: UUID, user_id: UUID, *, lock: bool = False) -> Session | None:
    """The caller's session for this file; lock=True takes the session row lock (FOR UPDATE)
    that serialises part reports, completion, abort and the sweep for one upload."""
    if lock:
        # lock first, then read in a new statement: a read that waited for the lock then sees
        # what the previous holder committed (FOR UPDATE OF s alone would re-read s, not f)
        await conn.execute("SELECT 1 FROM upload_sessions s JOIN files f ON f.id = s.file_id"
                           " WHERE s.file_id = $1 AND f.user_id = $2 FOR UPDATE OF s", file_id, user_id)
    row = await conn.fetchrow(
        f"SELECT {_SESSION_COLUMNS} FROM upload_sessions s JOIN files f ON f.id = s.file_id"
        " WHERE s.file_id = $1 AND f.user_id = $2", file_id, user_id)
    return to_struct(row, Session)


async def completed_parts(conn: asyncpg.Connection, file_id: UUID) -> dict[int, tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT part_number, etag, size FROM upload_parts WHERE file_id = $1 ORDER BY part_number", file_id)
    return {r["part_number"]: (r["etag"], r["size"]) for r in rows}


async def part_numbers(conn: asyncpg.Connection, file_id: UUID) -> list[int]:
    rows = await conn.fetch("SELECT part_number FROM upload_parts WHERE file_id = $1 ORDER BY part_number", file_id)
    return [r["part_number"] for r in rows]


async def set_durable_commit(conn: asyncpg.Connection, durable: bool) -> None:
    """Whether this transaction's COMMIT waits for the WAL flush (synchronous_commit). A lost
    part record is harmless (the part stays in S3; the client sees it missing in GET /upload
    and reports it again), so recording a part does not wait; completing an upload does."""
    await conn.execute(f"SET LOCAL synchronous_commit TO {'on' if durable else 'off'}")


async def record_part(conn: asyncpg.Connection, file_id: UUID, part_number: int, etag: str, size: int) -> None:
    """Record a verified part; a re-uploaded part (new ETag, verified again) replaces the old record."""
    await conn.execute(
        "INSERT INTO upload_parts (file_id, part_number, etag, size) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (file_id, part_number) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size,"
        " completed_at = now() WHERE upload_parts.etag <> EXCLUDED.etag",
        file_id, part_number, etag, size)


async def forget_parts(conn: asyncpg.Connection, file_id: UUID, numbers: list[int]) -> None:
    await conn.execute("DELETE FROM upload_parts WHERE file_id = $1 AND part_number = any($2::int[])",
                       file_id, numbers)


async def finish(conn: asyncpg.Connection, file_id: UUID, status: str, *, purged: bool = False) -> None:
    """Close the session (completed or aborted): set the file's status, drop the part rows
    (a finished session reports all or none of its parts), keep the session row for GET /upload."""
    await conn.execute(
        "UPDATE files SET status = $2,"
        " uploaded_at = CASE WHEN $2 IN ('available', 'verifying') THEN now() ELSE uploaded_at END,"
        " purged_at = CASE WHEN $3 THEN now() ELSE purged_at END"
        " WHERE id = $1", file_id, status, purged)
    await conn.execute("UPDATE upload_sessions SET finished_at = now() WHERE file_id = $1", file_id)
    await conn.execute("DELETE FROM upload_parts WHERE file_id = $1", file_id)


# --- expiry sweep ---------------------------------------------------------------------------
async def lock_expired_batch(conn: asyncpg.Connection, limit: int) -> list[ExpiredSession]:
    """Up to `limit` open sessions past their expiry, locked; rows another worker holds are skipped."""
    rows = await conn.fetch(
        "SELECT s.file_id, f.object_key, s.s3_upload_id FROM upload_sessions s JOIN files f ON f.id = s.file_id"
        " WHERE s.finished_at IS NULL AND s.expires_at < now()"
        " ORDER BY s.expires_at LIMIT $1 FOR UPDATE OF s SKIP LOCKED", limit)
    return [to_struct(r, ExpiredSession) for r in rows]


async def drop_expired(conn: asyncpg.Connection, file_ids: list[UUID]) -> None:
    """Mark still-uploading files aborted (their S3 uploads are gone) and delete the sessions."""
    await conn.execute(
        "UPDATE files SET status = 'aborted', purged_at = coalesce(purged_at, now())"
        " WHERE id = any($1::uuid[]) AND status = 'uploading'", file_ids)
    await conn.execute("DELETE FROM upload_sessions WHERE file_id = any($1::uuid[])", file_ids)


async def known_uploads(conn: asyncpg.Connection, file_ids: list[UUID]) -> set[tuple[UUID, str]]:
    rows = await conn.fetch("SELECT file_id, s3_upload_id FROM upload_sessions WHERE file_id = any($1::uuid[])",
                            file_ids)
    return {(r["file_id"], r["s3_upload_id"]) for r in rows}
