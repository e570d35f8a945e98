"""Multipart upload benchmark (issue 4), against the API as a real process on the local stack.

- init-multipart for a 50 GiB file: p50/p99 latency (target p50 < 50 ms);
- part-complete p50/p99 (target p50 < 20 ms, including the S3 ListParts check), and the
  latency of the report that completes an upload;
- end to end: a 2 GiB file through presigned part URLs, 4 parts in flight (init, part-urls,
  PUTs, part-complete), against the same client doing a raw S3 multipart upload with the
  service's keys (miniopy-async, the SDK the service uses), same part size and parallelism:
  throughput ratio (target >= 0.9);
- the expiry sweep over 10,000 expired sessions (each with a real S3 upload): time, sessions/s.
`--quick` shrinks every size (a few seconds) for `make test`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
import httpx

from bench.stack import BenchStack, bench_stack
from service.db import create_pool
from service.storage import Storage, hot_storage
from service.uploads import queries
from service.uploads.partsize import GiB, MiB
from service.uploads.sweep import sweep_expired, sweep_orphans

PARALLEL = 4


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))], 2)


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": round(max(ms), 2)}


def grow_volumes(bucket: str) -> None:
    """Pre-grow SeaweedFS volumes so writes do not stall on volume creation (DESIGN.md)."""
    try:
        httpx.get(f"http://127.0.0.1:9333/vol/grow?collection={bucket}&count=8", timeout=30)
    except httpx.HTTPError:
        pass  # not SeaweedFS, or no master there: nothing to prepare


async def timed(coro) -> tuple[float, object]:
    t = time.perf_counter()
    out = await coro
    return (time.perf_counter() - t) * 1000, out


async def bench_init(api: httpx.AsyncClient, h: dict, n: int) -> dict:
    init_ms, abort_ms = [], []
    for _ in range(n):
        ms, r = await timed(api.post("/files/init-multipart", headers=h,
                                     json={"name": "film.mkv", "size": 50 * GiB, "contentType": "video/x-matroska"}))
        assert r.status_code == 201, r.text
        init_ms.append(ms)
        ms, r = await timed(api.delete(f"/files/{r.json()['fileId']}/upload", headers=h))
        assert r.status_code == 204, r.text
        abort_ms.append(ms)
    return {"init_50gib": summary(init_ms), "abort": summary(abort_ms)}


async def put_parts(s3: aiohttp.ClientSession, urls: dict[int, str], body: bytes, size: int, part_size: int,
                    numbers: list[int]) -> dict[int, str]:
    etags: dict[int, str] = {}
    queue = list(reversed(numbers))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            length = min(part_size, size - (n - 1) * part_size)
            async with s3.put(urls[n], data=body[:length]) as r:
                assert r.status == 200, await r.text()
                etags[n] = r.headers["ETag"]

    await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    return etags


async def bench_part_complete(api: httpx.AsyncClient, s3: aiohttp.ClientSession, h: dict, parts: int,
                              files: int) -> dict:
    body = os.urandom(5 * MiB)
    report_ms, complete_ms = [], []
    for i in range(files):
        count = parts + 1 if i == 0 else 2
        r = await api.post("/files/init-multipart", headers=h,
                           json={"name": "p.bin", "size": count * 5 * MiB, "partSize": 5 * MiB})
        up = r.json()
        urls = {p["partNumber"]: p["url"] for p in up["parts"]}
        etags = await put_parts(s3, urls, body, count * 5 * MiB, 5 * MiB, list(range(1, count + 1)))
        for n in range(1, count + 1):
            ms, r = await timed(api.post(f"/files/{up['fileId']}/part-complete", headers=h,
                                         json={"partNumber": n, "etag": etags[n]}))
            assert r.status_code == 200, r.text
            (complete_ms if n == count else report_ms).append(ms)
        assert r.json()["status"] == "available"
    return {"part_complete": summary(report_ms), "completing_report": summary(complete_ms)}


async def presigned_upload(api: httpx.AsyncClient, s3: aiohttp.ClientSession, h: dict, body: bytes,
                           size: int) -> tuple[float, str]:
    t = time.perf_counter()
    r = await api.post("/files/init-multipart", headers=h, json={"name": "e2e.bin", "size": size})
    up = r.json()
    fid, ps, count = up["fileId"], up["partSize"], up["partCount"]
    urls = {p["partNumber"]: p["url"] for p in up["parts"]}
    if count > len(urls):
        more = await api.post(f"/files/{fid}/part-urls", headers=h,
                              json={"partNumbers": list(range(len(urls) + 1, count + 1))})
        urls.update({p["partNumber"]: p["url"] for p in more.json()["parts"]})
    queue = list(range(count, 0, -1))
    reports: list[asyncio.Task] = []

    async def report(n: int, etag: str) -> str:
        rep = await api.post(f"/files/{fid}/part-complete", headers=h, json={"partNumber": n, "etag": etag})
        assert rep.status_code == 200, rep.text
        return rep.json()["status"]

    async def worker() -> None:
        while queue:
            n = queue.pop()
            length = min(ps, size - (n - 1) * ps)
            async with s3.put(urls[n], data=body[:length]) as resp:
                assert resp.status == 200, await resp.text()
                # report in the background: the next PUT starts at once, as a good client does
                reports.append(asyncio.create_task(report(n, resp.headers["ETag"])))
    await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    statuses = await asyncio.gather(*reports)
    assert "available" in statuses, statuses
    return time.perf_counter() - t, f"objects/{fid}"


async def raw_upload(store: Storage, body: bytes, size: int, part_size: int) -> tuple[float, str]:
    """The same parts straight to S3 with the service's keys (header-signed SDK requests)."""
    from miniopy_async.datatypes import Part

    key = f"bench-raw/{uuid.uuid4()}"
    t = time.perf_counter()
    upload_id = await store.client._create_multipart_upload(store.bucket, key, {"Content-Type": "application/octet-stream"})
    count = -(-size // part_size)
    queue = list(range(count, 0, -1))
    parts: list[Part] = []

    async def worker() -> None:
        while queue:
            n = queue.pop()
            length = min(part_size, size - (n - 1) * part_size)
            etag = await store.client._upload_part(store.bucket, key, body[:length], None, upload_id, n)
            parts.append(Part(n, etag))
    await asyncio.gather(*(worker() for _ in range(PARALLEL)))
    await store.client._complete_multipart_upload(store.bucket, key, upload_id, sorted(parts, key=lambda p: p.part_number))
    return time.perf_counter() - t, key


async def bench_e2e(stack: BenchStack, api: httpx.AsyncClient, s3: aiohttp.ClientSession, store: Storage,
                    h: dict, size: int, rounds: int) -> dict:
    part_size = 16 * MiB
    body = os.urandom(part_size)
    rates: dict[str, list[float]] = {"presigned": [], "raw_s3": []}
    for _ in range(rounds):
        for method in ("raw_s3", "presigned"):
            if method == "raw_s3":
                seconds, key = await raw_upload(store, body, size, part_size)
            else:
                seconds, key = await presigned_upload(api, s3, h, body, size)
            assert (await store.stat(key)).size == size
            await store.remove(key)
            rates[method].append(size / MiB / seconds)
    med = {m: statistics.median(v) for m, v in rates.items()}
    return {"size_mib": size // MiB, "part_size_mib": part_size // MiB, "parallel": PARALLEL, "rounds": rounds,
            "presigned_mib_s": [round(x, 1) for x in rates["presigned"]],
            "raw_s3_mib_s": [round(x, 1) for x in rates["raw_s3"]],
            "ratio_median": round(med["presigned"] / med["raw_s3"], 3)}


async def bench_sweep(stack: BenchStack, api: httpx.AsyncClient, store: Storage, h: dict, n: int) -> dict:
    user_id = uuid.UUID((await api.get("/me", headers=h)).json()["id"])
    pool = await create_pool(stack.settings.database_url, min_size=1, max_size=4)
    try:
        sem = asyncio.Semaphore(16)
        past = datetime.now(timezone.utc) - timedelta(minutes=1)
        ids: list[uuid.UUID] = []

        async def one() -> None:
            fid = uuid.uuid4()
            async with sem:
                upload_id = await store.create_multipart(f"objects/{fid}", "application/octet-stream")
            async with pool.acquire() as conn:
                await queries.insert_upload(conn, file_id=fid, user_id=user_id, name="x", size=20 * MiB,
                                            content_type="application/octet-stream", object_key=f"objects/{fid}",
                                            declared_sha256=None, upload_id=upload_id, part_size=16 * MiB,
                                            part_count=2, expires_at=past)
            ids.append(fid)

        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        setup = time.perf_counter() - t
        t = time.perf_counter()
        swept, failed = await sweep_expired(pool, store)
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        orphans = await sweep_orphans(pool, store, ttl_seconds=stack.settings.upload_ttl_seconds)
        orphan_seconds = time.perf_counter() - t
        left = [u async for u in store.list_multipart_uploads("objects/")]
        async with pool.acquire() as conn:
            aborted = await conn.fetchval("SELECT count(*) FROM files WHERE id = any($1::uuid[]) AND status = 'aborted'", ids)
        assert swept == n and failed == 0 and aborted == n and not left, (swept, failed, aborted, len(left))
        return {"sessions": n, "setup_seconds": round(setup, 2), "sweep_seconds": round(seconds, 2),
                "sessions_per_s": round(n / seconds, 1), "orphan_pass_seconds": round(orphan_seconds, 3),
                "orphans": orphans}
    finally:
        await pool.close()


async def run(quick: bool) -> dict:
    async with bench_stack() as stack:
        grow_volumes(stack.settings.s3_bucket)
        store = hot_storage(stack.settings)
        await store.ensure_bucket()
        try:
            async with httpx.AsyncClient(base_url=stack.url, timeout=120) as api, \
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s3:
                h = await stack.user(api)
                await bench_init(api, h, 5)  # warm-up
                out: dict = {}
                out.update(await bench_init(api, h, 20 if quick else 300))
                out.update(await bench_part_complete(api, s3, h, parts=8 if quick else 99, files=2 if quick else 10))
                out["e2e"] = await bench_e2e(stack, api, s3, store, h, 48 * MiB if quick else 2 * GiB,
                                             rounds=1 if quick else 3)
                out["sweep"] = await bench_sweep(stack, api, store, h, 100 if quick else 10_000)
                out["api_rss_mib"] = round(stack.rss() / MiB, 1)
        finally:
            await store.close()
    out["targets"] = {"init_p50_lt_50ms": out["init_50gib"]["p50_ms"] < 50,
                      "part_complete_p50_lt_20ms": out["part_complete"]["p50_ms"] < 20,
                      "e2e_ratio_ge_0.9": out["e2e"]["ratio_median"] >= 0.9}
    return out
