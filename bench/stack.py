"""A throwaway stack for benchmarks: fresh database, buckets and queue on the local services,
the API as a real process on a free port (so its RSS can be measured), users and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from contextlib import ExitStack
from typing import AsyncIterator

import httpx
import psutil

from service.config import Settings, load_settings
from service.db import drop_database
from service.migrate import migrate_url
from tests.conftest import LiveServer, _empty_and_remove_bucket, _with_db
from tests.services import find_services


class BenchStack:
    def __init__(self, settings: Settings, server: LiveServer) -> None:
        self.settings = settings
        self.server = server
        self.url = server.url
        self.proc = psutil.Process(server.proc.pid)

    def rss(self) -> int:
        return self.proc.memory_info().rss

    async def user(self, client: httpx.AsyncClient) -> dict[str, str]:
        name, pw = f"bench{secrets.token_hex(5)}", "bench-password-1"
        (await client.post(f"{self.url}/auth/register", json={"username": name, "password": pw})).raise_for_status()
        r = await client.post(f"{self.url}/auth/token", json={"username": name, "password": pw})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}


@contextlib.asynccontextmanager
async def bench_stack(**overrides: str) -> AsyncIterator[BenchStack]:
    run = secrets.token_hex(4)
    with ExitStack() as es:
        ep = find_services(es)
        db_url = _with_db(ep.postgres_admin_url, f"mybox_bench_{run}")
        await migrate_url(db_url)
        settings = load_settings({
            "MYBOX_DATABASE_URL": db_url, "MYBOX_REDIS_URL": ep.redis_url,
            "MYBOX_JOB_QUEUE": f"mybox:bench:{run}:queue", "MYBOX_S3_ENDPOINT": ep.s3_endpoint,
            "MYBOX_S3_PUBLIC_ENDPOINT": ep.s3_endpoint, "MYBOX_S3_ACCESS_KEY": ep.s3_access_key,
            "MYBOX_S3_SECRET_KEY": ep.s3_secret_key, "MYBOX_S3_BUCKET": f"mybox-bench-{run}",
            "MYBOX_S3_COLD_BUCKET": f"mybox-bench-{run}-cold", **overrides}, dotenv=None)
        server = await asyncio.to_thread(LiveServer, settings)
        try:
            yield BenchStack(settings, server)
        finally:
            server.stop()
            for b in (settings.s3_bucket, settings.s3_cold_bucket):
                await _empty_and_remove_bucket(settings, b)
            await drop_database(db_url)
