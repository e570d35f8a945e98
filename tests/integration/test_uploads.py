"""Multipart uploads end to end against real Postgres, Redis and S3: parts are PUT with plain
HTTP to presigned URLs (no credentials), reports are checked against S3 by the service."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from service.uploads.partsize import GiB, MiB
from tests.integration.uploads_support import (PART, InLoopServer, RecordList, http, init, part_of, pool, put_part,  # noqa: F401
                                               redis, report, storage, stored_bytes)


async def upload_parts(http, up: dict, data: bytes, numbers) -> dict[int, str]:
    urls = {p["partNumber"]: p["url"] for p in up["parts"]}
    etags = await asyncio.gather(*(put_part(http, urls[n], part_of(data, up["partSize"], n)) for n in numbers))
    return dict(zip(numbers, etags))


# --- init-multipart -------------------------------------------------------------------------
@pytest.mark.parametrize("body, status, field", [
    ({"size": 10}, 400, "name"),
    ({"name": "a", "size": 0}, 400, "size"),
    ({"name": "a", "size": -5}, 400, "size"),
    ({"name": "a", "size": "big"}, 400, "size"),
    ({"name": "a", "size": 60 * GiB}, 413, "size"),
    ({"name": "a", "size": 10 * MiB, "partSize": 5 * MiB - 1}, 400, "partSize"),
    ({"name": "a", "size": 10 * MiB, "partSize": 5 * GiB + 1}, 400, "partSize"),
    ({"name": "a", "size": 50 * GiB, "partSize": 5 * MiB}, 400, "partSize"),  # 10,240 parts
    ({"name": "a\nb", "size": 10}, 400, "name"),
    ({"name": "a\u0085b", "size": 10}, 400, "name"),  # C1 control (NEL): same rule as POST /files
    ({"name": "a", "size": 10, "contentType": "not a type"}, 400, "contentType"),
    ({"name": "x" * 256, "size": 10}, 400, "name"),
    ({"name": "a", "size": 10, "sha256": "abc"}, 400, "sha256"),
    ({"name": "a", "size": 10, "contentType": ""}, 400, "contentType"),
])
async def test_init_rejects_bad_input_naming_the_field(client, user, body, status, field):
    r = await client.post("/files/init-multipart", json=body, headers=user.headers)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field, r.json()


async def test_init_needs_a_token(client):
    r = await client.post("/files/init-multipart", json={"name": "a", "size": 10})
    assert r.status_code == 401


async def test_init_for_a_50_gib_file_picks_a_part_size_and_signs_the_first_100_parts(client, user, pool, storage, redis, settings):
    r = await client.post("/files/init-multipart", headers=user.headers,
                          json={"name": "film.mkv", "size": 50 * GiB, "contentType": "video/x-matroska"})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["partSize"] >= 16 * MiB and up["partCount"] <= 10_000
    assert up["partCount"] == -(-50 * GiB // up["partSize"])
    assert [p["partNumber"] for p in up["parts"]] == list(range(1, 101))
    public = urlsplit(settings.s3_public_endpoint).netloc
    for p in up["parts"]:
        u = urlsplit(p["url"])
        assert u.netloc == public and f"partNumber={p['partNumber']}&" in u.query + "&"
        assert "X-Amz-Signature=" in u.query and f"uploadId={up['uploadId']}" in u.query
    assert up["urlsExpireAt"] <= up["expiresAt"]
    # the S3 upload and the session exist; the file is `uploading` at objects/<fileId>
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, object_key, size FROM files WHERE id = $1", uuid.UUID(up["fileId"]))
    assert dict(row) == {"status": "uploading", "object_key": f"objects/{up['fileId']}", "size": 50 * GiB}
    assert await storage.list_parts(row["object_key"], up["uploadId"]) == []
    st = await client.get(f"/files/{up['fileId']}/upload", headers=user.headers)
    assert st.status_code == 200 and st.json()["completedParts"] == [] and st.json()["status"] == "uploading"
    assert (await client.delete(f"/files/{up['fileId']}/upload", headers=user.headers)).status_code == 204


async def test_small_file_is_one_part(client, user):
    up = await init(client, user.headers, 1, part_size=None)
    assert up["partCount"] == 1 and len(up["parts"]) == 1
    await client.delete(f"/files/{up['fileId']}/upload", headers=user.headers)


# --- the whole upload -----------------------------------------------------------------------
async def test_parallel_out_of_order_upload_is_byte_exact(client, user, pool, storage, redis, settings, http):
    data = os.urandom(3 * PART + 12345)
    up = await init(client, user.headers, len(data), name="video.mp4")
    fid, count = up["fileId"], up["partCount"]
    assert count == 4
    etags = await upload_parts(http, up, data, [4, 2, 3, 1])   # all four in flight at once
    order = [3, 1, 4, 2]
    for i, n in enumerate(order):
        etag = etags[n] if i % 2 else etags[n].strip('"')      # quoted or not
        r = await report(client, user.headers, fid, n, etag)
        assert r.status_code == 200, r.text
        assert r.json()["completedParts"] == (sorted(order[: i + 1]) if i < 3 else [1, 2, 3, 4])
    assert r.json()["status"] == "available"
    key = f"objects/{fid}"
    assert (await storage.stat(key)).size == len(data)
    assert await stored_bytes(storage, key) == data
    st = (await client.get(f"/files/{fid}/upload", headers=user.headers)).json()
    assert st["status"] == "available" and st["completedParts"] == [1, 2, 3, 4]
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, uploaded_at, declared_sha256 FROM files WHERE id = $1", uuid.UUID(fid))
        parts_left = await conn.fetchval("SELECT count(*) FROM upload_parts WHERE file_id = $1", uuid.UUID(fid))
    assert row["status"] == "available" and row["uploaded_at"] is not None and row["declared_sha256"] is None
    assert parts_left == 0
    # the worker's jobs were enqueued after the commit, with their deduplicating ids
    for job_id in (f"verify:{fid}", f"thumb:{fid}"):
        assert await redis.zscore(settings.job_queue, job_id) is not None, job_id
    # S3 no longer holds the multipart upload
    assert up["uploadId"] not in [u.upload_id async for u in storage.list_multipart_uploads("objects/")]
    # a late duplicate report is harmless; the upload can no longer be aborted or re-signed
    again = await report(client, user.headers, fid, 2, etags[2])
    assert again.status_code == 200 and again.json()["status"] == "available"
    assert (await client.delete(f"/files/{fid}/upload", headers=user.headers)).status_code == 409
    r = await client.post(f"/files/{fid}/part-urls", json={"partNumbers": [1]}, headers=user.headers)
    assert r.status_code == 409


async def test_declared_sha256_makes_the_file_verifying(client, user, pool, storage, redis, http):
    data = os.urandom(PART + 10)
    up = await init(client, user.headers, len(data), sha256=hashlib.sha256(data).hexdigest().upper())
    etags = await upload_parts(http, up, data, [1, 2])
    await report(client, user.headers, up["fileId"], 1, etags[1])
    r = await report(client, user.headers, up["fileId"], 2, etags[2])
    assert r.status_code == 200 and r.json()["status"] == "verifying"
    async with pool.acquire() as conn:
        declared = await conn.fetchval("SELECT declared_sha256 FROM files WHERE id = $1", uuid.UUID(up["fileId"]))
    assert declared == hashlib.sha256(data).hexdigest()


# --- reports the service must refuse --------------------------------------------------------
async def test_bad_reports_are_409_and_not_recorded(client, user, http):
    data = os.urandom(2 * PART + 100)
    up = await init(client, user.headers, len(data))
    fid = up["fileId"]
    urls = {p["partNumber"]: p["url"] for p in up["parts"]}
    etag1 = await put_part(http, urls[1], part_of(data, PART, 1))

    fake = await report(client, user.headers, fid, 1, '"' + "0" * 32 + '"')
    assert fake.status_code == 409 and fake.json()["code"] == "etag_mismatch" and fake.json()["field"] == "etag"
    missing = await report(client, user.headers, fid, 2, etag1)
    assert missing.status_code == 409 and missing.json()["code"] == "part_missing"
    # part 2 uploaded one byte short
    etag2 = await put_part(http, urls[2], part_of(data, PART, 2)[:-1])
    short = await report(client, user.headers, fid, 2, etag2)
    assert short.status_code == 409 and short.json()["code"] == "part_size_mismatch"
    assert str(PART - 1) in short.json()["message"] and str(PART) in short.json()["message"]
    # the last part must be exactly the remainder
    etag3 = await put_part(http, urls[3], part_of(data, PART, 3) + b"x")
    assert (await report(client, user.headers, fid, 3, etag3)).json()["code"] == "part_size_mismatch"
    for n in (0, 4, -1):
        bad = await report(client, user.headers, fid, n, etag1)
        assert bad.status_code == 400 and bad.json()["field"] == "partNumber", bad.text
    assert (await report(client, user.headers, fid, 1, "")).status_code == 400
    st = (await client.get(f"/files/{fid}/upload", headers=user.headers)).json()
    assert st["completedParts"] == [] and st["status"] == "uploading"

    # fixing the parts makes the same reports succeed; duplicates change nothing
    assert (await report(client, user.headers, fid, 1, etag1)).json()["completedParts"] == [1]
    assert (await report(client, user.headers, fid, 1, etag1.strip('"'))).json()["completedParts"] == [1]
    etag2 = await put_part(http, urls[2], part_of(data, PART, 2))
    assert (await report(client, user.headers, fid, 2, etag2)).json()["completedParts"] == [1, 2]
    etag3 = await put_part(http, urls[3], part_of(data, PART, 3))
    done = await report(client, user.headers, fid, 3, etag3)
    assert done.json()["status"] == "available"


async def test_part_urls_signs_any_parts_and_rejects_unknown_ones(client, user, http):
    data = os.urandom(PART * 2)
    up = await init(client, user.headers, 150 * PART)   # 150 parts: init signs 1..100
    fid = up["fileId"]
    r = await client.post(f"/files/{fid}/part-urls", json={"partNumbers": [150, 101, 101]}, headers=user.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["partNumber"] for p in body["parts"]] == [101, 150]
    assert body["expiresAt"] <= body["sessionExpiresAt"]
    etag = await put_part(http, body["parts"][1]["url"], data[:PART])
    assert (await report(client, user.headers, fid, 150, etag)).json()["completedParts"] == [150]
    for numbers in ([0], [151], [1, 99999], []):
        bad = await client.post(f"/files/{fid}/part-urls", json={"partNumbers": numbers}, headers=user.headers)
        assert bad.status_code == 400 and bad.json()["field"] == "partNumbers", bad.text
    bad = await client.post(f"/files/{fid}/part-urls", json={"partNumbers": "1"}, headers=user.headers)
    assert bad.status_code == 400
    await client.delete(f"/files/{fid}/upload", headers=user.headers)


async def test_presigned_urls_cannot_be_reused_for_another_part_or_key(client, user, http, pool, storage, redis):
    a = await init(client, user.headers, 2 * PART)
    b = await init(client, user.headers, 2 * PART)
    url1 = a["parts"][0]["url"]
    body = os.urandom(PART)
    # another part number: the signature covers the query string
    r = await http.put(url1.replace("partNumber=1&", "partNumber=2&"), content=body)
    assert r.status_code == 403, r.text
    # another object key (b's upload id and key, a's signature)
    ua, ub = urlsplit(url1), urlsplit(b["parts"][0]["url"])
    r = await http.put(ub._replace(query=ua.query.replace(a["uploadId"], b["uploadId"])).geturl(), content=body)
    assert r.status_code == 403, r.text
    # a signature for a's key with b's upload id: refused too
    r = await http.put(url1.replace(a["uploadId"], b["uploadId"]), content=body)
    assert r.status_code == 403, r.text
    # nothing reached either upload
    for up in (a, b):
        assert await storage.list_parts(f"objects/{up['fileId']}", up["uploadId"]) == []
        await client.delete(f"/files/{up['fileId']}/upload", headers=user.headers)


async def test_another_users_upload_is_404(client, user, other_user):
    up = await init(client, user.headers, 2 * PART)
    fid, h = up["fileId"], other_user.headers
    calls = [client.get(f"/files/{fid}/upload", headers=h),
             client.post(f"/files/{fid}/part-urls", json={"partNumbers": [1]}, headers=h),
             report(client, h, fid, 1, "a" * 32),
             client.delete(f"/files/{fid}/upload", headers=h)]
    for r in [await c for c in calls]:
        assert r.status_code == 404, r.text
    assert (await client.get(f"/files/{uuid.uuid4()}/upload", headers=user.headers)).status_code == 404
    # the owner's upload is untouched
    assert (await client.get(f"/files/{fid}/upload", headers=user.headers)).json()["status"] == "uploading"
    await client.delete(f"/files/{fid}/upload", headers=user.headers)


async def test_abort_is_idempotent_and_reports_after_it_are_refused(client, user, http, pool, storage, redis):
    data = os.urandom(2 * PART)
    up = await init(client, user.headers, len(data))
    fid = up["fileId"]
    etags = await upload_parts(http, up, data, [1])
    assert (await report(client, user.headers, fid, 1, etags[1])).status_code == 200
    for _ in range(2):
        r = await client.delete(f"/files/{fid}/upload", headers=user.headers)
        assert r.status_code == 204, r.text
    st = await client.get(f"/files/{fid}/upload", headers=user.headers)
    assert st.status_code == 200 and st.json()["status"] == "aborted"
    late = await report(client, user.headers, fid, 1, etags[1])
    assert late.status_code == 409 and late.json()["code"] == "upload_aborted"
    r = await client.post(f"/files/{fid}/part-urls", json={"partNumbers": [2]}, headers=user.headers)
    assert r.status_code == 409
    # S3 dropped the upload and its parts; the presigned URL for part 2 no longer works
    assert up["uploadId"] not in [u.upload_id async for u in storage.list_multipart_uploads()]
    r = await http.put(up["parts"][1]["url"], content=part_of(data, PART, 2))
    assert r.status_code == 404, r.text
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, purged_at FROM files WHERE id = $1", uuid.UUID(fid))
    assert row["status"] == "aborted" and row["purged_at"] is not None


# --- concurrency and recovery ---------------------------------------------------------------
async def test_racing_completions_complete_exactly_once(settings, user, storage, http):
    """Many reports of the last parts at once, over real HTTP with real concurrency: every one
    succeeds, the upload completes, and exactly one request completed it (the session row lock)."""
    completions: list[str] = []
    async with InLoopServer(settings) as server, httpx.AsyncClient(base_url=server.url, timeout=60) as api:
        watch = RecordList(completions, logging.getLogger("mybox.uploads"))
        data = os.urandom(9 * PART + 7)
        up = await init(api, user.headers, len(data))
        fid, count = up["fileId"], up["partCount"]
        etags = await upload_parts(http, up, data, list(range(1, count + 1)))
        for n in range(1, 3):
            assert (await report(api, user.headers, fid, n, etags[n])).status_code == 200
        last = list(range(3, count + 1))  # eight parts left, each reported three times at once
        calls = [report(api, user.headers, fid, n, etags[n]) for n in last for _ in range(3)]
        random.shuffle(calls)
        results = await asyncio.gather(*calls)
        assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
        statuses = [r.json()["status"] for r in results]
        assert "available" in statuses and set(statuses) <= {"uploading", "available"}
        final = (await api.get(f"/files/{fid}/upload", headers=user.headers)).json()
    assert final["status"] == "available" and final["completedParts"] == list(range(1, count + 1))
    watch.close()
    assert len([m for m in completions if m.startswith(f"upload {fid} completed")]) == 1, completions
    assert await stored_bytes(storage, f"objects/{fid}") == data


async def test_a_part_uploaded_again_is_completed_with_the_reported_version(client, user, storage, http):
    """A client may PUT a part again (a retry). The service completes with the version whose ETag
    was recorded: a re-report switches to the new version; a part S3 no longer holds in the
    reported version (S3 and MinIO keep only the last upload of a part) is dropped from the
    record and must be reported again. The file never holds bytes nobody reported."""
    data = os.urandom(2 * PART + 1)
    up = await init(client, user.headers, len(data))
    fid = up["fileId"]
    urls = {p["partNumber"]: p["url"] for p in up["parts"]}
    etags = await upload_parts(http, up, data, [1, 2, 3])
    await report(client, user.headers, fid, 1, etags[1])
    new2 = os.urandom(PART)                 # part 2 re-sent and re-reported before completion
    await report(client, user.headers, fid, 2, etags[2])
    r = await report(client, user.headers, fid, 2, await put_part(http, urls[2], new2))
    assert r.json()["completedParts"] == [1, 2]
    new1 = os.urandom(PART)                 # part 1 re-sent after its report, never re-reported
    await put_part(http, urls[1], new1)
    r = await report(client, user.headers, fid, 3, etags[3])
    assert r.status_code == 200, r.text
    if r.json()["status"] == "available":   # the reported version of part 1 still existed (SeaweedFS)
        expected = data[:PART] + new2 + data[2 * PART:]
    else:                                   # it was replaced (S3, MinIO): report it again
        assert r.json()["completedParts"] == [2, 3]
        r = await report(client, user.headers, fid, 1, hashlib.md5(new1).hexdigest())
        assert r.json()["status"] == "available"
        expected = new1 + new2 + data[2 * PART:]
    assert await stored_bytes(storage, f"objects/{fid}") == expected


async def test_a_completion_that_reached_s3_but_not_the_database_is_finished_on_retry(client, user, pool, storage, redis, http):
    """The service crashed (or the commit failed) right after S3 completed the upload: the file
    is still `uploading` with the last part unrecorded. Reporting that part again finishes it."""
    data = os.urandom(PART + 99)
    up = await init(client, user.headers, len(data))
    fid, key = up["fileId"], f"objects/{up['fileId']}"
    etags = await upload_parts(http, up, data, [1, 2])
    await report(client, user.headers, fid, 1, etags[1])
    await storage.complete_multipart(key, up["uploadId"], [(1, etags[1].strip('"')), (2, etags[2].strip('"'))])
    assert (await client.get(f"/files/{fid}/upload", headers=user.headers)).json()["status"] == "uploading"
    r = await report(client, user.headers, fid, 2, etags[2])
    assert r.status_code == 200 and r.json()["status"] == "available", r.text
    assert await stored_bytes(storage, key) == data


async def test_a_lost_upload_is_409_and_never_available(client, user, pool, storage, redis, http):
    data = os.urandom(PART + 1)
    up = await init(client, user.headers, len(data))
    fid, key = up["fileId"], f"objects/{up['fileId']}"
    etags = await upload_parts(http, up, data, [1, 2])
    await report(client, user.headers, fid, 1, etags[1])
    await storage.abort_multipart(key, up["uploadId"])   # e.g. MinIO's stale-upload expiry
    r = await report(client, user.headers, fid, 2, etags[2])
    assert r.status_code == 409 and r.json()["code"] == "upload_missing", r.text
    assert (await client.get(f"/files/{fid}/upload", headers=user.headers)).json()["status"] == "uploading"
    assert (await client.delete(f"/files/{fid}/upload", headers=user.headers)).status_code == 204


async def test_init_while_s3_is_down_is_503_and_leaves_nothing(settings, user, pool):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import free_port, make_settings

    down = make_settings(settings, s3_endpoint=f"http://127.0.0.1:{free_port()}")
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM files WHERE user_id = $1", uuid.UUID(user.id))
    async with AsyncTestClient(app=create_app(down), base_url="http://127.0.0.1:8000") as c:
        r = await c.post("/files/init-multipart", json={"name": "a", "size": 10}, headers=user.headers)
    assert r.status_code == 503 and r.json()["code"] == "storage_unavailable", r.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM files WHERE user_id = $1", uuid.UUID(user.id)) == before
