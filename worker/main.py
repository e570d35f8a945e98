"""The arq worker: `arq worker.main.WorkerSettings` runs it, `arq --check worker.main.WorkerSettings`
is its health check (exit 0 while a worker has written its health key within the last interval).

Nothing connects at import: `WorkerSettings` is built on first access from the environment
(Settings + WorkerConfig); tests build their own with make_worker_settings(settings, config) or
build_worker(settings, config, burst=True). Clients (Postgres pool, S3) are created in startup and
closed in shutdown. On SIGTERM the worker stops taking jobs, lets running ones finish for
shutdown_grace_seconds, then cancels the rest, which arq re-queues for the next worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pyvips
from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import Settings, load_settings
from service.db import create_pool
from service.jobs import cron_schedule
from service.storage import cold_storage, hot_storage
from service.uploads import sweep as uploads_sweep
from worker.config import WorkerConfig, load_worker_config
from worker.purge import purge_file
from worker.reconcile import reconcile
from worker.thumbnails import thumbnail
from worker.tiering import restore_file, tier_files
from worker.verify import verify_checksum

log = logging.getLogger("mybox.worker")


async def startup(ctx: dict) -> None:
    settings: Settings = ctx["settings"]
    config: WorkerConfig = ctx["config"]
    if not logging.getLogger().handlers:
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if logging.getLogger("arq").handlers:  # the arq CLI gave arq its own handler: do not log twice
        logging.getLogger("arq").propagate = False
    logging.getLogger("pyvips").setLevel(logging.WARNING)  # libvips narrates every operation at INFO
    pyvips.cache_set_max(0)  # no operation cache: it would hold decoded images and open temp files
    ctx["vips_slots"] = asyncio.Semaphore(config.thumbnail_concurrency)
    ctx["pool"] = await _connect_pool(settings)
    ctx["storage"] = hot_storage(settings)
    ctx["cold_storage"] = cold_storage(settings)
    for store in (ctx["storage"], ctx["cold_storage"]):
        try:
            await store.ensure_bucket(settings.cors_origins)
        except Exception:
            log.warning("could not prepare bucket %s (S3 down?); jobs will retry", store.bucket, exc_info=True)


async def shutdown(ctx: dict) -> None:
    for key in ("storage", "cold_storage"):
        if key in ctx:
            await ctx.pop(key).close()
    if "pool" in ctx:
        await ctx.pop("pool").close()


async def _connect_pool(settings: Settings, attempts: int = 30):
    for attempt in range(attempts):
        try:
            return await create_pool(settings.database_url, min_size=1, max_size=5)
        except (OSError, ConnectionError) as exc:
            if attempt == attempts - 1:
                raise
            log.warning("Postgres not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1)


class _PatientBackoff(ExponentialBackoff):
    """Redis away: the worker keeps retrying (backoff capped at a few seconds) instead of exiting,
    and says so in the log now and then."""

    def compute(self, failures: int) -> float:
        if failures == 1 or failures % 12 == 0:
            log.warning("Redis is not answering (try %d); the worker waits for it", failures)
        return super().compute(failures)


def redis_settings(settings: Settings) -> RedisSettings:
    """The worker's Redis connection: every command retries through an outage (arq would
    otherwise let the first refused connection end the worker process). A stop requested while
    Redis is away waits in arq's final health-key cleanup until the supervisor's grace period
    ends (compose: stop_grace_period; the local stack: 10 s) and is then killed, which loses
    nothing: running jobs were already cancelled and are re-queued."""
    return dataclasses.replace(RedisSettings.from_dsn(settings.redis_url),
                               # OSError: a refused connect (the retry wraps redis-py's connect too)
                               retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
                               retry=Retry(_PatientBackoff(cap=5, base=0.25), retries=-1))


def make_worker_settings(settings: Settings, config: WorkerConfig | None = None, *,
                         with_cron: bool = True) -> dict[str, Any]:
    """arq worker settings (a dict arq accepts wherever it takes a WorkerSettings class)."""
    config = config or WorkerConfig()
    retries = {"max_tries": config.job_max_tries, "keep_result": 0}
    return {
        "functions": [
            func(thumbnail, name="thumbnail", timeout=config.thumbnail_timeout_seconds, **retries),
            func(verify_checksum, name="verify_checksum", timeout=config.verify_timeout_seconds, **retries),
            func(purge_file, name="purge_file", timeout=config.purge_timeout_seconds, **retries),
            func(restore_file, name="restore_file", timeout=config.verify_timeout_seconds, **retries),
        ],
        "cron_jobs": [
            cron(reconcile, name="reconcile", run_at_startup=True, unique=True, max_tries=1, keep_result=0,
                 timeout=config.reconcile_timeout_seconds, **cron_schedule(config.reconcile_interval_seconds)),
            *uploads_sweep.cron_jobs(settings, timeout_seconds=config.reconcile_timeout_seconds),
            cron(tier_files, name="tiering", unique=True, max_tries=1, keep_result=0,
                 timeout=config.verify_timeout_seconds, **cron_schedule(settings.tiering_interval_seconds)),
        ] if with_cron else [],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings, "config": config},
        "redis_settings": redis_settings(settings),
        "queue_name": settings.job_queue,
        "health_check_key": settings.job_queue + ":health-check",
        "health_check_interval": config.health_check_interval_seconds,
        "job_completion_wait": config.shutdown_grace_seconds,
        "max_jobs": config.max_jobs,
        "poll_delay": config.poll_delay_seconds,
        "max_tries": config.job_max_tries,
        # no results kept: a finished job's id must not block the next enqueue of the same id
        "keep_result": 0,
    }


def build_worker(settings: Settings, config: WorkerConfig | None = None, *, burst: bool = False,
                 with_cron: bool = False, **overrides: Any) -> Worker:
    """A Worker for these settings (tests: burst=True runs until the queue is empty)."""
    kwargs = make_worker_settings(settings, config, with_cron=with_cron)
    if not kwargs["cron_jobs"]:
        kwargs["cron_jobs"] = None
    kwargs["ctx"] = dict(kwargs["ctx"])
    return Worker(**{**kwargs, "burst": burst, **overrides})


def __getattr__(name: str) -> Any:
    """`WorkerSettings` (the class arq's CLI expects) on first access, from the environment (and .env)."""
    if name == "WorkerSettings":
        value = type("WorkerSettings", (), make_worker_settings(load_settings(), load_worker_config()))
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
