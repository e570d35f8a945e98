"""The worker killed with SIGKILL in the middle of a thumbnail and in the middle of a checksum
verification (files uploaded through the API): a worker started later finishes both."""

from __future__ import annotations

import asyncio
import secrets
import signal
import uuid

import msgspec

from service.storage import hot_storage
from tests import images
from tests.reliability.procs import ApiProc, WorkerProc
from tests.reliability.support import assert_nothing_lost, put_part, register, sha256, upload_small, wait_for

# arq runs a dead worker's job again once its in-progress marker expires: the longest job
# timeout + 10 s, so every timeout is short here
SHORT = {"MYBOX_THUMBNAIL_TIMEOUT_SECONDS": "3", "MYBOX_VERIFY_TIMEOUT_SECONDS": "3",
         "MYBOX_PURGE_TIMEOUT_SECONDS": "3", "MYBOX_RECONCILE_TIMEOUT_SECONDS": "3",
         "MYBOX_RECONCILE_GRACE_SECONDS": "600", "MYBOX_RETRY_BACKOFF_SECONDS": "0.2",
         "MYBOX_HEALTH_CHECK_INTERVAL_SECONDS": "1", "MYBOX_SHUTDOWN_GRACE_SECONDS": "5"}


async def test_worker_sigkilled_mid_thumbnail_and_mid_verification_work_completes_later(settings, db, http,
                                                                                       tmp_path):
    s = msgspec.structs.replace(settings, job_queue=f"{settings.job_queue}:kill{secrets.token_hex(3)}")
    markers = tmp_path / "markers"
    markers.mkdir()
    api = await asyncio.to_thread(ApiProc(tmp_path, s).start)
    first = WorkerProc(tmp_path, s, "worker-first", **SHORT).start(
        MYBOX_TEST_RENDER_DELAY="120", MYBOX_TEST_HASH_DELAY="120", MYBOX_TEST_MARKERS=str(markers))
    second = None
    store = hot_storage(s)
    try:
        user = await register(http, api.url)
        photo = images.encode(images.photo(1024, 768), "jpeg")
        r = await upload_small(http, user, photo, "photo.jpg", base=api.url, content_type="image/jpeg")
        assert r.status_code == 201, r.text
        thumb_id = r.json()["id"]
        # a one-part multipart upload with a declared sha256: `verifying` until the worker has read it
        other = images.encode(images.photo(800, 600), "png")
        r = await http.post(f"{api.url}/files/init-multipart", headers=user.headers,
                            json={"name": "scan.png", "size": len(other), "contentType": "image/png",
                                  "sha256": sha256(other)})
        assert r.status_code == 201 and r.json()["partCount"] == 1, r.text
        verify_id = r.json()["fileId"]
        etag = await put_part(http, r.json()["parts"][0]["url"], other)
        r = await http.post(f"{api.url}/files/{verify_id}/part-complete", headers=user.headers,
                            json={"partNumber": 1, "etag": etag})
        assert r.status_code == 200 and r.json()["status"] == "verifying", r.text

        async def both_mid_job() -> bool:
            names = {p.name for p in markers.iterdir()}
            return "render-1" in names and "hash-1" in names

        await wait_for(both_mid_job, 30, "the worker to be inside both jobs")
        first.stop(signal.SIGKILL)  # no shutdown, no cleanup: as if the machine died

        row = await db.fetchrow("SELECT thumbnail_state, thumbnail_attempts FROM files WHERE id = $1::uuid", thumb_id)
        assert row["thumbnail_state"] is None and row["thumbnail_attempts"] == 1
        row = await db.fetchrow("SELECT status, sha256 FROM files WHERE id = $1::uuid", verify_id)
        assert row["status"] == "verifying" and row["sha256"] is None
        assert (await http.get(f"{api.url}/files/{verify_id}", headers=user.headers)).status_code == 409

        second = WorkerProc(tmp_path, s, "worker-second", **SHORT).start()

        async def finished() -> bool:
            a = await db.fetchrow("SELECT thumbnail_state, thumbnail_attempts FROM files WHERE id = $1::uuid",
                                  thumb_id)
            b = await db.fetchrow("SELECT status, sha256, thumbnail_state FROM files WHERE id = $1::uuid", verify_id)
            return (a["thumbnail_state"] == "done" and b["status"] == "available"
                    and b["sha256"] == sha256(other) and b["thumbnail_state"] == "done")

        await wait_for(finished, 60, "the second worker to finish the killed jobs")
        assert await db.fetchval("SELECT thumbnail_attempts FROM files WHERE id = $1::uuid", thumb_id) == 2
        log = second.log()
        assert f"thumb:{thumb_id}:thumbnail" in log and f"verify:{verify_id}:verify_checksum" in log
        got = await http.get(f"{api.url}/files/{verify_id}", headers=user.headers)
        assert got.status_code == 200 and got.content == other
        thumb = await http.get(f"{api.url}/files/{thumb_id}/thumbnail", headers=user.headers)
        assert thumb.status_code == 200 and thumb.content[:4] == b"RIFF"
        assert await assert_nothing_lost(db, store, [user.id], {thumb_id: photo, verify_id: other}) == 2
    finally:
        first.kill()
        if second is not None:
            second.stop()
        api.stop()
        await store.close()


async def test_verifying_uploads_get_their_thumbnails_from_the_verification(settings, db, http, tmp_path):
    """A `verifying` upload's thumbnail job comes from verify_checksum, not from the completion:
    a completion-time thumbnail job would only skip the file, and while it ran its job id
    swallowed the verification's enqueue (found by the load benchmark: a thumbnail then waited
    for reconciliation's 10-minute grace)."""
    from arq.connections import ArqRedis

    s = msgspec.structs.replace(settings, job_queue=f"{settings.job_queue}:vt{secrets.token_hex(3)}")
    api = await asyncio.to_thread(ApiProc(tmp_path, s).start)
    redis = ArqRedis.from_url(s.redis_url)
    worker = None
    try:
        user = await register(http, api.url)
        ids, blobs = [], []
        for i in range(6):
            data = images.encode(images.photo(400 + i, 300), "png")
            r = await http.post(f"{api.url}/files/init-multipart", headers=user.headers,
                                json={"name": f"p{i}.png", "size": len(data), "contentType": "image/png",
                                      "sha256": sha256(data)})
            up = r.json()
            etag = await put_part(http, up["parts"][0]["url"], data)
            done = await http.post(f"{api.url}/files/{up['fileId']}/part-complete", headers=user.headers,
                                   json={"partNumber": 1, "etag": etag})
            assert done.json()["status"] == "verifying", done.text
            ids.append(up["fileId"])
            blobs.append(data)
        for fid in ids:
            assert await redis.zscore(s.job_queue, f"verify:{fid}") is not None
            assert await redis.zscore(s.job_queue, f"thumb:{fid}") is None
        worker = WorkerProc(tmp_path, s, "worker-vt", **SHORT).start()

        async def all_done() -> bool:
            n = await db.fetchval("SELECT count(*) FROM files WHERE id = any($1::uuid[]) AND status = 'available'"
                                  " AND thumbnail_state = 'done'", [uuid.UUID(i) for i in ids])
            return n == len(ids)

        await wait_for(all_done, 60, "every verified upload's thumbnail")
    finally:
        if worker is not None:
            worker.stop()
        api.stop()
        await redis.aclose()
