"""Reconciliation: lost jobs are re-enqueued, failed removals retried, orphan objects cleaned."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import msgspec
import pytest
from arq.connections import ArqRedis

from service.jobs import enqueue
from tests import images
from tests.conftest import free_port
from tests.integration.worker_support import WorkerEnv, worker_env_fixture
from worker.common import thumb_key
from worker.reconcile import reconcile

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
env = worker_env_fixture()
bucket_env = worker_env_fixture(own_bucket=True, orphan_scan_batch=3)


class RedisServer:
    """A private redis-server that keeps nothing across restarts (like the local stack's)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            ping = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True)
            if ping.stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary")
async def test_redis_down_during_upload_then_thumbnail_and_checksum_appear(env: WorkerEnv):
    redis = RedisServer()
    redis.start()
    try:
        settings = msgspec.structs.replace(env.settings, redis_url=redis.url)
        api_redis = ArqRedis.from_url(redis.url, socket_connect_timeout=1, socket_timeout=1)
        redis.stop()  # Redis goes down while a multipart upload completes
        data = images.encode(images.photo(800, 600), "jpeg")
        f = await env.put_file(data, content_type="image/jpeg", known_sha256=False)  # the row committed
        # the after-commit enqueues fail quietly (the upload itself succeeded)
        assert not await enqueue(api_redis, settings.job_queue, "thumbnail", str(f.id), job_id=f"thumb:{f.id}")
        assert not await enqueue(api_redis, settings.job_queue, "verify_checksum", str(f.id), job_id=f"verify:{f.id}")
        await api_redis.aclose()

        redis.start()  # back, empty: no job remembers the file
        # a worker starting up runs reconciliation at once, which re-enqueues both jobs, which run
        worker = await env.run_worker(settings, with_cron=True)
        assert worker.jobs_failed == 0
        row = await env.row(f.id)
        assert row.thumbnail_state == "done" and await env.storage.exists(thumb_key(f.id, 256))
        assert row.sha256 is not None and row.status == "available"
    finally:
        redis.stop()


async def test_lost_jobs_are_re_enqueued_after_the_grace_period(env: WorkerEnv):
    f = await env.put_file(images.encode(images.photo(300, 300), "png"), content_type="image/png",
                           known_sha256=False)
    # within the grace period nothing is touched (the upload path's own jobs are probably queued)
    env.ctx["config"] = msgspec.structs.replace(env.config, reconcile_grace_seconds=600)
    await reconcile(env.ctx)
    assert await env.queued() == 0
    env.ctx["config"] = env.config  # grace 0: the jobs count as lost
    report = await reconcile(env.ctx)
    assert report["thumbnails"]["enqueued"] >= 1 and report["verifications"]["enqueued"] >= 1
    assert await env.redis.exists(f"arq:job:thumb:{f.id}") and await env.redis.exists(f"arq:job:verify:{f.id}")
    # running it again while those jobs wait re-enqueues nothing (job ids deduplicate)
    again = await reconcile(env.ctx)
    assert again["thumbnails"]["enqueued"] == 0 and again["verifications"]["enqueued"] == 0
    await env.run_worker()
    row = await env.row(f.id)
    assert row.thumbnail_state == "done" and row.sha256 is not None


async def test_gives_up_on_a_thumbnail_whose_attempts_all_died(env: WorkerEnv):
    f = await env.put_file(images.encode(images.photo(300, 300), "png"), content_type="image/png")
    await env.pool.execute("UPDATE files SET thumbnail_attempts = $2 WHERE id = $1", f.id, env.config.max_attempts)
    report = await reconcile(env.ctx)
    assert report["thumbnails_given_up"] >= 1
    assert not await env.redis.exists(f"arq:job:thumb:{f.id}")
    row = await env.row(f.id)
    assert row.thumbnail_state == "failed"
    assert await env.thumbnail_error(f.id) == f"gave up after {env.config.max_attempts} attempts"


async def test_removal_of_a_deleted_file_is_retried(env: WorkerEnv):
    """The request's after-commit removal failed (S3 away): the row says deleted, the object is still there."""
    f = await env.put_file(b"secret bytes" * 100)
    await env.storage.put_bytes(thumb_key(f.id, 256), b"thumb", "image/webp")
    await env.pool.execute("UPDATE files SET status = 'deleted', deleted_at = now(), thumbnail_key = $2"
                           " WHERE id = $1", f.id, thumb_key(f.id, 256))
    report = await reconcile(env.ctx)
    assert report["purges"]["enqueued"] >= 1
    await env.run_worker()
    assert not await env.storage.exists(f.key) and not await env.storage.exists(thumb_key(f.id, 256))
    assert (await env.row(f.id)).purged_at is not None
    # purged rows are not picked again
    assert f.id not in await _purge_candidates(env)


async def _purge_candidates(env: WorkerEnv) -> list[uuid.UUID]:
    from worker import queries
    return await queries.files_to_purge(env.pool, 0, 10_000)


async def test_orphan_objects_are_reported_then_removed_after_the_grace_period(bucket_env: WorkerEnv):
    env = bucket_env
    live = await env.put_file(b"a live file")
    purged = await env.put_file(b"deleted long ago", status="deleted")
    await env.pool.execute("UPDATE files SET purged_at = now() WHERE id = $1", purged.id)
    no_row = [f"objects/{uuid.uuid4()}", f"thumbs/{uuid.uuid4()}/256.webp", f"thumbs/{uuid.uuid4()}/1280.webp"]
    foreign = ["objects/not-a-file-id", "thumbs/readme.txt"]
    for key in no_row + foreign + [thumb_key(live.id, 256)]:
        await env.storage.put_bytes(key, b"x")
    orphans = set(no_row) | {purged.key}  # a purged row's object is an orphan too (e.g. a late thumbnail)

    # young orphans are reported, not removed (an upload may still be committing its row)
    report = await _sweep_all(env)
    assert report["orphans"] == len(orphans) and report["young"] == len(orphans) and report["removed"] == 0
    assert report["foreign"] == len(foreign)
    for key in orphans:
        assert await env.storage.exists(key)

    env.ctx["config"] = msgspec.structs.replace(env.config, orphan_grace_seconds=0)
    report = await _sweep_all(env)
    assert report["removed"] == len(orphans)
    for key in orphans:
        assert not await env.storage.exists(key)
    for key in foreign + [live.key, thumb_key(live.id, 256)]:
        assert await env.storage.exists(key)  # never removed: live rows' objects, keys not made by mybox


async def _sweep_all(env: WorkerEnv) -> dict[str, int]:
    """Reconcile until the scan cursor went round once (batches of 3 keys per prefix here)."""
    totals: dict[str, int] = {}
    for _ in range(10):
        counts = (await reconcile(env.ctx))["orphans"]
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        cursors = await env.redis.keys(f"{env.settings.job_queue}:reconcile:cursor:*")
        if not cursors:
            return totals
    raise AssertionError("the orphan scan never finished a round")
