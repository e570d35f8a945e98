"""GET/HEAD /files/{id}: every Range form, 206/416/304, If-Range, headers; presigned download URLs."""

import base64
import hashlib
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from service.files.ranges import http_date
from tests.conftest import make_settings, register_user
from tests.integration.test_files import upload

SIZE = 1000
DATA = os.urandom(SIZE)


@pytest.fixture(scope="module")
def shared():
    return {}


async def _file(client, user, shared):
    if "info" not in shared:
        shared["user"] = user
        shared["info"] = await upload(client, user, DATA, "보고서 2026 (최종).bin", "application/x-test")
    return shared["user"], shared["info"]


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-0", 0, 0), ("bytes=0-499", 0, 499), ("bytes=500-", 500, 999), ("bytes=999-", 999, 999),
    ("bytes=-100", 900, 999), ("bytes=-1", 999, 999), ("bytes=-5000", 0, 999), ("bytes=990-5000", 990, 999),
    ("bytes=10-10", 10, 10), ("bytes= 3 - 7", 3, 7),
])
async def test_single_range_forms_are_206(client, user, shared, header, start, end):
    u, info = await _file(client, user, shared)
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "Range": header})
    assert r.status_code == 206, r.text
    assert r.content == DATA[start:end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["accept-ranges"] == "bytes" and r.headers["etag"]


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=abc", "bytes=-", "bytes 0-5"])
async def test_ranges_the_server_ignores_give_the_whole_file(client, user, shared, header):
    u, info = await _file(client, user, shared)
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "Range": header})
    assert r.status_code == 200 and r.content == DATA and "content-range" not in r.headers


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-2000", "bytes=5000-6000", "bytes=-0", "bytes=7-3"])
async def test_unsatisfiable_is_416_with_size(client, user, shared, header):
    u, info = await _file(client, user, shared)
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "Range": header})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{SIZE}"
    assert r.json()["code"] == "range_not_satisfiable"


async def test_empty_file_ranges(client, user):
    info = await upload(client, user, b"", "empty.txt")
    r = await client.get(f"/files/{info['id']}", headers=user.headers)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    r = await client.get(f"/files/{info['id']}", headers={**user.headers, "Range": "bytes=0-"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */0"


async def test_download_headers(client, user, shared):
    u, info = await _file(client, user, shared)
    r = await client.get(f"/files/{info['id']}", headers=u.headers)
    h = r.headers
    assert r.status_code == 200 and r.content == DATA
    assert h["content-length"] == str(SIZE) and h["content-type"] == "application/x-test"
    assert h["accept-ranges"] == "bytes" and h["x-content-type-options"] == "nosniff"
    assert h["etag"].startswith('"') and h["etag"].endswith('"')
    assert datetime.strptime(h["last-modified"], "%a, %d %b %Y %H:%M:%S GMT")
    assert h["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(DATA).digest()).decode()}:"
    kind, params = parse_content_disposition(h["content-disposition"])
    assert kind == "attachment" and content_disposition_filename(params, "filename") == "보고서 2026 (최종).bin"
    assert "filename*=UTF-8''" in h["content-disposition"] and params["filename"].isascii()
    part = await client.get(f"/files/{info['id']}", headers={**u.headers, "Range": "bytes=1-2"})
    for name in ("etag", "last-modified", "repr-digest", "content-disposition", "x-content-type-options"):
        assert part.headers[name] == h[name]  # Repr-Digest is of the whole file, also on a 206
    head = await client.head(f"/files/{info['id']}", headers=u.headers)
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "content-length", "content-disposition", "repr-digest", "accept-ranges", "content-type"):
        assert head.headers[name] == h[name]
    head_range = await client.head(f"/files/{info['id']}", headers={**u.headers, "Range": "bytes=-10"})
    assert head_range.status_code == 206 and head_range.headers["content-range"] == f"bytes 990-999/{SIZE}"


async def test_if_none_match_and_if_modified_since(client, user, shared):
    u, info = await _file(client, user, shared)
    first = await client.get(f"/files/{info['id']}", headers=u.headers)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for inm in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = await client.get(f"/files/{info['id']}", headers={**u.headers, "If-None-Match": inm})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    stale = await client.get(f"/files/{info['id']}", headers={**u.headers, "If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.content == DATA
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "If-Modified-Since": modified})
    assert r.status_code == 304
    old = http_date(datetime.now(timezone.utc) - timedelta(days=1))
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "If-Modified-Since": old})
    assert r.status_code == 200
    # If-None-Match wins over If-Modified-Since
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "If-None-Match": '"x"',
                                                         "If-Modified-Since": modified})
    assert r.status_code == 200
    r = await client.get(f"/files/{info['id']}", headers={**u.headers, "If-None-Match": etag, "Range": "bytes=0-1"})
    assert r.status_code == 304


async def test_if_range(client, user, shared):
    u, info = await _file(client, user, shared)
    first = await client.get(f"/files/{info['id']}", headers=u.headers)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    rng = {**u.headers, "Range": "bytes=100-199"}
    for validator in (etag, modified):
        r = await client.get(f"/files/{info['id']}", headers={**rng, "If-Range": validator})
        assert r.status_code == 206 and r.content == DATA[100:200]
    for stale in ('"stale"', f"W/{etag}", http_date(datetime.now(timezone.utc) - timedelta(days=1)), "garbage"):
        r = await client.get(f"/files/{info['id']}", headers={**rng, "If-Range": stale})
        assert r.status_code == 200 and r.content == DATA


async def test_download_url_is_presigned_for_the_public_host(client, user, settings):
    data = os.urandom(50_000)
    info = await upload(client, user, data, "naïve café.bin", "application/x-test")
    before = datetime.now(timezone.utc)
    r = await client.get(f"/files/{info['id']}/download-url", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    ttl = timedelta(seconds=settings.presign_ttl_seconds)
    assert before + ttl - timedelta(seconds=5) <= expires <= before + ttl + timedelta(seconds=5)
    assert urlsplit(body["url"]).netloc == urlsplit(settings.s3_public_endpoint).netloc
    async with httpx.AsyncClient() as raw:  # no token
        full = await raw.get(body["url"])
        assert full.status_code == 200 and full.content == data
        kind, params = parse_content_disposition(full.headers["content-disposition"])
        assert content_disposition_filename(params, "filename") == "naïve café.bin"
        part = await raw.get(body["url"], headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == data[10:20]
        other = info["id"][:-1] + ("1" if info["id"][-1] != "1" else "2")
        tampered = await raw.get(body["url"].replace(info["id"], other))  # another key, same signature
        assert tampered.status_code == 403


async def test_download_url_signs_for_a_different_public_host(settings, client):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    public = make_settings(settings, s3_public_endpoint=settings.s3_endpoint.replace("127.0.0.1", "localhost"))
    u = await register_user(client)
    info = await upload(client, u, b"via public host", "p.txt")
    async with AsyncTestClient(app=create_app(public)) as c:
        url = (await c.get(f"/files/{info['id']}/download-url", headers=u.headers)).json()["url"]
    assert urlsplit(url).hostname == "localhost"
    async with httpx.AsyncClient() as raw:
        r = await raw.get(url)
    assert r.status_code == 200 and r.content == b"via public host"


async def test_streamed_download_over_a_real_socket(live_server, client):
    """Through uvicorn: a 20 MiB file and a range in its middle, byte for byte."""
    u = await register_user(client)
    data = os.urandom(20 * 1024 * 1024 + 3)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as c:
        r = await c.post("/files", headers=u.headers, files={"file": ("big.bin", data)})
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        digest = hashlib.sha256()
        received = 0
        async with c.stream("GET", f"/files/{fid}", headers=u.headers) as resp:
            assert resp.status_code == 200 and resp.headers["content-length"] == str(len(data))
            async for chunk in resp.aiter_raw():
                digest.update(chunk)
                received += len(chunk)
        assert received == len(data) and digest.hexdigest() == hashlib.sha256(data).hexdigest()
        mid = await c.get(f"/files/{fid}", headers={**u.headers, "Range": "bytes=9000000-12000000"})
        assert mid.status_code == 206 and mid.content == data[9_000_000:12_000_001]
