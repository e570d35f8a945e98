"""S3 stopped in the middle of uploads (a SeaweedFS process of the test's own, killed and started
again on the same ports with the same data): the client gets 503 JSON, no `available` row is
left without its object, and once S3 is back the same upload succeeds."""

from __future__ import annotations

import asyncio
import os


from tests.reliability.conftest import on_weed
from tests.reliability.procs import ApiProc
from tests.reliability.support import (assert_json_error, assert_nothing_lost, form_body, put_part, register,
                                       sha256, upload_small)

PART = 5 * 1024 * 1024


async def test_s3_stopped_during_a_small_upload(settings, own_weed, weed_store, db, http, tmp_path):
    api = await asyncio.to_thread(ApiProc(tmp_path, on_weed(settings, own_weed)).start)
    try:
        user = await register(http, api.url)
        data = os.urandom(3 * 1024 * 1024 + 17)
        body, headers = form_body(data, "report.pdf")
        half = len(body) // 2

        async def stream():
            yield body[:half]
            await asyncio.to_thread(own_weed.kill)  # S3 dies while the client is still sending
            for i in range(half, len(body), 256 * 1024):
                yield body[i:i + 256 * 1024]

        r = await http.post(f"{api.url}/files", content=stream(), headers={**user.headers, **headers})
        assert_json_error(r, 503, "storage_unavailable")
        assert r.headers["retry-after"]
        assert await db.fetchval("SELECT count(*) FROM files WHERE user_id = $1::uuid", user.id) == 0
        # metadata keeps working while S3 is away; readiness names S3
        assert (await http.get(f"{api.url}/files", headers=user.headers)).status_code == 200
        ready = await http.get(f"{api.url}/readyz")
        assert ready.status_code == 503 and "s3" in ready.json()["message"]

        await asyncio.to_thread(own_weed.start)
        r = await upload_small(http, user, data, "report.pdf", base=api.url)  # the same upload, again
        assert r.status_code == 201, r.text
        info = r.json()
        assert info["status"] == "available" and info["sha256"] == sha256(data)
        got = await http.get(f"{api.url}/files/{info['id']}", headers=user.headers)
        assert got.status_code == 200 and got.content == data
        assert await assert_nothing_lost(db, weed_store, [user.id], {info["id"]: data}) == 1
    finally:
        api.stop()


async def test_s3_stopped_during_part_complete(settings, own_weed, weed_store, db, http, tmp_path):
    api = await asyncio.to_thread(ApiProc(tmp_path, on_weed(settings, own_weed)).start)
    try:
        user = await register(http, api.url)
        data = os.urandom(2 * PART + 1234)
        r = await http.post(f"{api.url}/files/init-multipart", headers=user.headers,
                            json={"name": "video.mkv", "size": len(data), "partSize": PART, "sha256": sha256(data)})
        assert r.status_code == 201, r.text
        up = r.json()
        fid = up["fileId"]
        etags = {p["partNumber"]: await put_part(http, p["url"], data[(p["partNumber"] - 1) * PART:
                                                                       p["partNumber"] * PART])
                 for p in up["parts"]}
        report = f"{api.url}/files/{fid}/part-complete"
        r = await http.post(report, headers=user.headers, json={"partNumber": 1, "etag": etags[1]})
        assert r.status_code == 200 and r.json()["completedParts"] == [1], r.text

        await asyncio.to_thread(own_weed.kill)
        for n in (2, 3):  # a middle part, then the last one (the report that would complete the upload)
            r = await http.post(report, headers=user.headers, json={"partNumber": n, "etag": etags[n]})
            assert_json_error(r, 503, "storage_unavailable")
        # the session is intact and says what the server has: only part 1
        state = await http.get(f"{api.url}/files/{fid}/upload", headers=user.headers)
        assert state.status_code == 200 and state.json()["completedParts"] == [1]
        assert state.json()["status"] == "uploading"
        assert await db.fetchval("SELECT status FROM files WHERE id = $1::uuid", fid) == "uploading"
        meta = await http.get(f"{api.url}/files/{fid}", headers=user.headers)
        assert_json_error(meta, 409)  # never downloadable half-done

        await asyncio.to_thread(own_weed.start)
        r = await http.post(report, headers=user.headers, json={"partNumber": 2, "etag": etags[2]})
        assert r.status_code == 200 and r.json()["completedParts"] == [1, 2], r.text
        r = await http.post(report, headers=user.headers, json={"partNumber": 3, "etag": etags[3]})
        assert r.status_code == 200 and r.json()["status"] == "verifying", r.text
        # the worker would verify the declared sha256; the bytes are whole already
        assert await assert_nothing_lost(db, weed_store, [user.id], {fid: data}) == 1
    finally:
        api.stop()


async def test_s3_stopped_before_init_and_presign_leaves_nothing(settings, own_weed, db, http, tmp_path):
    """init-multipart needs S3 (CreateMultipartUpload): 503 and no row while it is away."""
    api = await asyncio.to_thread(ApiProc(tmp_path, on_weed(settings, own_weed)).start)
    try:
        user = await register(http, api.url)
        await asyncio.to_thread(own_weed.kill)
        r = await http.post(f"{api.url}/files/init-multipart", headers=user.headers,
                            json={"name": "x.bin", "size": 3 * PART})
        assert_json_error(r, 503, "storage_unavailable")
        assert await db.fetchval("SELECT count(*) FROM files WHERE user_id = $1::uuid", user.id) == 0
        await asyncio.to_thread(own_weed.start)
        r = await http.post(f"{api.url}/files/init-multipart", headers=user.headers,
                            json={"name": "x.bin", "size": 3 * PART})
        assert r.status_code == 201, r.text
    finally:
        api.stop()
