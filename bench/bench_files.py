"""Files benchmark, side by side in one run on the local stack:

- download of a large file through GET /files/{id} vs a direct (presigned) S3 GET of the same
  object with the same client (aiohttp): throughput ratio, target >= 0.8 (rounds alternate the
  two paths; "ratio" compares the best round of each, see ratios());
- upload through POST /files vs a direct presigned S3 PUT of the same bytes: ratio, target >= 0.7;
- peak RSS growth of the API process during those transfers, target < 64 MiB;
- GET /files?pageSize=50 with many files for one user: p50/p99 of the first page, a deep cursor
  page, a deep offset page (and the first offset page, which also counts the total).

Full: 1 GiB download, 100 MiB upload, 100,000 files. Quick (--quick, and in make test): small sizes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import httpx

from bench.stack import BenchStack, bench_stack
from service.files.cursor import encode_cursor
from service.storage import Storage, hot_storage

MiB = 1024 * 1024
BLOCK = 16 * MiB
CHUNK = 1 * MiB
BOUNDARY = "benchBoundary7d41"


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.download = 32 * MiB if quick else 1024 * MiB
        self.upload = 16 * MiB if quick else 100 * MiB
        self.rounds = 2 if quick else 5
        self.files = 2_000 if quick else 100_000
        self.requests = 20 if quick else 200


_block: bytes | None = None


def block() -> bytes:
    global _block
    if _block is None:
        _block = os.urandom(BLOCK)
    return _block


def expected_sha256(total: int) -> str:
    digest = hashlib.sha256()
    data = memoryview(block())
    left = total
    while left:
        n = min(left, BLOCK)
        digest.update(data[:n])
        left -= n
    return digest.hexdigest()


async def payload(total: int) -> AsyncIterator[bytes]:
    """`total` bytes: a random 16 MiB block repeated, in 1 MiB chunks (no big buffer in the client)."""
    data = memoryview(block())
    sent = 0
    while sent < total:
        offset = sent % BLOCK
        n = min(CHUNK, total - sent, BLOCK - offset)
        yield bytes(data[offset:offset + n])
        sent += n


def multipart_parts(name: str) -> tuple[bytes, bytes]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


async def multipart_body(name: str, total: int) -> AsyncIterator[bytes]:
    head, tail = multipart_parts(name)
    yield head
    async for chunk in payload(total):
        yield chunk
    yield tail


class RssPeak:
    """Samples the API process's RSS every 20 ms while transfers run."""

    def __init__(self, stack: BenchStack) -> None:
        self.stack = stack
        self.peak = 0
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.stack.rss())
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> "RssPeak":
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.stack.rss())


async def timed_get(session: aiohttp.ClientSession, url: str, headers: dict, *, verify: bool) -> tuple[int, float, str]:
    digest = hashlib.sha256() if verify else None
    received = 0
    started = time.perf_counter()
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 200, (resp.status, await resp.text())
        async for chunk in resp.content.iter_any():
            received += len(chunk)
            if digest:
                digest.update(chunk)
    return received, time.perf_counter() - started, digest.hexdigest() if digest else ""


async def api_upload(session: aiohttp.ClientSession, url: str, headers: dict, name: str, total: int) -> tuple[dict, float]:
    head, tail = multipart_parts(name)
    length = len(head) + total + len(tail)
    started = time.perf_counter()
    async with session.post(f"{url}/files", data=multipart_body(name, total),
                            headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                                     "Content-Length": str(length)}) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    return body, time.perf_counter() - started


async def direct_put(session: aiohttp.ClientSession, url: str, total: int) -> float:
    started = time.perf_counter()
    async with session.put(url, data=payload(total), headers={"Content-Length": str(total)}) as resp:
        assert resp.status == 200, await resp.text()
    return time.perf_counter() - started


def mib_s(size: int, seconds: float) -> float:
    return round(size / MiB / seconds, 1)


def ratios(api: list[float], direct: list[float]) -> dict:
    """API vs direct S3. Other processes share this machine, so besides the ratio of medians we
    give the ratio of the best rounds (the headline: each path at its least disturbed) and the
    median of the per-round ratios (the two runs of one round are back to back)."""
    return {"ratio": round(max(api) / max(direct), 3),
            "ratio_median": round(statistics.median(api) / statistics.median(direct), 3),
            "ratio_per_round_median": round(statistics.median(a / d for a, d in zip(api, direct)), 3)}


async def grow_volumes(endpoint: str, bucket: str) -> None:
    """Pre-grow SeaweedFS volumes for the bench bucket (a write otherwise stalls when one fills)."""
    host = urlsplit(endpoint).hostname or "127.0.0.1"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://{host}:9333/vol/grow?collection={bucket}&count=8",
                             timeout=aiohttp.ClientTimeout(total=30)) as r:
                await r.read()
    except Exception:
        pass  # not SeaweedFS (MinIO), or no master there: nothing to grow


async def transfers(stack: BenchStack, session: aiohttp.ClientSession, headers: dict, sizes: Sizes,
                    storage: Storage) -> dict:
    url = stack.url
    # warm up the API (imports, pools, buffers) before taking the RSS baseline
    warm, _ = await api_upload(session, url, headers, "warm.bin", 2 * MiB)
    await timed_get(session, f"{url}/files/{warm['id']}", headers, verify=False)
    baseline = stack.rss()
    async with RssPeak(stack) as rss:
        big, big_seconds = await api_upload(session, url, headers, "big.bin", sizes.download)
        assert big["sha256"] == expected_sha256(sizes.download), "stored bytes differ from what was sent"
        direct_url = await storage.presign_get(f"objects/{big['id']}", timedelta(hours=1))
        api_url = f"{url}/files/{big['id']}"
        # correctness first (untimed, hashed), then timed rounds alternating API and direct
        n, _, digest = await timed_get(session, api_url, headers, verify=True)
        assert n == sizes.download and digest == big["sha256"], "downloaded bytes differ"
        api_dl, direct_dl = [], []
        for _ in range(sizes.rounds):
            n, seconds, _ = await timed_get(session, api_url, headers, verify=False)
            assert n == sizes.download
            api_dl.append(mib_s(n, seconds))
            n, seconds, _ = await timed_get(session, direct_url, {}, verify=False)
            assert n == sizes.download
            direct_dl.append(mib_s(n, seconds))
        api_ul, direct_ul = [], []
        for i in range(sizes.rounds):
            info, seconds = await api_upload(session, url, headers, f"up-{i}.bin", sizes.upload)
            assert info["size"] == sizes.upload
            api_ul.append(mib_s(sizes.upload, seconds))
            put_url = await storage.signer.presigned_put_object(storage.bucket, f"bench/direct-{i}",
                                                                 timedelta(hours=1))
            direct_ul.append(mib_s(sizes.upload, await direct_put(session, put_url, sizes.upload)))
    return {
        "download": {"bytes": sizes.download, "api_mib_s": api_dl, "direct_s3_mib_s": direct_dl,
                     **ratios(api_dl, direct_dl), "target": 0.8},
        "upload": {"bytes": sizes.upload, "api_mib_s": api_ul, "direct_s3_mib_s": direct_ul,
                   **ratios(api_ul, direct_ul), "target": 0.7,
                   "large_upload_through_api_mib_s": mib_s(sizes.download, big_seconds)},
        "api_rss": {"baseline_mib": round(baseline / MiB, 1), "peak_mib": round(rss.peak / MiB, 1),
                    "growth_mib": round((rss.peak - baseline) / MiB, 1), "target_growth_mib": 64},
    }


async def new_user(stack: BenchStack) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        return await stack.user(client)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


async def listing(stack: BenchStack, session: aiohttp.ClientSession, sizes: Sizes) -> dict:
    headers = await new_user(stack)
    async with session.get(f"{stack.url}/me", headers=headers) as r:
        user_id = uuid.UUID((await r.json())["id"])
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        base = datetime.now(timezone.utc)
        records = []
        for i in range(sizes.files):
            fid = uuid.uuid4()
            records.append((fid, user_id, f"file-{i:06d}.jpg", 1000 + i, "image/jpeg", "available",
                            f"objects/{fid}", "0" * 64, base - timedelta(milliseconds=i), base))
        await conn.copy_records_to_table("files", records=records, columns=[
            "id", "user_id", "name", "size", "content_type", "status", "object_key", "sha256", "created_at",
            "uploaded_at"])
        await conn.execute("ANALYZE files")
        deep = sizes.files - 1000  # a page near the end of the listing
        row = await conn.fetchrow("SELECT created_at, id FROM files WHERE user_id = $1"
                                  " ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1", user_id, deep - 1)
    finally:
        await conn.close()
    cases = {
        "first_page_cursor": "/files?pageSize=50",
        "deep_cursor_page": f"/files?pageSize=50&cursor={encode_cursor(row['created_at'], row['id'])}",
        "first_page_offset_with_total": "/files?page=1&pageSize=50",
        "deep_offset_page": f"/files?page={deep // 50 + 1}&pageSize=50",
    }
    out: dict = {"files": sizes.files, "requests_per_case": sizes.requests, "deep_position": deep}
    for name, path in cases.items():
        times = []
        for i in range(sizes.requests + 5):
            started = time.perf_counter()
            async with session.get(stack.url + path, headers=headers) as resp:
                body = await resp.json()
                assert resp.status == 200 and len(body["items"]) == 50, body
            if i >= 5:  # the first few warm the connection and plans
                times.append((time.perf_counter() - started) * 1000)
        out[name] = {"p50_ms": _pct(times, 0.5), "p99_ms": _pct(times, 0.99), "max_ms": round(max(times), 2)}
    out["cursor_p99_target_ms"] = 20
    return out


async def run(quick: bool = False) -> dict:
    sizes = Sizes(quick)
    load_before = os.getloadavg()[0]
    limit = str(max(sizes.download, sizes.upload) + MiB)
    async with bench_stack(MYBOX_SMALL_UPLOAD_MAX_BYTES=limit) as stack:
        await grow_volumes(stack.settings.s3_endpoint, stack.settings.s3_bucket)
        storage = hot_storage(stack.settings)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                headers = await new_user(stack)
                result = await transfers(stack, session, headers, sizes, storage)
                result["listing"] = await listing(stack, session, sizes)
        finally:
            await storage.close()
    result["machine"] = {"cpus": os.cpu_count(), "load_avg_1m_before": round(load_before, 2),
                         "load_avg_1m_after": round(os.getloadavg()[0], 2),
                         "note": "API, S3 server and the client share this machine (and other test runs may too)"}
    return result
