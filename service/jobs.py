"""Enqueue arq jobs only after the request's transaction commits.

A failed enqueue (Redis down) never fails the request: the worker's reconciliation sweep
finds files that still lack their thumbnail or checksum and enqueues them again.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.connections import ArqRedis

from service.db import Tx

log = logging.getLogger("mybox.jobs")


async def enqueue(redis: ArqRedis | None, queue: str, function: str, *args: Any, job_id: str | None = None,
                  defer_seconds: float | None = None) -> bool:
    if redis is None:
        return False
    try:
        job = await redis.enqueue_job(function, *args, _job_id=job_id, _queue_name=queue,
                                      _defer_by=defer_seconds)
        return job is not None
    except Exception:
        log.warning("could not enqueue %s(%s); reconciliation will retry", function, args, exc_info=True)
        return False


def enqueue_after_commit(tx: Tx, redis: ArqRedis | None, queue: str, function: str, *args: Any,
                         job_id: str | None = None) -> None:
    async def run() -> None:
        await enqueue(redis, queue, function, *args, job_id=job_id)
    tx.after_commit(run)


# --- cron schedules (arq cron takes second/minute/hour sets, not intervals) ---------------------
_DIV_60 = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
_DIV_24 = (1, 2, 3, 4, 6, 8, 12, 24)


def _largest_divisor(divisors: tuple[int, ...], limit: int) -> int:
    return max(d for d in divisors if d <= max(1, limit))


def cron_schedule(interval_seconds: int) -> dict[str, set[int]]:
    """arq cron fields (second/minute/hour sets) that fire every P seconds with
    interval/2 < P <= interval (P divides a minute, an hour or a day; at least daily)."""
    i = max(1, int(interval_seconds))
    if i < 60:
        d = _largest_divisor(_DIV_60, i)
        return {"second": set(range(0, 60, d))}
    if i < 3600:
        d = _largest_divisor(_DIV_60, i // 60)
        return {"minute": set(range(0, 60, d)), "second": {0}}
    d = _largest_divisor(_DIV_24, min(i // 3600, 24))
    return {"hour": set(range(0, 24, d)), "minute": {0}, "second": {0}}
