"""CLI and SDK transfers against the real stack, through a recording proxy in front of S3 (see
cli_support.S3Proxy): a 50 MiB multipart upload killed mid-way and resumed without resending
finished parts, Ctrl-C, a download resumed from its partial file, SHA-256 checked both ways,
expired presigned URLs refreshed, and transient S3 failures retried."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import httpx
import pytest

from client.config import ResumeStore
from client.download import Downloader
from client.sdk import Client
from client.upload import Uploader, _UrlCache
from service.storage import hot_storage
from tests.conftest import LiveServer
from tests.integration.cli_support import S3Proxy, mybox, mybox_bg, wait_for

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def proxy(endpoints):
    p = S3Proxy(endpoints.s3_endpoint).start()
    yield p
    p.stop()


def _server(settings, live_server, proxy, **env: str) -> LiveServer:
    # the shared live_server's origin stays in the bucket's CORS rules (this server rewrites them)
    origins = ",".join([live_server.url, *settings.cors_origins])
    return LiveServer(settings, MYBOX_S3_PUBLIC_ENDPOINT=proxy.url, MYBOX_CORS_ORIGINS=origins, **env)


@pytest.fixture(scope="module")
def server(settings, live_server, proxy):
    """The API, presigning URLs that point at the recording proxy."""
    s = _server(settings, live_server, proxy)
    yield s
    s.stop()


@pytest.fixture
def account(server, tmp_path):
    config = tmp_path / "cfg" / "config.json"
    username, password = f"tx{secrets.token_hex(5)}", "correct-horse-1"
    assert httpx.post(server.url + "/auth/register", json={"username": username, "password": password}).status_code == 201
    assert mybox(config, "login", server.url, "-u", username, "-p", password).returncode == 0
    return config, json.loads(config.read_text())["token"]


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            fh.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _upload_state(server, token: str, file_id: str) -> dict:
    r = httpx.get(f"{server.url}/files/{file_id}/upload", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def _resume_entry(config: Path) -> str | None:
    path = ResumeStore.beside(config).path
    try:
        entries = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return next(iter(entries.values()))["fileId"] if entries else None


async def _part_rows(settings, file_id: str) -> dict[int, tuple[str, datetime]]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT part_number, etag, completed_at FROM upload_parts WHERE file_id = $1",
                                file_id)
        return {r["part_number"]: (r["etag"], r["completed_at"]) for r in rows}
    finally:
        await conn.close()


async def _stored_sha256(settings, file_id: str) -> str:
    store = hot_storage(settings)
    digest = hashlib.sha256()
    try:
        async for chunk in store.iter_range(f"objects/{file_id}"):
            digest.update(chunk)
    finally:
        await store.close()
    return digest.hexdigest()


def _kill_when(config: Path, args: tuple[str, ...], ready) -> None:
    """Run the CLI in the background and SIGKILL it once `ready()` is true."""
    proc = mybox_bg(config, *args)
    try:
        wait_for(ready, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def _settled(read):
    """`read()` once it gives the same answer twice in a row: a part report the killed client
    had already sent may still be committed by the server a moment later."""
    last = read()
    while True:
        time.sleep(0.5)
        now = read()
        if now == last:
            return now
        last = now


async def test_multipart_upload_killed_then_resumed(settings, server, proxy, account, tmp_path):
    config, token = account
    big = tmp_path / "video.bin"
    sha = _random_file(big, 50 * MiB)  # 10 parts of 5 MiB
    args = ("upload", str(big), "--threshold", "8M", "--part-size", "5M", "--json")
    slow = (*args, "--parallel", "2", "--limit-rate", "10M")
    recorded = lambda: set(_upload_state(server, token, _resume_entry(config))["completedParts"])  # noqa: E731

    # run 1: killed once three parts are recorded
    _kill_when(config, slow, lambda: _resume_entry(config) and len(recorded()) >= 3)
    file_id = _resume_entry(config)
    first = _settled(lambda: _upload_state(server, token, file_id))
    done1 = set(first["completedParts"])
    assert first["status"] == "uploading" and first["partCount"] == 10 and 3 <= len(done1) < 8
    rows1 = await _part_rows(settings, file_id)
    assert set(rows1) == done1

    # run 2: resumes, killed again after two more parts; the server's records of run 1's parts
    # are untouched (a resent part would have been re-reported)
    mark = len(proxy.log)
    _kill_when(config, slow, lambda: len(recorded()) >= len(done1) + 2)
    _settled(recorded)
    rows2 = await _part_rows(settings, file_id)
    done2 = set(rows2)
    assert done2 > done1 and len(done2) < 10
    assert {n: rows2[n] for n in done1} == rows1
    assert all(rows2[n][1] > max(t for _, t in rows1.values()) for n in done2 - done1)

    # run 3: finishes
    mark3 = len(proxy.log)
    r = mybox(config, *args)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["id"] == file_id and info["size"] == 50 * MiB  # the same upload, continued
    assert info["status"] in ("verifying", "available")

    # what reached S3 after run 1: never a part recorded by then, and run 3 never resent run 2's
    after1 = proxy.part_puts(since=mark)
    run3 = proxy.part_puts(since=mark3)
    assert set(after1).isdisjoint(done1) and set(run3).isdisjoint(done2)
    assert sorted(run3) == sorted(set(range(1, 11)) - done2)  # each missing part once
    assert set(after1) | done1 == set(range(1, 11))
    assert await _stored_sha256(settings, file_id) == sha
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await conn.fetchval("SELECT declared_sha256 FROM files WHERE id = $1", file_id) == sha
    finally:
        await conn.close()
    assert _resume_entry(config) is None  # the local resume record is gone once the upload is done


async def test_ctrl_c_then_rerun(settings, server, proxy, account, tmp_path):
    config, token = account
    f = tmp_path / "clip.bin"
    sha = _random_file(f, 20 * MiB)
    args = ("upload", str(f), "--threshold", "8M", "--part-size", "5M", "--json")
    proc = mybox_bg(config, *args, "--parallel", "1", "--limit-rate", "4M")
    file_id = wait_for(lambda: _resume_entry(config), timeout=30)
    wait_for(lambda: _upload_state(server, token, file_id)["completedParts"], timeout=60)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "run the same command again to resume" in stderr
    done = _settled(lambda: set(_upload_state(server, token, file_id)["completedParts"]))
    assert 1 <= len(done) < 4

    mark = len(proxy.log)
    r = mybox(config, *args)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == file_id
    assert set(proxy.part_puts(since=mark)).isdisjoint(done)
    assert await _stored_sha256(settings, file_id) == sha


async def test_download_resumes_from_partial_file(server, proxy, account, tmp_path):
    config, _ = account
    src = tmp_path / "movie.bin"
    sha = _random_file(src, 40 * MiB)
    r = mybox(config, "upload", str(src), "--json")  # below the default threshold: POST /files
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["sha256"] == sha

    out = tmp_path / "dl" / "movie.bin"
    out.parent.mkdir()
    state = out.with_name("movie.bin.part.json")
    proc = mybox_bg(config, "download", info["id"], "-o", str(out), "--chunk-size", "1M", "--parallel", "2",
                    "--limit-rate", "8M")
    try:
        wait_for(lambda: state.exists() and len(json.loads(state.read_text())["done"]) >= 8, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    done_before = set(json.loads(state.read_text())["done"])
    assert 8 <= len(done_before) < 40 and not out.exists()
    assert out.with_name("movie.bin.part").exists()

    mark = len(proxy.log)
    r = mybox(config, "download", info["id"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "sha256 verified" in r.stderr
    assert _sha256(out) == sha
    assert not state.exists() and not out.with_name("movie.bin.part").exists()
    fetched = {start // MiB for start, _ in proxy.range_gets(since=mark)}
    assert fetched.isdisjoint(done_before) and fetched | done_before == set(range(40))


async def test_download_refuses_bytes_that_do_not_match(settings, server, account, tmp_path):
    config, _ = account
    src = tmp_path / "doc.bin"
    _random_file(src, 3 * MiB)
    info = json.loads(mybox(config, "upload", str(src), "--json").stdout)
    store = hot_storage(settings)
    try:  # rot the stored bytes behind the service's back (same size)
        await store.put_bytes(f"objects/{info['id']}", os.urandom(3 * MiB))
    finally:
        await store.close()
    out = tmp_path / "doc-copy.bin"
    r = mybox(config, "download", info["id"], "-o", str(out))
    assert r.returncode == 1 and "SHA-256 mismatch" in r.stderr
    assert not out.exists() and not out.with_name("doc-copy.bin.part").exists()


async def test_transient_failures_are_retried(server, proxy, account, tmp_path):
    config, token = account
    f = tmp_path / "flaky.bin"
    sha = _random_file(f, 20 * MiB)
    seen: dict[str, int] = {}

    def fault(request):
        q = request.rel_url.query
        key = f"{request.method}:{q.get('partNumber') or request.headers.get('Range')}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            return None
        if request.method == "PUT" and q.get("partNumber") == "2":
            return 500
        if request.method == "PUT" and q.get("partNumber") == "3":
            return "drop"
        if request.method == "GET" and request.headers.get("Range", "").startswith("bytes=0-"):
            return 503
        return None

    proxy.fault = fault
    try:
        mark = len(proxy.log)
        r = mybox(config, "upload", str(f), "--threshold", "8M", "--part-size", "5M", "--no-sha256", "--json")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        assert info["status"] == "available"  # nothing declared: available at once
        puts = [(s.part_number, s.status) for s in proxy.log[mark:] if s.method == "PUT"]
        assert (2, 500) in puts and (2, 200) in puts and (3, -1) in puts and (3, 200) in puts

        out = tmp_path / "flaky-copy.bin"
        r = mybox(config, "download", info["id"], "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert _sha256(out) == sha
        gets = [s.status for s in proxy.log[mark:] if s.method == "GET" and (s.range or "").startswith("bytes=0-")]
        assert gets[:2] == [503, 206]
    finally:
        proxy.fault = None


@pytest.fixture(scope="module")
def short_ttl_server(settings, live_server, proxy):
    """Presigned URLs that live 2 seconds; POST /files takes at most 1 MiB."""
    s = _server(settings, live_server, proxy, MYBOX_PRESIGN_TTL_SECONDS="2",
                MYBOX_SMALL_UPLOAD_MAX_BYTES=str(MiB))
    yield s
    s.stop()


async def test_above_the_small_limit_goes_multipart(settings, short_ttl_server, proxy, tmp_path):
    url = short_ttl_server.url
    username, password = f"lim{secrets.token_hex(5)}", "correct-horse-1"
    assert httpx.post(url + "/auth/register", json={"username": username, "password": password}).status_code == 201
    config = tmp_path / "config.json"
    assert mybox(config, "login", url, "-u", username, "-p", password).returncode == 0
    f = tmp_path / "mid.bin"
    sha = _random_file(f, 3 * MiB)
    mark = len(proxy.log)
    r = mybox(config, "upload", str(f), "--json")  # under the CLI's threshold, over the server's limit
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["size"] == 3 * MiB and info["status"] == "verifying"  # multipart, sha256 declared
    assert proxy.part_puts(since=mark) == [1]
    assert await _stored_sha256(settings, info["id"]) == sha


async def test_expired_urls_are_refreshed(short_ttl_server, proxy, tmp_path):
    url = short_ttl_server.url
    username, password = f"ttl{secrets.token_hex(5)}", "correct-horse-1"
    assert httpx.post(url + "/auth/register", json={"username": username, "password": password}).status_code == 201
    f = tmp_path / "late.bin"
    sha = _random_file(f, 12 * MiB)
    with Client.login(url, username, password) as box:
        init = box.init_multipart("late.bin", 12 * MiB, "application/octet-stream", part_size=5 * MiB)
        time.sleep(3)  # every URL in `init` has expired now
        # a client whose clock says they are still good (skew): S3's 403 must make it re-sign
        urls = _UrlCache(box, init.file_id, init.parts, datetime.now(timezone.utc) + timedelta(hours=1))
        mark = len(proxy.log)
        status = Uploader(box, parallel=2)._send_parts(f, "late.bin", init.file_id, 12 * MiB, 5 * MiB,
                                                       [1, 2, 3], urls)
        assert status == "available"
        puts = [(s.part_number, s.status) for s in proxy.log[mark:] if s.method == "PUT"]
        assert sorted(n for n, st in puts if st == 403) == [1, 2, 3]
        assert sorted(n for n, st in puts if st == 200) == [1, 2, 3]

        stale = box.download_url(init.file_id)
        time.sleep(3)
        real, calls = box.download_url, []

        def first_stale(file_id: str):
            calls.append(file_id)
            return stale if len(calls) == 1 else real(file_id)

        box.download_url = first_stale  # type: ignore[method-assign]
        mark = len(proxy.log)
        out = Downloader(box, chunk_size=4 * MiB).download(init.file_id, tmp_path / "late-copy.bin")
        assert _sha256(out) == sha and len(calls) >= 2
        statuses = [s.status for s in proxy.log[mark:] if s.method == "GET"]
        assert 403 in statuses and statuses.count(206) == 3
