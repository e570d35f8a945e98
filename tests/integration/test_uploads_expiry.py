"""Expiry: every call on an expired session is 410; the sweep (a real arq worker running the
cron job) aborts the S3 upload, marks the file aborted, handles each session once even with
two sweepers, tolerates uploads S3 forgot, and aborts orphan S3 uploads."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest_asyncio
from arq.connections import RedisSettings
from arq.worker import Worker
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.uploads import sweep as uploads_sweep
from tests.conftest import make_settings, register_user
from tests.integration.uploads_support import PART, http, init, pool, put_part, report, storage  # noqa: F401

TTL = 5          # seconds: sessions expire fast here (room for a part PUT on a loaded machine)
INTERVAL = 1     # sweep interval


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def short(settings):
    return make_settings(settings, upload_ttl_seconds=TTL, sweep_interval_seconds=INTERVAL)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def short_client(short):
    async with AsyncTestClient(app=create_app(short), base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def short_user(short_client):
    return await register_user(short_client)


async def s3_upload_ids(storage) -> set[str]:
    return {u.upload_id async for u in storage.list_multipart_uploads()}


async def wait_expired(up: dict) -> None:
    await asyncio.sleep(TTL + 0.3)


async def test_expired_session_is_410_everywhere_and_the_cron_sweep_aborts_it(short, short_client, short_user, pool,
                                                                               storage, http, settings):
    queue = f"{settings.job_queue}:sweep-{uuid.uuid4().hex[:6]}"
    worker = Worker(cron_jobs=uploads_sweep.cron_jobs(short), redis_settings=RedisSettings.from_dsn(short.redis_url),
                    queue_name=queue, ctx={"settings": short, "pool": pool, "storage": storage},
                    handle_signals=False, poll_delay=0.1, health_check_key=f"{queue}:health")
    task = asyncio.create_task(worker.async_run())
    try:
        h = short_user.headers
        up = await init(short_client, h, 2 * PART)
        fid = up["fileId"]
        etag = await put_part(http, up["parts"][0]["url"], os.urandom(PART))
        assert (await report(short_client, h, fid, 1, etag)).status_code == 200
        assert up["uploadId"] in await s3_upload_ids(storage)
        await wait_expired(up)
        expired_at = time.monotonic()
        calls = [short_client.get(f"/files/{fid}/upload", headers=h),
                 short_client.post(f"/files/{fid}/part-urls", json={"partNumbers": [2]}, headers=h),
                 report(short_client, h, fid, 1, etag),
                 short_client.delete(f"/files/{fid}/upload", headers=h)]
        for r in [await c for c in calls]:
            assert r.status_code == 410, r.text
            assert r.json()["code"] == "upload_expired"
        # within two sweep intervals S3 no longer lists the upload
        while up["uploadId"] in await s3_upload_ids(storage):
            assert time.monotonic() - expired_at < 2 * INTERVAL + 1, "the sweep did not abort the upload in time"
            await asyncio.sleep(0.1)
    finally:
        await worker.close()
        task.cancel()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, purged_at FROM files WHERE id = $1", uuid.UUID(fid))
        sessions = await conn.fetchval("SELECT count(*) FROM upload_sessions WHERE file_id = $1", uuid.UUID(fid))
    assert row["status"] == "aborted" and row["purged_at"] is not None and sessions == 0
    # still 410 after the sweep
    assert (await short_client.get(f"/files/{fid}/upload", headers=h)).status_code == 410
    assert (await short_client.delete(f"/files/{fid}/upload", headers=h)).status_code == 410


async def test_two_sweepers_handle_each_expired_session_once(short_client, short_user, pool, storage):
    ups = [await init(short_client, short_user.headers, PART * 3) for _ in range(30)]
    await wait_expired(ups[-1])
    async with pool.acquire() as conn:
        due = await conn.fetchval("SELECT count(*) FROM upload_sessions WHERE finished_at IS NULL AND expires_at < now()")
    assert due >= 30
    (a, fa), (b, fb) = await asyncio.gather(uploads_sweep.sweep_expired(pool, storage, batch_size=4),
                                            uploads_sweep.sweep_expired(pool, storage, batch_size=4))
    assert fa == fb == 0 and a + b == due and a > 0 and b > 0, (a, b, due)
    assert await uploads_sweep.sweep_expired(pool, storage) == (0, 0)   # nothing left: idempotent
    left = await s3_upload_ids(storage)
    assert not {u["uploadId"] for u in ups} & left
    async with pool.acquire() as conn:
        statuses = await conn.fetch("SELECT status FROM files WHERE id = any($1::uuid[])",
                                    [uuid.UUID(u["fileId"]) for u in ups])
    assert [r["status"] for r in statuses] == ["aborted"] * 30


async def test_the_sweep_tolerates_an_upload_s3_no_longer_knows(short_client, short_user, pool, storage):
    up = await init(short_client, short_user.headers, PART)
    await storage.abort_multipart(f"objects/{up['fileId']}", up["uploadId"])
    await wait_expired(up)
    swept, failed = await uploads_sweep.sweep_expired(pool, storage)
    assert swept >= 1 and failed == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM files WHERE id = $1", uuid.UUID(up["fileId"])) == "aborted"


async def test_orphan_s3_uploads_older_than_the_ttl_are_aborted(client, user, pool, storage):
    orphan_key = f"objects/{uuid.uuid4()}"
    orphan = await storage.create_multipart(orphan_key, "application/octet-stream")   # no session: a crash
    stray = await storage.create_multipart("elsewhere/tmp.bin", "application/octet-stream")
    owned = await init(client, user.headers, PART)                                     # a live session
    await asyncio.sleep(2.2)
    assert await uploads_sweep.sweep_orphans(pool, storage, ttl_seconds=3600) == 0     # too young yet
    assert {orphan, stray, owned["uploadId"]} <= await s3_upload_ids(storage)
    aborted = await uploads_sweep.sweep_orphans(pool, storage, ttl_seconds=1)
    left = await s3_upload_ids(storage)
    assert orphan not in left and stray not in left and aborted >= 2
    assert owned["uploadId"] in left
    assert (await client.delete(f"/files/{owned['fileId']}/upload", headers=user.headers)).status_code == 204


def test_the_cron_schedule_follows_the_interval(settings):
    job = uploads_sweep.cron_jobs(make_settings(settings, sweep_interval_seconds=15))[0]
    assert job.second == {0, 15, 30, 45} and job.unique and job.name == "uploads:sweep"
    job = uploads_sweep.cron_jobs(make_settings(settings, sweep_interval_seconds=60))[0]
    assert job.minute == set(range(60)) and job.second == {0}
