"""arq WorkerSettings: clients in ctx at startup, closed at shutdown (jobs come with the worker issue)."""

from __future__ import annotations

import logging

from arq.connections import RedisSettings

from service.config import load_settings
from service.db import create_pool
from service.storage import cold_storage, hot_storage
from service.uploads import sweep as uploads_sweep

SETTINGS = load_settings()
logging.basicConfig(level=SETTINGS.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


async def startup(ctx: dict) -> None:
    ctx["settings"] = SETTINGS
    ctx["pool"] = await create_pool(SETTINGS.database_url, min_size=1, max_size=5)
    ctx["storage"] = hot_storage(SETTINGS)
    ctx["cold_storage"] = cold_storage(SETTINGS)


async def shutdown(ctx: dict) -> None:
    for key in ("storage", "cold_storage"):
        if key in ctx:
            await ctx[key].close()
    if "pool" in ctx:
        await ctx["pool"].close()


async def ping(ctx: dict) -> str:
    return "pong"


class WorkerSettings:
    functions = [ping]
    cron_jobs = [*uploads_sweep.cron_jobs(SETTINGS)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(SETTINGS.redis_url)
    queue_name = SETTINGS.job_queue
    health_check_key = SETTINGS.job_queue + ":health-check"
