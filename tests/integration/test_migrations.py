import asyncio
import secrets

import asyncpg
import pytest

from service.db import drop_database, ensure_database
from service.migrate import available_migrations, migrate
from tests.conftest import _with_db


async def test_apply_twice_and_concurrently(endpoints):
    url = _with_db(endpoints.postgres_admin_url, f"mybox_mig_{secrets.token_hex(4)}")
    await ensure_database(url)
    try:
        c1, c2 = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            # two processes starting together: the advisory lock serialises them
            first, second = await asyncio.gather(migrate(c1), migrate(c2))
            versions = [v for v, _ in available_migrations()]
            assert sorted(first + second) == versions  # each applied exactly once
            assert await migrate(c1) == []  # running again changes nothing
            rows = await c1.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r["version"] for r in rows] == versions
            tables = {r["tablename"] for r in await c1.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
            assert {"users", "api_tokens", "files", "upload_sessions", "upload_parts"} <= tables
        finally:
            await c1.close()
            await c2.close()
    finally:
        await drop_database(url)


async def test_failed_migration_rolls_back(endpoints, tmp_path):
    url = _with_db(endpoints.postgres_admin_url, f"mybox_mig_{secrets.token_hex(4)}")
    await ensure_database(url)
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x int); SELECT no_such_function();")
    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.PostgresError):
            await migrate(conn, tmp_path)
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        assert "a" in tables and "b" not in tables
        assert [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")] == ["0001_ok"]
    finally:
        await conn.close()
        await drop_database(url)
