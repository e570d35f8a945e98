"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.datastructures import State

from service.errors import error_body


@get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """200 while the process is up."""
    return {"status": "ok"}


async def _check(coro, timeout: float = 3.0) -> str | None:
    try:
        await asyncio.wait_for(coro, timeout)
        return None
    except Exception as exc:  # the reason goes into the report, never a traceback
        return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:200]}"


async def _pg(state: State) -> None:
    async with state.pool.acquire(timeout=3) as conn:
        await conn.fetchval("SELECT 1")


@get("/readyz", tags=["health"])
async def readyz(state: State) -> Response[dict]:
    """200 when Postgres, S3 and Redis answer; 503 naming the ones that do not."""
    results = await asyncio.gather(
        _check(_pg(state)), _check(state.storage.ping()), _check(state.redis.ping()))
    checks = {name: ("ok" if err is None else f"failed: {err}")
              for name, err in zip(("postgres", "s3", "redis"), results)}
    failing = [name for name, err in zip(("postgres", "s3", "redis"), results) if err is not None]
    if failing:
        body = error_body(503, "not_ready", f"not ready: {', '.join(failing)} not answering")
        body["checks"] = checks
        return Response(body, status_code=503)
    return Response({"status": "ready", "checks": checks}, status_code=200)


ROUTES = [healthz, readyz]
