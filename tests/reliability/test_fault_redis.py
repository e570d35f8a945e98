"""Redis stopped (a redis-server of the test's own, no persistence: it comes back empty, every
queued job lost): uploads, downloads and logins keep working, and once Redis is back the work
the lost jobs stood for (thumbnails, checksums) is done anyway — the worker's reconciliation
finds the files still waiting and enqueues their jobs again."""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import msgspec

from tests import images
from tests.reliability.procs import ApiProc, WorkerProc
from tests.reliability.support import assert_nothing_lost, put_part, register, sha256, upload_small, wait_for

PART = 5 * 1024 * 1024
WORKER_ENV = {"MYBOX_RECONCILE_INTERVAL_SECONDS": "1", "MYBOX_RECONCILE_GRACE_SECONDS": "0",
              "MYBOX_RETRY_BACKOFF_SECONDS": "0.2", "MYBOX_RETRY_BACKOFF_MAX_SECONDS": "1",
              "MYBOX_HEALTH_CHECK_INTERVAL_SECONDS": "1", "MYBOX_SWEEP_INTERVAL_SECONDS": "5"}


async def _multipart(http, api, user, data: bytes, name: str) -> str:
    r = await http.post(f"{api.url}/files/init-multipart", headers=user.headers,
                        json={"name": name, "size": len(data), "partSize": PART, "sha256": sha256(data)})
    assert r.status_code == 201, r.text
    up = r.json()
    for p in up["parts"]:
        n = p["partNumber"]
        etag = await put_part(http, p["url"], data[(n - 1) * PART:n * PART])
        done = await http.post(f"{api.url}/files/{up['fileId']}/part-complete", headers=user.headers,
                               json={"partNumber": n, "etag": etag})
        assert done.status_code == 200, done.text
    assert done.json()["status"] == "verifying"
    return up["fileId"]


async def test_redis_stopped_uploads_and_downloads_work_and_jobs_run_after(settings, own_redis, db, http,
                                                                           tmp_path):
    s = msgspec.structs.replace(settings, redis_url=own_redis.url,
                                job_queue=f"{settings.job_queue}:redis{secrets.token_hex(3)}")
    api = await asyncio.to_thread(ApiProc(tmp_path, s).start)
    worker = WorkerProc(tmp_path, s, **WORKER_ENV).start()
    store = None
    try:
        from service.storage import hot_storage
        store = hot_storage(s)
        user = await register(http, api.url)
        photo = images.encode(images.photo(640, 480), "jpeg")
        r = await upload_small(http, user, photo, "before.jpg", base=api.url, content_type="image/jpeg")
        assert r.status_code == 201, r.text
        before = r.json()["id"]

        async def thumbnailed(fid: str) -> bool:
            return await db.fetchval("SELECT thumbnail_state FROM files WHERE id = $1::uuid", fid) == "done"

        await wait_for(lambda: thumbnailed(before), 30, "the first thumbnail (the worker runs)")

        await asyncio.to_thread(own_redis.stop)
        # --- Redis is away: the API keeps serving ------------------------------------------------
        t = time.monotonic()
        r = await upload_small(http, user, photo, "while-down.jpg", base=api.url, content_type="image/jpeg")
        upload_seconds = time.monotonic() - t
        assert r.status_code == 201, r.text
        # a failed enqueue does not hold the upload up (no retry loop; generous bound for a loaded CI host)
        assert upload_seconds < 10, upload_seconds
        during = r.json()["id"]
        got = await http.get(f"{api.url}/files/{before}", headers=user.headers)
        assert got.status_code == 200 and got.content == photo
        ranged = await http.get(f"{api.url}/files/{during}", headers={**user.headers, "Range": "bytes=0-99"})
        assert ranged.status_code == 206 and ranged.content == photo[:100]
        login = await http.post(f"{api.url}/auth/token", json={"username": user.username, "password": user.password})
        assert login.status_code == 200, login.text  # the failed-login throttle fails open
        big = os.urandom(PART + 999)
        verifying = await _multipart(http, api, user, big, "big.bin")
        listing = await http.get(f"{api.url}/files", headers=user.headers)
        assert listing.status_code == 200 and len(listing.json()["items"]) == 3
        ready = await http.get(f"{api.url}/readyz")
        assert ready.status_code == 503 and "redis" in ready.json()["message"]
        await asyncio.sleep(2)  # the worker meets the outage too
        assert not await thumbnailed(during)

        # --- Redis is back, empty: reconciliation re-enqueues what was lost ------------------------
        await asyncio.to_thread(own_redis.start)
        await wait_for(lambda: thumbnailed(during), 60, "the thumbnail of the file uploaded while Redis was down")

        async def verified() -> bool:
            row = await db.fetchrow("SELECT status, sha256 FROM files WHERE id = $1::uuid", verifying)
            return row["status"] == "available" and row["sha256"] == sha256(big)

        await wait_for(verified, 60, "the checksum of the multipart upload made while Redis was down")
        assert worker.running, worker.log()[-3000:]  # the same worker process rode the outage out
        assert (await http.get(f"{api.url}/readyz")).status_code == 200
        assert await assert_nothing_lost(db, store, [user.id], {before: photo, during: photo, verifying: big}) == 3
    finally:
        worker.stop()
        api.stop()
        if store is not None:
            await store.close()
