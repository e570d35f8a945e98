"""Checksum verification and purging, by a real arq worker against real S3 and Postgres."""

from __future__ import annotations

import hashlib
import os

import msgspec
import pytest
from arq import Retry

from service.storage import hot_storage
from tests import images
from tests.conftest import free_port
from tests.integration.worker_support import worker_env_fixture
from worker.common import thumb_key
from worker.purge import purge_file
from worker.verify import verify_checksum

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
env = worker_env_fixture()


async def test_right_declared_sha256_makes_the_file_available_then_thumbnailed(env):
    data = images.encode(images.photo(900, 600), "jpeg")
    digest = hashlib.sha256(data).hexdigest()
    f = await env.put_file(data, content_type="image/jpeg", status="verifying", known_sha256=False,
                           declared_sha256=digest.upper())  # hex case does not matter
    assert await env.enqueue("verify_checksum", f.id, "verify")
    # the upload path also enqueued the thumbnail: it runs while the file is still verifying
    w = await env.run_worker()
    assert w.jobs_failed == 0
    row = await env.row(f.id)
    assert row.status == "available" and row.sha256 == digest
    # verification enqueued the thumbnail job, which the same burst worker ran
    assert row.thumbnail_state == "done" and row.thumbnail_key == thumb_key(f.id, 256)
    assert await env.storage.exists(f.key)


async def test_wrong_declared_sha256_makes_the_file_corrupt_and_removes_it(env):
    data = os.urandom(300_000)
    f = await env.put_file(data, status="verifying", known_sha256=False, declared_sha256="ab" * 32)
    assert await env.enqueue("verify_checksum", f.id, "verify")
    assert await env.enqueue("thumbnail", f.id, "thumb")  # must not make a thumbnail of it
    await env.run_worker()
    row = await env.row(f.id)
    assert row.status == "corrupt"                      # never downloadable (the files routes serve only `available`)
    assert row.sha256 == hashlib.sha256(data).hexdigest()  # what was really stored, for the record
    assert row.purged_at is not None
    assert not await env.storage.exists(f.key)          # the bad bytes are gone from storage
    assert row.thumbnail_key is None and not await env.storage.exists(thumb_key(f.id, 256))


async def test_size_mismatch_is_corrupt_too(env):
    f = await env.put_file(b"x" * 1000, size=2000, status="verifying", known_sha256=False,
                           declared_sha256=hashlib.sha256(b"x" * 1000).hexdigest())
    assert (await verify_checksum(env.ctx, str(f.id))).startswith("corrupt: stored size 1000")
    assert (await env.row(f.id)).status == "corrupt"
    assert not await env.storage.exists(f.key)


async def test_multipart_file_without_declared_sha256_gets_its_checksum(env):
    data = os.urandom(9 * 1024 * 1024 + 123)  # bigger than one stream chunk
    f = await env.put_file(data, status="available", known_sha256=False)
    assert await verify_checksum(env.ctx, str(f.id)) == "checksum stored"
    row = await env.row(f.id)
    assert row.status == "available" and row.sha256 == hashlib.sha256(data).hexdigest()
    # running again is harmless and reads nothing
    assert await verify_checksum(env.ctx, str(f.id)) == "already verified"
    assert (await env.row(f.id)).verify_attempts == 1


async def test_missing_object_makes_a_verifying_file_corrupt(env):
    f = await env.put_file(b"abc", status="verifying", known_sha256=False, declared_sha256="00" * 32,
                           store_object=False)
    assert await verify_checksum(env.ctx, str(f.id)) == "corrupt: object missing from storage"
    assert (await env.row(f.id)).status == "corrupt"


async def test_verify_skips_deleted_and_unknown_files(env):
    f = await env.put_file(b"abc", status="deleted", known_sha256=False)
    assert await verify_checksum(env.ctx, str(f.id)) == "skipped: deleted"
    assert await verify_checksum(env.ctx, "00000000-0000-0000-0000-000000000000") == "skipped: no such file"
    assert await env.storage.exists(f.key)  # verification never removes a file it did not judge


async def test_s3_down_retries_with_backoff_without_spending_attempts(env):
    f = await env.put_file(b"abc" * 100, status="verifying", known_sha256=False,
                           declared_sha256=hashlib.sha256(b"abc" * 100).hexdigest())
    dead = hot_storage(msgspec.structs.replace(env.settings, s3_endpoint=f"http://127.0.0.1:{free_port()}"))
    ctx = {**env.ctx, "storage": dead, "job_try": 3}
    try:
        with pytest.raises(Retry) as caught:
            await verify_checksum(ctx, str(f.id))
    finally:
        await dead.close()
    assert caught.value.defer_score == 800  # 0.2 s * 2 ** (3 - 1)
    row = await env.row(f.id)
    assert row.status == "verifying" and row.verify_attempts == 0
    # S3 is back: the retried job succeeds
    assert await verify_checksum(env.ctx, str(f.id)) == "verified"
    assert (await env.row(f.id)).status == "available"


async def test_purge_removes_object_and_thumbnails_of_a_deleted_file(env):
    f = await env.put_file(images.encode(images.photo(400, 300), "png"), content_type="image/png")
    await env.enqueue("thumbnail", f.id, "thumb")
    await env.run_worker()
    assert await env.storage.exists(thumb_key(f.id, 256))
    await env.pool.execute("UPDATE files SET status = 'deleted', deleted_at = now() WHERE id = $1", f.id)
    assert await env.enqueue("purge_file", f.id, "purge")
    w = await env.run_worker()
    assert w.jobs_complete == 1
    row = await env.row(f.id)
    assert row.purged_at is not None and row.thumbnail_key is None
    for key in (f.key, thumb_key(f.id, 256), thumb_key(f.id, 1280)):
        assert not await env.storage.exists(key)
    # again: harmless
    assert await purge_file(env.ctx, str(f.id)) == "already purged"


async def test_purge_never_touches_a_live_file(env):
    f = await env.put_file(b"keep me", status="available")
    assert await purge_file(env.ctx, str(f.id)) == "skipped: file is available"
    assert await env.storage.exists(f.key)
    assert (await env.row(f.id)).purged_at is None


async def test_purge_aborts_a_leftover_multipart_upload(env):
    f = await env.put_file(b"", status="aborted", store_object=False)
    upload_id = await env.storage.create_multipart(f.key, "application/octet-stream")
    await env.pool.execute(
        "INSERT INTO upload_sessions (file_id, s3_upload_id, part_size, part_count, expires_at)"
        " VALUES ($1, $2, 5242880, 1, now())", f.id, upload_id)
    assert await purge_file(env.ctx, str(f.id)) == "purged"
    from service.storage import ObjectMissing
    with pytest.raises(ObjectMissing):
        await env.storage.list_parts(f.key, upload_id)
