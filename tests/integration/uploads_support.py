"""Helpers for the multipart upload tests: parts go to S3 over plain HTTP, no credentials."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest_asyncio
import uvicorn
from arq.connections import ArqRedis

from service.app import create_app
from service.db import create_pool
from service.storage import hot_storage
from service.uploads.partsize import MiB
from tests.conftest import free_port

PART = 5 * MiB  # the smallest part S3 accepts


def part_of(data: bytes, part_size: int, n: int) -> bytes:
    return data[(n - 1) * part_size: n * part_size]


async def put_part(http: httpx.AsyncClient, url: str, body: bytes) -> str:
    r = await http.put(url, content=body)
    assert r.status_code == 200, f"S3 refused the part: {r.status_code} {r.text[:300]}"
    return r.headers["etag"]


async def init(client, headers: dict[str, str], size: int, *, part_size: int | None = PART,
               name: str = "big.bin", **extra) -> dict:
    body = {"name": name, "size": size, "contentType": "application/octet-stream", **extra}
    if part_size is not None:
        body["partSize"] = part_size
    r = await client.post("/files/init-multipart", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def report(client, headers: dict[str, str], file_id: str, n: int, etag: str):
    return await client.post(f"/files/{file_id}/part-complete", json={"partNumber": n, "etag": etag},
                             headers=headers)


# --- clients of the test's own event loop (the in-process app runs its own loop in a thread) ---
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool(settings):
    p = await create_pool(settings.database_url, min_size=1, max_size=8)
    yield p
    await p.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def storage(settings):
    s = hot_storage(settings)
    yield s
    await s.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis(settings):
    r = ArqRedis.from_url(settings.redis_url)
    yield r
    await r.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def http():
    async with httpx.AsyncClient(timeout=60) as c:
        yield c


async def stored_bytes(storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.iter_range(key)])


class InLoopServer:
    """The app served by uvicorn inside the test's own event loop: real HTTP and real
    concurrency (the Litestar test client runs requests one at a time), and its log records
    reach caplog."""

    def __init__(self, settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                                    log_level="warning", log_config=None, lifespan="on"))
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "InLoopServer":
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await self.task


class RecordList(logging.Handler):
    """Collects the messages of one logger (the app's logging setup replaces root handlers, so
    pytest's caplog does not see an app started inside a test)."""

    def __init__(self, sink: list[str], logger: logging.Logger) -> None:
        super().__init__(logging.INFO)
        self.sink, self.logger, self.old_level = sink, logger, logger.level
        logger.addHandler(self)
        logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())

    def close(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.old_level)
        super().close()
