"""What every job shares: parsing the file id, picking the bucket, retry with backoff, enqueueing."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncpg
from arq import Retry

from service.jobs import enqueue
from service.storage import Storage, StorageUnavailable

log = logging.getLogger("mybox.worker")

# failures that are nobody's fault and pass: S3 or Postgres unreachable for a while
# (OSError covers refused connections and timeouts)
TRANSIENT = (StorageUnavailable, OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
             asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)

THUMB_PREFIX = "thumbs/"


def parse_file_id(file_id: str) -> UUID | None:
    try:
        return UUID(str(file_id))
    except ValueError:
        log.warning("job for a malformed file id %r ignored", file_id)
        return None


def thumb_key(file_id: UUID, size: int) -> str:
    return f"{THUMB_PREFIX}{file_id}/{size}.webp"


def storage_for(ctx: dict, tier: str) -> Storage:
    return ctx["cold_storage"] if tier == "cold" else ctx["storage"]


def retry_later(ctx: dict, exc: BaseException) -> Retry:
    """arq Retry with exponential backoff: 5 s, 10 s, 20 s ... capped (WorkerConfig)."""
    config = ctx["config"]
    tries = int(ctx.get("job_try") or 1)
    delay = min(config.retry_backoff_max_seconds, config.retry_backoff_seconds * 2 ** (tries - 1))
    log.warning("job %s: %s; retrying in %.0f s (try %d of %d)", ctx.get("job_id"), _describe(exc), delay, tries,
                config.job_max_tries)
    return Retry(defer=delay)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


async def enqueue_job(ctx: dict, function: str, file_id: UUID, prefix: str) -> bool:
    """Enqueue onto the worker's queue with the deduplicating job id `<prefix>:<fileId>`."""
    settings = ctx["settings"]
    return await enqueue(ctx.get("redis"), settings.job_queue, function, str(file_id), job_id=f"{prefix}:{file_id}")
