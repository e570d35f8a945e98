"""SQL for files: explicit columns, $n parameters, rows turned into FileRow in one helper."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from service.db import to_struct
from service.files.schemas import FileRow

COLUMNS = ("id, user_id, name, size, content_type, status, tier, object_key, sha256, thumbnail_key,"
           " created_at, uploaded_at, last_accessed_at")
# what a listing shows unless a status filter asks otherwise; matches files_user_visible_idx
VISIBLE = "status IN ('available', 'verifying', 'corrupt', 'restoring')"


def _row(record: asyncpg.Record | None) -> FileRow | None:
    return to_struct(record, FileRow)


async def insert_available(conn: asyncpg.Connection, *, file_id: UUID, user_id: UUID, name: str, size: int,
                           content_type: str, object_key: str, sha256: str, declared_sha256: str | None) -> FileRow:
    """A file whose bytes are already stored and hashed (small upload)."""
    return _row(await conn.fetchrow(
        "INSERT INTO files (id, user_id, name, size, content_type, status, tier, object_key, sha256,"
        " declared_sha256, uploaded_at) VALUES ($1, $2, $3, $4, $5, 'available', 'hot', $6, $7, $8, now())"
        f" RETURNING {COLUMNS}",
        file_id, user_id, name, size, content_type, object_key, sha256, declared_sha256))


async def get_owned(conn: asyncpg.Connection, file_id: UUID, user_id: UUID, *,
                    for_update: bool = False) -> FileRow | None:
    """The caller's file unless it is deleted (a deleted file is 404 everywhere at once)."""
    return _row(await conn.fetchrow(
        f"SELECT {COLUMNS} FROM files WHERE id = $1 AND user_id = $2 AND status <> 'deleted'"
        + (" FOR UPDATE" if for_update else ""), file_id, user_id))


def _where(statuses: list[str] | None, first_param: int) -> tuple[str, list]:
    if statuses is None:
        return VISIBLE, []
    return f"status = any(${first_param}::text[])", [statuses]


def page_after_sql(filtered: bool, keyset: bool) -> str:
    """Newest first, keyset on (created_at, id): $1 user, $2 limit, [$3 statuses], then the position."""
    cond, args = _where(["x"] if filtered else None, 3)
    n = 2 + len(args)
    position = f" AND (created_at, id) < (${n + 1}, ${n + 2})" if keyset else ""
    return (f"SELECT {COLUMNS} FROM files WHERE user_id = $1 AND {cond}{position}"
            " ORDER BY created_at DESC, id DESC LIMIT $2")


async def page_after(conn: asyncpg.Connection, user_id: UUID, statuses: list[str] | None,
                     after: tuple[datetime, UUID] | None, limit: int) -> list[FileRow]:
    """A deep page costs what the first one does (an index range scan from the position)."""
    params: list = [user_id, limit, *([statuses] if statuses is not None else [])]
    if after is not None:
        params += [after[0], after[1]]
    rows = await conn.fetch(page_after_sql(statuses is not None, after is not None), *params)
    return [_row(r) for r in rows]


async def page_at(conn: asyncpg.Connection, user_id: UUID, statuses: list[str] | None,
                  offset: int, limit: int) -> list[FileRow]:
    cond, args = _where(statuses, 4)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM files WHERE user_id = $1 AND {cond}"
        " ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3", user_id, offset, limit, *args)
    return [_row(r) for r in rows]


async def count(conn: asyncpg.Connection, user_id: UUID, statuses: list[str] | None) -> int:
    cond, args = _where(statuses, 2)
    return await conn.fetchval(f"SELECT count(*) FROM files WHERE user_id = $1 AND {cond}", user_id, *args)


async def touch_accessed(conn: asyncpg.Connection, file_id: UUID) -> None:
    """Record a download; at most one write per file per hour (tiering needs no finer clock)."""
    await conn.execute(
        "UPDATE files SET last_accessed_at = now() WHERE id = $1"
        " AND (last_accessed_at IS NULL OR last_accessed_at < now() - interval '1 hour')", file_id)


async def mark_deleted(conn: asyncpg.Connection, file_id: UUID, user_id: UUID) -> FileRow | None:
    return _row(await conn.fetchrow(
        "UPDATE files SET status = 'deleted', deleted_at = now()"
        " WHERE id = $1 AND user_id = $2 AND status <> 'deleted'"
        f" RETURNING {COLUMNS}", file_id, user_id))


async def mark_purged(conn: asyncpg.Connection, file_id: UUID) -> None:
    await conn.execute("UPDATE files SET purged_at = now() WHERE id = $1 AND purged_at IS NULL", file_id)
