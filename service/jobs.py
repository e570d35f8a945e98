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
