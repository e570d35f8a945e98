"""Forward-only SQL migrations: numbered files in migrations/, an applied-migrations table,
a Postgres advisory lock so processes starting together do not race, one transaction each."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg

from service.config import load_settings
from service.db import ensure_database

log = logging.getLogger("mybox.migrate")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK_KEY = 0x6D79626F78  # "mybox"


def available_migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[str, Path]]:
    files = sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())
    return [(p.stem, p) for p in files]


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied: list[str] = []
        for version, path in available_migrations(directory):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("applied migration %s", version)
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def migrate_url(database_url: str) -> list[str]:
    await ensure_database(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    applied = asyncio.run(migrate_url(settings.database_url))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


if __name__ == "__main__":
    main()
