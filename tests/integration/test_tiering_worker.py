"""The tiering cron job and the restore job, run the way the worker runs them (real arq worker
in burst mode for the restore), against real Postgres, Redis and S3."""

import msgspec

from tests.integration.worker_support import worker_env_fixture
from worker.tiering import tier_files

env = worker_env_fixture()


async def age(env, fid, days: int) -> None:
    await env.pool.execute("UPDATE files SET uploaded_at = now() - make_interval(days => $2) WHERE id = $1", fid, days)


async def test_cron_moves_idle_files_and_keeps_old_copy_for_presign_grace(env):
    f = await env.put_file(b"cold candidate" * 1000)
    await age(env, f.id, 40)
    env.ctx["settings"] = msgspec.structs.replace(env.settings, cold_after_seconds=30 * 86400, presign_ttl_seconds=3600)
    result = await tier_files(env.ctx)
    assert result["moved"] >= 1
    row = await env.pool.fetchrow("SELECT tier, stale_tier FROM files WHERE id = $1", f.id)
    assert (row["tier"], row["stale_tier"]) == ("cold", "hot")
    assert await env.ctx["cold_storage"].exists(f.key)
    assert await env.storage.exists(f.key)  # presigned links handed out before the move still work
    env.ctx["settings"] = msgspec.structs.replace(env.settings, cold_after_seconds=30 * 86400, presign_ttl_seconds=0)
    await tier_files(env.ctx)
    assert not await env.storage.exists(f.key)


async def test_restore_job_through_a_real_worker(env):
    archive = msgspec.structs.replace(env.settings, cold_tier_mode="archive", cold_after_seconds=86400,
                                      presign_ttl_seconds=0)
    env.ctx["settings"] = archive
    f = await env.put_file(b"archived bytes" * 5000)
    await age(env, f.id, 3)
    await tier_files(env.ctx)
    assert await env.pool.fetchval("SELECT tier FROM files WHERE id = $1", f.id) == "cold"
    await env.pool.execute("UPDATE files SET status = 'restoring', restore_requested_at = now() WHERE id = $1", f.id)
    assert await env.enqueue("restore_file", f.id, "restore")
    await env.run_worker(settings=archive)
    row = await env.pool.fetchrow("SELECT tier, status FROM files WHERE id = $1", f.id)
    assert (row["tier"], row["status"]) == ("hot", "available")
    got = b"".join([c async for c in env.storage.iter_range(f.key)])
    assert got == f.data


async def test_lost_restore_job_is_requeued_by_the_cron(env):
    env.ctx["settings"] = msgspec.structs.replace(env.settings, cold_tier_mode="archive")
    f = await env.put_file(b"x" * 100)
    await env.pool.execute("UPDATE files SET tier = 'cold', status = 'restoring',"
                           " restore_requested_at = now() - interval '1 hour' WHERE id = $1", f.id)
    result = await tier_files(env.ctx)
    assert result["restoresRequeued"] >= 1
    assert await env.redis.zscore(env.settings.job_queue, f"restore:{f.id}") is not None
