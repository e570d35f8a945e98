"""Shared pieces for the worker tests: file rows + objects put in place directly (a user row, a
files row, the object in S3), a started job context for calling jobs and the reconciler directly,
and real arq workers in burst mode on a queue of the test's own."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import asyncpg
import msgspec
import pytest_asyncio
from arq.connections import ArqRedis

from service.config import Settings
from tests.conftest import _empty_and_remove_bucket
from worker import queries
from worker.config import WorkerConfig
from worker.main import build_worker, shutdown, startup

FAST = WorkerConfig(
    thumbnail_timeout_seconds=30, verify_timeout_seconds=30, purge_timeout_seconds=15, reconcile_timeout_seconds=30,
    retry_backoff_seconds=0.2, retry_backoff_max_seconds=1.0, reconcile_grace_seconds=0, purge_grace_seconds=0,
    orphan_grace_seconds=3600, health_check_interval_seconds=2, shutdown_grace_seconds=5,
)


@dataclass
class StoredFile:
    id: uuid.UUID
    key: str
    data: bytes


class WorkerEnv:
    """Settings with a queue of this test's own, a started job context (Postgres pool, S3 clients,
    an ArqRedis for enqueueing), and helpers to put files in place and run workers."""

    def __init__(self, settings: Settings, config: WorkerConfig) -> None:
        self.settings = settings
        self.config = config
        self.ctx: dict = {"settings": settings, "config": config}
        self.user_id = uuid.uuid4()

    async def start(self) -> "WorkerEnv":
        await startup(self.ctx)
        self.ctx["redis"] = ArqRedis.from_url(self.settings.redis_url)
        self.ctx["job_try"] = 1
        await self.pool.execute("INSERT INTO users (id, username, password_hash) VALUES ($1, $2, 'x')",
                                self.user_id, f"w{secrets.token_hex(6)}")
        return self

    async def close(self) -> None:
        redis: ArqRedis = self.ctx.pop("redis")
        await redis.delete(self.settings.job_queue)
        await redis.aclose()
        await shutdown(self.ctx)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.ctx["pool"]

    @property
    def redis(self) -> ArqRedis:
        return self.ctx["redis"]

    @property
    def storage(self):
        return self.ctx["storage"]

    async def put_file(self, data: bytes, *, content_type: str = "application/octet-stream",
                       status: str = "available", declared_sha256: str | None = None, known_sha256: bool = True,
                       store_object: bool = True, size: int | None = None, name: str = "f",
                       file_id: uuid.UUID | None = None) -> StoredFile:
        """A files row as the upload paths leave it, and (unless told otherwise) its object."""
        fid = file_id or uuid.uuid4()
        key = f"objects/{fid}"
        if store_object:
            await self.storage.put_bytes(key, data, content_type)
        await self.pool.execute(
            "INSERT INTO files (id, user_id, name, size, content_type, status, object_key, sha256, declared_sha256,"
            " uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())",
            fid, self.user_id, name, len(data) if size is None else size, content_type, status, key,
            hashlib.sha256(data).hexdigest() if known_sha256 else None, declared_sha256)
        return StoredFile(fid, key, data)

    async def row(self, fid: uuid.UUID) -> queries.FileRow:
        row = await queries.file_row(self.pool, fid)
        assert row is not None
        return row

    async def thumbnail_error(self, fid: uuid.UUID) -> str | None:
        return await self.pool.fetchval("SELECT thumbnail_error FROM files WHERE id = $1", fid)

    async def enqueue(self, function: str, fid: uuid.UUID, prefix: str) -> bool:
        job = await self.redis.enqueue_job(function, str(fid), _job_id=f"{prefix}:{fid}",
                                           _queue_name=self.settings.job_queue)
        return job is not None

    async def run_worker(self, settings: Settings | None = None, with_cron: bool = False, **overrides):
        """A real arq worker in burst mode: runs every queued job, then returns the Worker."""
        w = build_worker(settings or self.settings, self.config, burst=True, with_cron=with_cron,
                         handle_signals=False, poll_delay=0.05, **overrides)
        try:
            await w.async_run()
        finally:
            await w.close()
        return w

    async def queued(self) -> int:
        return await self.redis.zcard(self.settings.job_queue)


def worker_env_fixture(*, own_bucket: bool = False, **config_changes):
    """A function-scoped fixture factory: each test gets its own queue and context (and, when
    asked, its own empty bucket, removed afterwards)."""

    @pytest_asyncio.fixture(loop_scope="session")
    async def env(settings: Settings):
        token = secrets.token_hex(4)
        changes: dict = {"job_queue": f"{settings.job_queue}:w{token}"}
        if own_bucket:
            changes["s3_bucket"] = f"{settings.s3_bucket}-w{token}"
            changes["s3_cold_bucket"] = f"{settings.s3_bucket}-w{token}-cold"
        s = msgspec.structs.replace(settings, **changes)
        e = await WorkerEnv(s, msgspec.structs.replace(FAST, **config_changes)).start()
        try:
            yield e
        finally:
            await e.close()
            if own_bucket:
                for bucket in (s.s3_bucket, s.s3_cold_bucket):
                    await _empty_and_remove_bucket(s, bucket)

    return env
