"""SQL for users and tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg


async def insert_user(conn: asyncpg.Connection, user_id: UUID, username: str, password_hash: str) -> bool:
    """False when the username (case-insensitively) is taken."""
    row = await conn.fetchrow(
        "INSERT INTO users (id, username, password_hash) VALUES ($1, $2, $3)"
        " ON CONFLICT (lower(username)) DO NOTHING RETURNING id",
        user_id, username, password_hash)
    return row is not None


async def user_by_name(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, username, password_hash FROM users WHERE lower(username) = lower($1)", username)


async def insert_token(conn: asyncpg.Connection, token_id: UUID, user_id: UUID, digest: bytes,
                       expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO api_tokens (id, user_id, token_sha256, expires_at) VALUES ($1, $2, $3, $4)",
        token_id, user_id, digest, expires_at)


async def user_by_token(conn: asyncpg.Connection, digest: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT t.id AS token_id, t.last_used_at, u.id, u.username FROM api_tokens t"
        " JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1 AND t.expires_at > now()",
        digest)


async def touch_token(conn: asyncpg.Connection, token_id: UUID) -> None:
    await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", token_id)


async def delete_token(conn: asyncpg.Connection, digest: bytes) -> None:
    await conn.execute("DELETE FROM api_tokens WHERE token_sha256 = $1", digest)


async def delete_expired_tokens(conn: asyncpg.Connection, limit: int = 1000) -> int:
    result = await conn.execute(
        "DELETE FROM api_tokens WHERE id IN (SELECT id FROM api_tokens WHERE expires_at < now() LIMIT $1)", limit)
    return int(result.split()[-1])


async def usage(conn: asyncpg.Connection, user_id: UUID) -> list[asyncpg.Record]:
    """Bytes and file count per tier over the files a user can see."""
    return await conn.fetch(
        "SELECT tier, coalesce(sum(size), 0)::bigint AS bytes, count(*)::bigint AS files FROM files"
        " WHERE user_id = $1 AND status IN ('available', 'verifying', 'corrupt', 'restoring')"
        " GROUP BY tier", user_id)
