"""Postgres: one asyncpg pool per process, and the per-request transaction."""

from __future__ import annotations

import contextlib
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec

log = logging.getLogger("mybox.db")


async def create_pool(database_url: str, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=30,
        max_inactive_connection_lifetime=300,
    )


def _split_db(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    return admin, name


async def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist yet."""
    admin_url, name = _split_db(database_url)
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
    finally:
        await conn.close()


async def drop_database(database_url: str) -> None:
    admin_url, name = _split_db(database_url)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name.replace(chr(34), "")}" WITH (FORCE)')
    finally:
        await conn.close()


def to_struct(row: asyncpg.Record | None, cls: type[Any]) -> Any:
    """Turn one row into a msgspec Struct (None stays None)."""
    if row is None:
        return None
    return msgspec.convert(dict(row), cls, from_attributes=True)


class Tx:
    """The request's connection, inside its one transaction, plus work to run after commit
    (job enqueues). Services use tx.conn and tx.after_commit(); they never commit."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], Awaitable[Any]]] = []

    def after_commit(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self._after_commit.append(fn)

    async def run_after_commit(self) -> None:
        for fn in self._after_commit:
            try:
                await fn()
            except Exception:  # a lost enqueue is caught by the reconciliation sweep
                log.warning("after-commit action failed", exc_info=True)
        self._after_commit.clear()


# the connection died (Postgres restarted, the network dropped), or its protocol state was left
# confused by the server going away: nothing to roll back, and the request may be retried
CONNECTION_GONE = (asyncpg.InterfaceError, asyncpg.InternalClientError, asyncpg.PostgresConnectionError,
                   asyncpg.exceptions.OperatorInterventionError, OSError)


async def _begin(pool: asyncpg.Pool) -> tuple[Any, Any]:
    """A pooled connection inside a new transaction. After a Postgres restart the pool can still
    hold connections it does not know are dead yet; BEGIN is where that shows, and nothing has
    happened yet, so a second try with a fresh connection is safe."""
    for attempt in range(2):
        conn = await pool.acquire()
        tr = conn.transaction()
        try:
            await tr.start()
            return conn, tr
        except CONNECTION_GONE:
            with contextlib.suppress(Exception):
                await pool.release(conn)
            if attempt:
                raise
            log.warning("a pooled database connection was dead; retrying with a fresh one")
    raise AssertionError("unreachable")


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[Tx]:
    """One transaction: commits when the block ends cleanly, then runs after-commit work.
    When the block fails, cleanup on a dead connection never replaces the block's own error
    (the server has discarded the transaction anyway)."""
    conn, tr = await _begin(pool)
    tx = Tx(conn)
    try:
        try:
            yield tx
        except BaseException:
            with contextlib.suppress(*CONNECTION_GONE):
                await tr.rollback()
            raise
        await tr.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await pool.release(conn)
        raise
    await pool.release(conn)
    await tx.run_after_commit()
