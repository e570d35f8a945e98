"""The expired-upload sweep (an arq cron job; the worker registers `cron_jobs(settings)`).

1. Open sessions past their expiry, in bounded batches locked with FOR UPDATE SKIP LOCKED (two
   workers never handle one session): abort the S3 upload (one S3 no longer knows is fine),
   mark the file `aborted` and delete the session row. A session whose abort fails (S3 down)
   stays for the next run.
2. Orphans: S3 multipart uploads older than the TTL that no session owns (a crash between
   S3's CreateMultipartUpload and the database commit) are aborted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
from arq.cron import CronJob, cron

from service.db import transaction
from service.jobs import cron_schedule
from service.storage import PendingUpload, Storage
from service.uploads import queries
from service.uploads.schemas import ExpiredSession

log = logging.getLogger("mybox.uploads.sweep")

BATCH_SIZE = 500
MAX_BATCHES = 200        # at most 100,000 sessions per run; the next run takes the rest
S3_CONCURRENCY = 16


@dataclass
class SweepResult:
    expired: int = 0
    failed: int = 0
    orphans: int = 0
    seconds: float = 0.0


async def _abort_one(storage: Storage, s: ExpiredSession, sem: asyncio.Semaphore) -> bool:
    async with sem:
        try:
            if not await storage.abort_multipart(s.object_key, s.s3_upload_id):
                await storage.remove(s.object_key)  # gone from S3: a completion may have left an object
            return True
        except Exception:
            log.warning("could not abort expired upload %s (%s); next sweep retries", s.file_id, s.s3_upload_id,
                        exc_info=True)
            return False


async def sweep_expired(pool: asyncpg.Pool, storage: Storage, *, batch_size: int = BATCH_SIZE,
                        max_batches: int = MAX_BATCHES, concurrency: int = S3_CONCURRENCY) -> tuple[int, int]:
    """Abort expired open sessions; returns (swept, failed)."""
    sem = asyncio.Semaphore(concurrency)
    swept = failed = 0
    for _ in range(max_batches):
        async with transaction(pool) as tx:
            batch = await queries.lock_expired_batch(tx.conn, batch_size)
            if not batch:
                break
            ok = await asyncio.gather(*(_abort_one(storage, s, sem) for s in batch))
            done = [s.file_id for s, good in zip(batch, ok) if good]
            if done:
                await queries.drop_expired(tx.conn, done)
        swept += len(done)
        failed += len(batch) - len(done)
        if len(done) < len(batch) or len(batch) < batch_size:
            break  # the last batch, or S3 is failing: stop until the next run
    return swept, failed


def _file_id(key: str) -> uuid.UUID | None:
    prefix, _, rest = key.partition("/")
    if prefix != "objects":
        return None
    try:
        return uuid.UUID(rest)
    except ValueError:
        return None


async def _abort_orphans(pool: asyncpg.Pool, storage: Storage, uploads: list[PendingUpload],
                         sem: asyncio.Semaphore) -> int:
    ids = [fid for fid in (_file_id(u.key) for u in uploads) if fid is not None]
    async with pool.acquire() as conn:
        known = await queries.known_uploads(conn, ids)
    orphans = [u for u in uploads if (_file_id(u.key), u.upload_id) not in known]

    async def abort(u: PendingUpload) -> bool:
        async with sem:
            try:
                await storage.abort_multipart(u.key, u.upload_id)
                return True
            except Exception:
                log.warning("could not abort orphan upload %s of %s", u.upload_id, u.key, exc_info=True)
                return False

    return sum(await asyncio.gather(*(abort(u) for u in orphans)))


async def sweep_orphans(pool: asyncpg.Pool, storage: Storage, *, ttl_seconds: int,
                        concurrency: int = S3_CONCURRENCY, now: datetime | None = None) -> int:
    """Abort S3 multipart uploads older than the TTL that no session owns; returns how many."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=ttl_seconds)
    sem = asyncio.Semaphore(concurrency)
    aborted = 0
    chunk: list[PendingUpload] = []
    async for u in storage.list_multipart_uploads():
        if u.initiated is not None and u.initiated < cutoff:
            chunk.append(u)
        if len(chunk) >= BATCH_SIZE:
            aborted += await _abort_orphans(pool, storage, chunk, sem)
            chunk = []
    if chunk:
        aborted += await _abort_orphans(pool, storage, chunk, sem)
    return aborted


async def sweep(pool: asyncpg.Pool, storage: Storage, *, ttl_seconds: int, batch_size: int = BATCH_SIZE) -> SweepResult:
    started = time.monotonic()
    swept, failed = await sweep_expired(pool, storage, batch_size=batch_size)
    orphans = await sweep_orphans(pool, storage, ttl_seconds=ttl_seconds)
    result = SweepResult(expired=swept, failed=failed, orphans=orphans, seconds=round(time.monotonic() - started, 3))
    if swept or failed or orphans:
        log.info("upload sweep: %s", result)
    return result


async def sweep_expired_uploads(ctx: dict) -> dict:
    """The arq job: ctx holds the worker's settings, pool and hot storage."""
    settings = ctx["settings"]
    result = await sweep(ctx["pool"], ctx["storage"], ttl_seconds=settings.upload_ttl_seconds)
    return result.__dict__


def cron_jobs(settings) -> list[CronJob]:
    """What the worker puts in WorkerSettings.cron_jobs."""
    return [cron(sweep_expired_uploads, name="uploads:sweep", **cron_schedule(settings.sweep_interval_seconds),
                 unique=True, run_at_startup=True, timeout=max(300, settings.sweep_interval_seconds))]
