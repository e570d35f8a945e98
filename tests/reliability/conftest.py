"""Fixtures of the reliability tests: processes of their own (SeaweedFS, Redis, Postgres, the
API, the worker) that a test may stop and start, and clients on the test's own event loop."""

from __future__ import annotations

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio

from service.config import Settings
from service.storage import Storage, hot_storage
from tests.reliability.procs import OwnRedis, OwnWeed


@pytest_asyncio.fixture(loop_scope="session")
async def db(settings: Settings):
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def http():
    async with httpx.AsyncClient(timeout=60) as c:
        yield c


@pytest.fixture
def own_weed(tmp_path, settings: Settings):
    weed = OwnWeed(tmp_path / "weed", settings.s3_access_key, settings.s3_secret_key).start()
    yield weed
    weed.kill()


@pytest.fixture
def own_redis(tmp_path):
    redis = OwnRedis(tmp_path).start()
    yield redis
    redis.kill()


def on_weed(settings: Settings, weed: OwnWeed) -> Settings:
    return msgspec.structs.replace(settings, s3_endpoint=weed.endpoint, s3_public_endpoint=weed.endpoint)


@pytest_asyncio.fixture(loop_scope="session")
async def weed_store(settings: Settings, own_weed: OwnWeed):
    """A Storage client for the own SeaweedFS (the test's event loop)."""
    store: Storage = hot_storage(on_weed(settings, own_weed))
    yield store
    await store.close()
