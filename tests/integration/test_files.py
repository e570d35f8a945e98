"""/files against real Postgres, Redis and S3: round trips, names, ownership, delete, statuses,
access recording, thumbnails, jobs. Helpers here are shared by the other test_files_* modules."""

import asyncio
import hashlib
import os
import secrets
import uuid

import asyncpg
import pytest
import pytest_asyncio
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from redis.asyncio import Redis

from service.storage import Storage
from tests.conftest import make_settings, register_user

BOUNDARY = "mYbOxTeStBoUnDaRy"


def multipart(*parts: tuple[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """A hand-made multipart body (raw header bytes, data) and its Content-Type header."""
    body = b""
    for headers, data in parts:
        body += b"--" + BOUNDARY.encode() + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    body += b"--" + BOUNDARY.encode() + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def file_part(data: bytes, filename: bytes | str = "f.bin", content_type: str | None = None) -> tuple[bytes, bytes]:
    fn = filename.encode() if isinstance(filename, str) else filename
    headers = b'Content-Disposition: form-data; name="file"; filename="' + fn + b'"'
    if content_type:
        headers += b"\r\nContent-Type: " + content_type.encode()
    return headers, data


def field_part(name: str, value: str) -> tuple[bytes, bytes]:
    return f'Content-Disposition: form-data; name="{name}"'.encode(), value.encode()


async def upload(client, user, data: bytes, name: str = "file.bin", content_type: str | None = None,
                 sha256: str | None = None, expect: int = 201):
    form = {"sha256": sha256} if sha256 else None
    files = {"file": (name, data, content_type) if content_type else (name, data)}
    r = await client.post("/files", headers=user.headers, files=files, data=form)
    assert r.status_code == expect, r.text
    return r.json()


@pytest_asyncio.fixture(loop_scope="session")
async def db(settings):
    conn = await asyncpg.connect(settings.database_url)
    yield conn
    await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def store(settings):
    s = Storage(endpoint=settings.s3_endpoint, public_endpoint=settings.s3_public_endpoint,
                access_key=settings.s3_access_key, secret_key=settings.s3_secret_key, region=settings.s3_region,
                bucket=settings.s3_bucket)
    yield s
    await s.close()


async def object_keys(store: Storage) -> set[str]:
    return {k async for k, _ in store.list_keys("objects/")}


@pytest.mark.parametrize("size", [0, 1, 300_000, 8 * 1024 * 1024, 17 * 1024 * 1024 + 5])
async def test_round_trip_bytes_and_sha256(client, user, store, db, size):
    data = os.urandom(size)
    info = await upload(client, user, data, "data.bin")
    digest = hashlib.sha256(data).hexdigest()
    assert info["status"] == "available" and info["size"] == size and info["sha256"] == digest
    assert info["tier"] == "hot" and info["thumbnailUrl"] is None and info["uploadedAt"].endswith("Z")
    assert set(info) == {"id", "name", "size", "contentType", "status", "tier", "sha256", "thumbnailUrl",
                         "createdAt", "uploadedAt"}
    r = await client.get(f"/files/{info['id']}", headers=user.headers)
    assert r.status_code == 200 and r.content == data and hashlib.sha256(r.content).hexdigest() == digest
    assert (await store.stat(f"objects/{info['id']}")).size == size  # key from the id, never the name
    row = await db.fetchrow("SELECT object_key, sha256, declared_sha256, user_id FROM files WHERE id = $1",
                            uuid.UUID(info["id"]))
    assert row["object_key"] == f"objects/{info['id']}" and row["sha256"] == digest
    assert row["declared_sha256"] is None and str(row["user_id"]) == user.id
    meta = await client.get(f"/files/{info['id']}/metadata", headers=user.headers)
    assert meta.status_code == 200 and meta.json() == info


@pytest.mark.parametrize("name", ["보고서 2026 (최종).pdf", "../../etc/passwd", "a/b/c.txt", "naïve café 🎉.txt",
                                  "x" * 251 + ".txt", "..", "%2e%2e%2f"])
async def test_unicode_and_odd_names_are_kept_as_given(client, user, store, name):
    info = await upload(client, user, b"hello", name)
    assert info["name"] == name
    r = await client.get(f"/files/{info['id']}", headers=user.headers)
    kind, params = parse_content_disposition(r.headers["content-disposition"])
    assert kind == "attachment" and content_disposition_filename(params, "filename") == name
    assert params["filename"].isascii()
    listed = (await client.get("/files?pageSize=100", headers=user.headers)).json()["items"]
    assert name in {i["name"] for i in listed}
    assert await store.exists(f"objects/{info['id']}")


async def test_quoted_and_escaped_filenames(client, user):
    """A backslash-escaped quote is a quote; a browser's %22 stays literal text (it cannot be told
    apart from a real '%22' in a name)."""
    body, headers = multipart(file_part(b"q", rb'say \"hi\".txt'))
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.status_code == 201 and r.json()["name"] == 'say "hi".txt'
    info = await upload(client, user, b"q", 'quo"te.txt')  # httpx, like browsers, sends quo%22te.txt
    assert info["name"] == "quo%22te.txt"


async def test_content_type_from_part_then_name_then_default(client, user):
    assert (await upload(client, user, b"x", "a.bin", "image/png"))["contentType"] == "image/png"
    assert (await upload(client, user, b"x", "photo.jpg", "application/octet-stream"))["contentType"] == "image/jpeg"
    body, headers = multipart(file_part(b"x", "doc.pdf"))  # no Content-Type header in the part
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.status_code == 201 and r.json()["contentType"] == "application/pdf"
    body, headers = multipart(file_part(b"x", "mystery.zzqq"))
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.json()["contentType"] == "application/octet-stream"
    d = await client.get(f"/files/{r.json()['id']}", headers=user.headers)
    assert d.headers["content-type"] == "application/octet-stream"


ENDPOINTS = [("GET", ""), ("HEAD", ""), ("GET", "/metadata"), ("GET", "/download-url"), ("GET", "/thumbnail"),
             ("DELETE", "")]


async def test_another_users_file_is_404_everywhere(client, user, other_user, db):
    info = await upload(client, user, b"mine", "secret.txt")
    await db.execute("UPDATE files SET thumbnail_key = $2 WHERE id = $1", uuid.UUID(info["id"]),
                     f"thumbs/{info['id']}/256.webp")
    for method, suffix in ENDPOINTS:
        r = await client.request(method, f"/files/{info['id']}{suffix}", headers=other_user.headers)
        assert r.status_code == 404, (method, suffix, r.status_code)
        if method != "HEAD":
            assert r.json()["code"] == "file_not_found"
    assert info["id"] not in {i["id"] for i in (await client.get("/files", headers=other_user.headers)).json()["items"]}
    r = await client.get(f"/files/{info['id']}", headers=user.headers)  # still there for its owner
    assert r.status_code == 200 and r.content == b"mine"


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "%00", "00000000-0000-0000-0000-00000000000g", "a" * 300,
                                 str(uuid.uuid4())])
async def test_bad_or_unknown_ids_are_404_json(client, user, bad):
    for method, suffix in ENDPOINTS:
        r = await client.request(method, f"/files/{bad}{suffix}", headers=user.headers)
        assert r.status_code in (400, 404), (method, suffix, r.status_code, r.text)
        if method != "HEAD":
            assert r.headers["content-type"].startswith("application/json") and r.json()["message"]


async def test_delete_is_immediate_everywhere_and_removes_bytes(client, user, store, db):
    info = await upload(client, user, os.urandom(1000), "gone.bin")
    fid = info["id"]
    await store.put_bytes(f"thumbs/{fid}/256.webp", b"RIFFfakewebp", "image/webp")
    await db.execute("UPDATE files SET thumbnail_key = $2 WHERE id = $1", uuid.UUID(fid), f"thumbs/{fid}/256.webp")
    r = await client.delete(f"/files/{fid}", headers=user.headers)
    assert r.status_code == 204 and r.content == b""
    for method, suffix in ENDPOINTS:
        assert (await client.request(method, f"/files/{fid}{suffix}", headers=user.headers)).status_code == 404
    assert fid not in {i["id"] for i in (await client.get("/files?pageSize=100", headers=user.headers)).json()["items"]}
    assert not await store.exists(f"objects/{fid}") and not await store.exists(f"thumbs/{fid}/256.webp")
    row = await db.fetchrow("SELECT status, deleted_at, purged_at FROM files WHERE id = $1", uuid.UUID(fid))
    assert row["status"] == "deleted" and row["deleted_at"] and row["purged_at"]
    deleted = (await client.get("/files?status=deleted", headers=user.headers)).json()["items"]
    assert [i["id"] for i in deleted] == [fid]  # only when asked for


async def test_delete_when_storage_fails_is_left_for_reconciliation(client, user, settings, db, store):
    """The row is deleted at once; the object stays, purged_at stays NULL and a purge job is queued."""
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import free_port

    info = await upload(client, user, b"keep me until purge", "p.txt")
    broken = make_settings(settings, s3_endpoint=f"http://127.0.0.1:{free_port()}")
    async with AsyncTestClient(app=create_app(broken)) as broken_client:
        r = await broken_client.delete(f"/files/{info['id']}", headers=user.headers)
    assert r.status_code == 204
    assert (await client.get(f"/files/{info['id']}/metadata", headers=user.headers)).status_code == 404
    row = await db.fetchrow("SELECT status, purged_at FROM files WHERE id = $1", uuid.UUID(info["id"]))
    assert row["status"] == "deleted" and row["purged_at"] is None
    assert await store.exists(f"objects/{info['id']}")
    redis = Redis.from_url(settings.redis_url)
    try:
        assert await redis.zscore(settings.job_queue, f"purge:{info['id']}") is not None
    finally:
        await redis.aclose()
    await store.remove(f"objects/{info['id']}")


@pytest.mark.parametrize("status", ["verifying", "corrupt", "restoring", "aborted", "uploading"])
async def test_not_available_is_409_for_bytes(client, user, db, status):
    info = await upload(client, user, b"abc", "s.txt")
    await db.execute("UPDATE files SET status = $2 WHERE id = $1", uuid.UUID(info["id"]), status)
    for suffix in ("", "/download-url"):
        r = await client.get(f"/files/{info['id']}{suffix}", headers=user.headers)
        assert r.status_code == 409 and r.json()["code"] == "file_not_available"
    meta = await client.get(f"/files/{info['id']}/metadata", headers=user.headers)
    assert meta.status_code == 200 and meta.json()["status"] == status
    listed = {i["id"] for i in (await client.get("/files?pageSize=100", headers=user.headers)).json()["items"]}
    assert (info["id"] in listed) == (status in ("verifying", "corrupt", "restoring"))
    r = await client.delete(f"/files/{info['id']}", headers=user.headers)
    assert r.status_code == (409 if status == "uploading" else 204)


async def test_archived_cold_file_is_409_until_restored(client, user, settings, db):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    info = await upload(client, user, b"old", "old.txt")
    await db.execute("UPDATE files SET tier = 'cold' WHERE id = $1", uuid.UUID(info["id"]))
    async with AsyncTestClient(app=create_app(make_settings(settings, cold_tier_mode="archive"))) as c:
        r = await c.get(f"/files/{info['id']}", headers=user.headers)
    assert r.status_code == 409 and r.json()["code"] == "file_archived"


async def test_download_records_access_at_most_hourly(client, user, db):
    info = await upload(client, user, b"abc", "a.txt")
    fid = uuid.UUID(info["id"])
    await client.get(f"/files/{fid}/metadata", headers=user.headers)
    await client.head(f"/files/{fid}", headers=user.headers)
    await client.get("/files", headers=user.headers)
    assert await db.fetchval("SELECT last_accessed_at FROM files WHERE id = $1", fid) is None
    await client.get(f"/files/{fid}", headers=user.headers)
    first = await db.fetchval("SELECT last_accessed_at FROM files WHERE id = $1", fid)
    assert first is not None
    await client.get(f"/files/{fid}", headers={**user.headers, "Range": "bytes=0-0"})
    assert await db.fetchval("SELECT last_accessed_at FROM files WHERE id = $1", fid) == first
    await db.execute("UPDATE files SET last_accessed_at = now() - interval '2 hours' WHERE id = $1", fid)
    await client.get(f"/files/{fid}", headers=user.headers)
    assert await db.fetchval("SELECT last_accessed_at FROM files WHERE id = $1", fid) > first


async def test_thumbnail_route(client, user, store, db):
    info = await upload(client, user, b"not really an image", "pic.png", "image/png")
    fid = info["id"]
    r = await client.get(f"/files/{fid}/thumbnail", headers=user.headers)
    assert r.status_code == 404 and r.json()["code"] == "thumbnail_not_found"
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(64)
    await store.put_bytes(f"thumbs/{fid}/256.webp", webp, "image/webp")
    await db.execute("UPDATE files SET thumbnail_key = $2 WHERE id = $1", uuid.UUID(fid), f"thumbs/{fid}/256.webp")
    assert (await client.get(f"/files/{fid}/metadata", headers=user.headers)).json()["thumbnailUrl"] == \
        f"/files/{fid}/thumbnail"
    r = await client.get(f"/files/{fid}/thumbnail", headers=user.headers)
    assert r.status_code == 200 and r.content == webp and r.headers["content-type"] == "image/webp"
    assert r.headers["cache-control"].startswith("private") and r.headers["etag"]
    again = await client.get(f"/files/{fid}/thumbnail", headers={**user.headers, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert (await client.get(f"/files/{fid}/thumbnail?size=1280", headers=user.headers)).status_code == 404
    await store.put_bytes(f"thumbs/{fid}/1280.webp", webp + b"big", "image/webp")
    big = await client.get(f"/files/{fid}/thumbnail?size=1280", headers=user.headers)
    assert big.status_code == 200 and big.content == webp + b"big" and big.headers["etag"] != r.headers["etag"]
    bad = await client.get(f"/files/{fid}/thumbnail?size=99", headers=user.headers)
    assert bad.status_code == 400 and bad.json()["field"] == "size"


async def test_upload_enqueues_thumbnail_job(client, user, settings):
    info = await upload(client, user, b"img", "x.png", "image/png")
    redis = Redis.from_url(settings.redis_url)
    try:
        assert await redis.zscore(settings.job_queue, f"thumb:{info['id']}") is not None
    finally:
        await redis.aclose()


async def test_upload_succeeds_when_redis_is_down(settings, client):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import free_port

    no_redis = make_settings(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with AsyncTestClient(app=create_app(no_redis)) as c:
        u = await register_user(client)
        r = await c.post("/files", headers=u.headers, files={"file": ("a.txt", b"still works")})
        assert r.status_code == 201, r.text
        d = await c.get(f"/files/{r.json()['id']}", headers=u.headers)
        assert d.content == b"still works"


async def test_unauthenticated_is_401(client):
    for method, path in [("POST", "/files"), ("GET", "/files"), ("GET", f"/files/{uuid.uuid4()}"),
                         ("DELETE", f"/files/{uuid.uuid4()}")]:
        assert (await client.request(method, path)).status_code == 401


@pytest.mark.parametrize("size,chunk", [(8 * 1024 * 1024 - 1, 65536), (8 * 1024 * 1024, 1000003),
                                        (8 * 1024 * 1024 + 1, 65536), (25 * 1024 * 1024 + 7, 777777)])
async def test_put_stream_parts_and_hash(store, size, chunk):
    """The streamed multipart loop under POST /files: exact bytes and sha256 at part edges."""
    data = os.urandom(size)

    async def chunks():
        for i in range(0, size, chunk):
            yield data[i:i + chunk]

    key = f"objects/stream-test-{uuid.uuid4()}"
    got_size, digest = await store.put_stream(key, chunks(), content_type="application/octet-stream")
    try:
        assert got_size == size and digest == hashlib.sha256(data).hexdigest()
        stored = b"".join([c async for c in store.iter_range(key)])
        assert stored == data
    finally:
        await store.remove(key)
