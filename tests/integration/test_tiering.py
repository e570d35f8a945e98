"""Tiering against real S3 (two buckets) and Postgres: moves, crash safety, archive restore."""

import asyncio
import hashlib
import os
import uuid

import asyncpg
import pytest
import pytest_asyncio

from service.storage import cold_storage, hot_storage
from service.tiering import service as tiering
from service.tiering.service import CopyMismatch, Tiers
from tests.conftest import register_user


@pytest_asyncio.fixture(loop_scope="session")
async def pool(settings):
    p = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=6)
    yield p
    await p.close()


@pytest_asyncio.fixture(loop_scope="session")
async def tiers(settings, client):  # `client` runs the app's lifespan, which creates both buckets
    # the test client runs the app on its own loop: the tests use their own S3 clients
    t = Tiers(hot=hot_storage(settings), cold=cold_storage(settings))
    yield t
    await t.hot.close()
    await t.cold.close()


async def make_file(pool, tiers, user_id, data: bytes, *, idle_days: float = 60, accessed_days: float | None = None):
    file_id = uuid.uuid4()
    key = f"objects/{file_id}"
    await tiers.hot.put_bytes(key, data)
    await pool.execute(
        "INSERT INTO files (id, user_id, name, size, content_type, status, tier, object_key, sha256,"
        " created_at, uploaded_at, last_accessed_at)"
        " VALUES ($1, $2, $3, $4, 'application/octet-stream', 'available', 'hot', $5, $6,"
        " now() - make_interval(days => $7), now() - make_interval(days => $7),"
        " CASE WHEN $8::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => $8::float8 * 86400) END)",
        file_id, uuid.UUID(user_id), f"f-{file_id}.bin", len(data), key, hashlib.sha256(data).hexdigest(),
        int(idle_days), accessed_days)
    return file_id, key


async def read_all(storage, key) -> bytes:
    return b"".join([c async for c in storage.iter_range(key)])


async def row(pool, file_id):
    return await pool.fetchrow("SELECT tier, status, stale_tier FROM files WHERE id = $1", file_id)


async def test_idle_file_goes_cold_and_recent_stays_hot(client, pool, tiers):
    u = await register_user(client)
    data = os.urandom(300_000)
    idle_id, key = await make_file(pool, tiers, u.id, data, idle_days=60)
    recent_id, recent_key = await make_file(pool, tiers, u.id, b"recent", idle_days=60, accessed_days=0.01)
    report = await tiering.run_tiering(pool, tiers, idle_seconds=30 * 86400)
    assert report.moved >= 1 and report.failed == 0
    assert dict(await row(pool, idle_id)) == {"tier": "cold", "status": "available", "stale_tier": None}
    assert await read_all(tiers.cold, key) == data            # bytes identical in the cold tier
    assert not await tiers.hot.exists(key)                    # hot copy gone
    assert (await row(pool, recent_id))["tier"] == "hot"       # downloaded recently: stays hot
    assert await tiers.hot.exists(recent_key)


async def test_crash_after_copy_before_switch_and_before_delete(client, pool, tiers):
    u = await register_user(client)
    data = os.urandom(70_000)
    fid, key = await make_file(pool, tiers, u.id, data)
    # crash 1: the copy was made and verified, the row was never switched
    await tiering.copy_verified(tiers.cold, tiers.hot, key, len(data), hashlib.sha256(data).hexdigest())
    assert (await row(pool, fid))["tier"] == "hot"
    assert await read_all(tiers.hot, key) == data             # still downloadable from hot
    # crash 2: the row was switched, the hot copy not yet deleted
    assert await tiering.move_to_cold(pool, tiers, fid, drop_old=False)
    r = await row(pool, fid)
    assert r["tier"] == "cold" and r["stale_tier"] == "hot"
    assert await tiers.hot.exists(key) and await read_all(tiers.cold, key) == data
    # the next run finishes the job
    report = await tiering.run_tiering(pool, tiers, idle_seconds=30 * 86400)
    assert report.stale_dropped >= 1
    assert not await tiers.hot.exists(key)
    assert dict(await row(pool, fid)) == {"tier": "cold", "status": "available", "stale_tier": None}


async def test_stale_copy_kept_during_presign_grace(client, pool, tiers):
    u = await register_user(client)
    fid, key = await make_file(pool, tiers, u.id, b"grace" * 100)
    await tiering.run_tiering(pool, tiers, idle_seconds=30 * 86400, grace_seconds=3600)
    assert (await row(pool, fid))["tier"] == "cold"
    assert await tiers.hot.exists(key)  # presigned GETs already handed out for it still work
    await tiering.run_tiering(pool, tiers, idle_seconds=30 * 86400, grace_seconds=0)
    assert not await tiers.hot.exists(key)


async def test_two_workers_never_move_the_same_file(client, pool, tiers):
    u = await register_user(client)
    data = os.urandom(2_000_000)
    fid, key = await make_file(pool, tiers, u.id, data)
    results = await asyncio.gather(*(tiering.move_to_cold(pool, tiers, fid) for _ in range(3)))
    assert results.count(True) == 1
    assert (await row(pool, fid))["tier"] == "cold"
    assert await read_all(tiers.cold, key) == data


async def test_bad_copy_is_detected_and_file_stays_hot(client, pool, tiers):
    u = await register_user(client)
    fid, key = await make_file(pool, tiers, u.id, b"original bytes")
    await pool.execute("UPDATE files SET sha256 = $2 WHERE id = $1", fid, "0" * 64)  # wrong expectation
    with pytest.raises(CopyMismatch):
        await tiering.move_to_cold(pool, tiers, fid)
    assert (await row(pool, fid))["tier"] == "hot"
    assert await tiers.hot.exists(key) and not await tiers.cold.exists(key)
    # this row would fail every later run in the shared test database: retire it
    await pool.execute("UPDATE files SET status = 'deleted', deleted_at = now() WHERE id = $1", fid)


async def test_deleted_while_copying_leaves_no_cold_copy(client, pool, tiers):
    u = await register_user(client)
    fid, key = await make_file(pool, tiers, u.id, b"to be deleted")
    await tiering.copy_verified(tiers.cold, tiers.hot, key, 13, None)
    await pool.execute("UPDATE files SET status = 'deleted', deleted_at = now() WHERE id = $1", fid)
    assert not await tiering.move_to_cold(pool, tiers, fid)
    assert (await row(pool, fid))["tier"] == "hot"


async def test_cold_file_downloads_transparently(client, pool, tiers):
    """Instant-access cold tier: GET (whole and Range) and the presigned URL return identical bytes."""
    import httpx
    u = await register_user(client)
    data = os.urandom(400_000)
    fid, key = await make_file(pool, tiers, u.id, data)
    assert await tiering.move_to_cold(pool, tiers, fid)
    assert not await tiers.hot.exists(key)
    r = await client.get(f"/files/{fid}", headers=u.headers)
    assert r.status_code == 200 and r.content == data
    r = await client.get(f"/files/{fid}", headers={**u.headers, "Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    meta = (await client.get(f"/files/{fid}/metadata", headers=u.headers)).json()
    assert meta["tier"] == "cold" and meta["status"] == "available"
    url = (await client.get(f"/files/{fid}/download-url", headers=u.headers)).json()["url"]
    async with httpx.AsyncClient() as h:
        got = await h.get(url, headers={"Range": "bytes=0-99"})
    assert got.status_code == 206 and got.content == data[:100]


async def test_archive_restore_round_trip_over_http(client, pool, tiers, settings):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import make_settings
    u = await register_user(client)
    data = os.urandom(123_457)
    fid, key = await make_file(pool, tiers, u.id, data)
    assert await tiering.move_to_cold(pool, tiers, fid)
    async with AsyncTestClient(app=create_app(make_settings(settings, cold_tier_mode="archive"))) as c:
        r = await c.get(f"/files/{fid}", headers=u.headers)
        assert r.status_code == 409 and "restore" in r.json()["message"]
        assert (await c.get(f"/files/{fid}/download-url", headers=u.headers)).status_code == 409
        for _ in range(2):  # idempotent
            r = await c.post(f"/files/{fid}/restore", headers=u.headers)
            assert r.status_code == 202 and r.json()["status"] == "restoring", r.text
        assert (await row(pool, fid))["status"] == "restoring"
        assert await tiering.restore_to_hot(pool, Tiers(tiers.hot, tiers.cold, archive=True), fid)
        r = await c.get(f"/files/{fid}", headers=u.headers)
        assert r.status_code == 200 and r.content == data
        assert (await c.get(f"/files/{fid}/metadata", headers=u.headers)).json()["tier"] == "hot"
        # rules: a hot file needs no restore; another user's file is 404; a bad id is 404
        assert (await c.post(f"/files/{fid}/restore", headers=u.headers)).status_code == 409
        other = await register_user(client)
        assert (await c.post(f"/files/{fid}/restore", headers=other.headers)).status_code == 404
        assert (await c.post("/files/not-a-uuid/restore", headers=u.headers)).status_code == 404
    # the instant-access tier has nothing to restore
    fid2, _ = await make_file(pool, tiers, u.id, b"instant")
    assert await tiering.move_to_cold(pool, tiers, fid2)
    r = await client.post(f"/files/{fid2}/restore", headers=u.headers)
    assert r.status_code == 409 and r.json()["code"] == "not_archived"


async def test_parallel_moves_never_exhaust_a_small_pool(settings, client, tiers):
    """Each move uses one connection (its lock's): 4 parallel moves on a pool of 2 finish."""
    small = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        u = await register_user(client)
        ids = [(await make_file(small, tiers, u.id, os.urandom(50_000)))[0] for _ in range(6)]
        report = await asyncio.wait_for(
            tiering.run_tiering(small, tiers, idle_seconds=30 * 86400, parallel=4, batch=500), timeout=60)
        assert report.failed == 0
        tiers_now = {r["tier"] for r in await small.fetch("SELECT tier FROM files WHERE id = any($1::uuid[])", ids)}
        assert tiers_now == {"cold"}
    finally:
        await small.close()
