"""SQL for tiering."""

from __future__ import annotations

from uuid import UUID

import asyncpg

MOVE_COLUMNS = "id, user_id, object_key, size, sha256, content_type, tier, status"


async def cold_candidates(conn: asyncpg.Connection, idle_seconds: int, limit: int) -> list[asyncpg.Record]:
    """Available hot files not downloaded (or, never downloaded, not uploaded) for idle_seconds."""
    return await conn.fetch(
        f"SELECT {MOVE_COLUMNS} FROM files"
        " WHERE status = 'available' AND tier = 'hot' AND sha256 IS NOT NULL AND stale_tier IS NULL"
        " AND coalesce(last_accessed_at, uploaded_at) < now() - make_interval(secs => $1)"
        " ORDER BY coalesce(last_accessed_at, uploaded_at) LIMIT $2",
        float(idle_seconds), limit)


async def try_lock_file(conn: asyncpg.Connection, file_id: UUID) -> bool:
    """A session-level advisory lock per file: two workers never move the same file, and no
    row lock is held during the (long) copy, so downloads and deletes are never blocked."""
    return await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1::text, 7))", str(file_id))


async def unlock_file(conn: asyncpg.Connection, file_id: UUID) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1::text, 7))", str(file_id))


async def file_for_move(conn: asyncpg.Connection, file_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {MOVE_COLUMNS}, stale_tier FROM files WHERE id = $1", file_id)


async def switch_to_cold(conn: asyncpg.Connection, file_id: UUID) -> bool:
    """The one transaction that makes the cold copy authoritative; false if the file changed."""
    row = await conn.fetchrow(
        "UPDATE files SET tier = 'cold', stale_tier = 'hot', tier_changed_at = now()"
        " WHERE id = $1 AND status = 'available' AND tier = 'hot' AND stale_tier IS NULL RETURNING id", file_id)
    return row is not None


async def switch_to_hot(conn: asyncpg.Connection, file_id: UUID) -> bool:
    """A restore (or promotion) finished: the hot copy is authoritative again."""
    row = await conn.fetchrow(
        "UPDATE files SET tier = 'hot', stale_tier = 'cold', tier_changed_at = now(), status = 'available',"
        " restore_requested_at = NULL, last_accessed_at = now()"
        " WHERE id = $1 AND tier = 'cold' AND status IN ('restoring', 'available') RETURNING id", file_id)
    return row is not None


async def stale_copies(conn: asyncpg.Connection, grace_seconds: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, object_key, stale_tier FROM files WHERE stale_tier IS NOT NULL"
        " AND tier_changed_at < now() - make_interval(secs => $1) LIMIT $2", float(grace_seconds), limit)


async def clear_stale(conn: asyncpg.Connection, file_id: UUID, stale_tier: str) -> None:
    await conn.execute("UPDATE files SET stale_tier = NULL WHERE id = $1 AND stale_tier = $2", file_id, stale_tier)


async def mark_restoring(conn: asyncpg.Connection, file_id: UUID) -> None:
    await conn.execute("UPDATE files SET status = 'restoring', restore_requested_at = now() WHERE id = $1", file_id)


async def stuck_restores(conn: asyncpg.Connection, older_than_seconds: int, limit: int) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM files WHERE status = 'restoring'"
        " AND restore_requested_at < now() - make_interval(secs => $1) LIMIT $2",
        float(older_than_seconds), limit)
    return [r["id"] for r in rows]


async def tier_report(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT tier, count(*)::bigint AS files, coalesce(sum(size), 0)::bigint AS bytes FROM files"
        " WHERE status IN ('available', 'verifying', 'corrupt', 'restoring') GROUP BY tier ORDER BY tier")
