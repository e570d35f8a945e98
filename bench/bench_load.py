"""Mixed load (issue 9): concurrent clients doing small uploads, multipart uploads (presigned
parts, declared sha256), listings and ranged downloads for a fixed time against the API as a
real process plus a real worker (thumbnails, checksums), on the loopback interface only.

Bounded: `clients` x `seconds`, at most MAX_FILES_PER_CLIENT uploads per client. Reported:
latency p50/p99 per endpoint, every status seen (zero 5xx expected), the RSS of the API and of
the worker sampled every half second (start, end, max: flat), how long the worker took to drain
its queue afterwards, and the check that every stored file's bytes hash to the sha256 the
client sent (and the row holds). `--quick`: 10 clients for 10 s (the form `make test` runs).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil

from bench.stack import BenchStack, bench_stack
from bench.bench_uploads import grow_volumes
from service.storage import ObjectMissing, hot_storage
from tests import images
from tests.conftest import settings_env
from tests.services import ROOT

PART = 5 * 1024 * 1024
MAX_FILES_PER_CLIENT = 200
USERS = 10
# operation weights: reads dominate, as in a file store's day
WEIGHTS = {"small_upload": 25, "image_upload": 5, "multipart_upload": 3, "list": 30, "ranged_download": 37}


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Stored:
    file_id: str
    seed: int  # bytes = blob(seed, size), or an image (seed < 0: IMAGES[-seed - 1])
    size: int
    sha256: str
    multipart: bool = False


@dataclass
class Load:
    stack: BenchStack
    users: list[dict[str, str]]
    deadline: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    stored: dict[str, Stored] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    async def call(self, label: str, coro) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            r = await coro
        except httpx.HTTPError as exc:
            self.statuses[label]["transport-error"] += 1
            self.errors.append(f"{label}: {exc!r}")
            return None
        self.latencies[label].append((time.perf_counter() - started) * 1000)
        self.statuses[label][r.status_code] += 1
        if r.status_code >= 500:
            self.errors.append(f"{label}: {r.status_code} {r.text[:200]}")
        return r


IMAGES: list[bytes] = []


def _images() -> list[bytes]:
    if not IMAGES:
        IMAGES.extend(images.encode(images.photo(w, h), "jpeg") for w, h in ((640, 480), (800, 600), (1024, 768)))
    return IMAGES


def _bytes_of(s: Stored) -> bytes:
    return _images()[-s.seed - 1] if s.seed < 0 else blob(s.seed, s.size)


async def _small(load: Load, api: httpx.AsyncClient, h: dict, rng: random.Random, mine: list[Stored],
                 image: bool) -> None:
    if image:
        index = rng.randrange(3)
        data, seed, name, ctype = _images()[index], -index - 1, f"photo-{rng.randrange(10**6)}.jpg", "image/jpeg"
    else:
        seed, size = rng.randrange(2**62), rng.choice((512, 4096, 65_536, 262_144))
        data, name, ctype = blob(seed, size), f"doc-{seed % 10**6}.bin", "application/octet-stream"
    digest = hashlib.sha256(data).hexdigest()
    files = {"file": (name, data, ctype)}
    r = await load.call("POST /files", api.post("/files", headers=h, files=files, data={"sha256": digest}))
    if r is not None and r.status_code == 201:
        s = Stored(r.json()["id"], seed, len(data), digest)
        mine.append(s)
        load.stored[s.file_id] = s


async def _multipart(load: Load, api: httpx.AsyncClient, s3: httpx.AsyncClient, h: dict, rng: random.Random,
                     mine: list[Stored]) -> None:
    seed, size = rng.randrange(2**62), PART + rng.randrange(1, 256 * 1024)
    data = blob(seed, size)
    digest = hashlib.sha256(data).hexdigest()
    r = await load.call("POST /files/init-multipart", api.post(
        "/files/init-multipart", headers=h, json={"name": f"big-{seed % 10**6}.bin", "size": size,
                                                  "partSize": PART, "sha256": digest}))
    if r is None or r.status_code != 201:
        return
    up = r.json()
    status = None
    for p in up["parts"]:
        n = p["partNumber"]
        put = await load.call("PUT part (S3, presigned)", s3.put(p["url"], content=data[(n - 1) * PART:n * PART]))
        if put is None or put.status_code != 200:
            return
        done = await load.call("POST /files/{id}/part-complete", api.post(
            f"/files/{up['fileId']}/part-complete", headers=h, json={"partNumber": n, "etag": put.headers["etag"]}))
        if done is None or done.status_code != 200:
            return
        status = done.json()["status"]
    if status in ("verifying", "available"):
        s = Stored(up["fileId"], seed, size, digest, multipart=True)
        mine.append(s)
        load.stored[s.file_id] = s


async def _list(load: Load, api: httpx.AsyncClient, h: dict, rng: random.Random) -> None:
    if rng.random() < 0.2:
        await load.call("GET /files?page (offset)", api.get("/files", headers=h, params={"page": 1, "pageSize": 50}))
        return
    r = await load.call("GET /files (cursor)", api.get("/files", headers=h, params={"pageSize": 50}))
    if r is not None and r.status_code == 200 and r.json()["nextCursor"]:
        await load.call("GET /files (cursor)", api.get("/files", headers=h, params={
            "pageSize": 50, "cursor": r.json()["nextCursor"]}))


async def _ranged(load: Load, api: httpx.AsyncClient, h: dict, rng: random.Random, mine: list[Stored]) -> None:
    if not mine:
        return
    s = rng.choice(mine)
    start = rng.randrange(s.size)
    end = min(s.size - 1, start + rng.choice((1, 1024, 65_535, 1 << 20)))
    r = await load.call("GET /files/{id} (Range)", api.get(f"/files/{s.file_id}", headers={
        **h, "Range": f"bytes={start}-{end}"}))
    if r is not None and r.status_code == 206 and r.content != _bytes_of(s)[start:end + 1]:
        load.mismatches.append(f"{s.file_id} bytes {start}-{end}")


async def client(load: Load, index: int) -> None:
    rng = random.Random(index)
    h = load.users[index % len(load.users)]
    mine: list[Stored] = []
    ops, weights = list(WEIGHTS), list(WEIGHTS.values())
    async with httpx.AsyncClient(base_url=load.stack.url, timeout=60) as api, httpx.AsyncClient(timeout=60) as s3:
        while time.monotonic() < load.deadline:
            op = rng.choices(ops, weights)[0]
            if op.endswith("upload") and len(mine) >= MAX_FILES_PER_CLIENT:
                op = "ranged_download"
            if op == "small_upload":
                await _small(load, api, h, rng, mine, image=False)
            elif op == "image_upload":
                await _small(load, api, h, rng, mine, image=True)
            elif op == "multipart_upload":
                await _multipart(load, api, s3, h, rng, mine)
            elif op == "list":
                await _list(load, api, h, rng)
            else:
                await _ranged(load, api, h, rng, mine)


class RssSampler:
    def __init__(self, **procs: psutil.Process) -> None:
        self.procs = procs
        self.samples: dict[str, list[float]] = {name: [] for name in procs}
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            for name, proc in self.procs.items():
                try:
                    self.samples[name].append(proc.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> dict:
        assert self.task is not None
        self.task.cancel()
        out = {}
        for name, values in self.samples.items():
            fifth = max(1, len(values) // 5)
            first, last = statistics.median(values[:fifth]), statistics.median(values[-fifth:])
            out[name] = {"samples": len(values), "start_mib": round(first, 1), "end_mib": round(last, 1),
                         "max_mib": round(max(values), 1), "growth_mib": round(last - first, 1),
                         "every_5s_mib": [round(v) for v in values[::10]]}
        return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))], 1)


async def _drain(pool: asyncpg.Pool, ids: list[uuid.UUID], timeout: float) -> float:
    """Wait until the worker has verified every multipart file and given every file its
    thumbnail outcome; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = await pool.fetchval(
            "SELECT count(*) FROM files WHERE id = any($1::uuid[]) AND (status = 'verifying' OR sha256 IS NULL"
            " OR (status = 'available' AND thumbnail_state IS NULL))", ids)
        if pending == 0:
            return round(time.monotonic() - started, 1)
        await asyncio.sleep(0.5)
    raise AssertionError(f"the worker did not drain its queue within {timeout} s ({pending} files pending)")


async def _verify_all(stack: BenchStack, pool: asyncpg.Pool, load: Load) -> dict:
    """Every stored file: the row is `available`, and its object's bytes hash to the sha256 the
    client sent and the row holds."""
    rows = await pool.fetch("SELECT id, status, size, sha256, object_key, thumbnail_state FROM files"
                            " WHERE id = any($1::uuid[])", [uuid.UUID(i) for i in load.stored])
    by_id = {str(r["id"]): r for r in rows}
    store = hot_storage(stack.settings)
    problems: list[str] = []
    sem = asyncio.Semaphore(16)

    async def check(s: Stored) -> None:
        row = by_id.get(s.file_id)
        if row is None or row["status"] != "available" or row["sha256"] != s.sha256 or row["size"] != s.size:
            problems.append(f"{s.file_id}: row {dict(row) if row else None}")
            return
        digest = hashlib.sha256()
        async with sem:
            try:
                async for chunk in store.iter_range(row["object_key"]):
                    digest.update(chunk)
            except ObjectMissing:
                problems.append(f"{s.file_id}: object missing")
                return
        if digest.hexdigest() != s.sha256:
            problems.append(f"{s.file_id}: stored bytes hash to {digest.hexdigest()}")

    try:
        await asyncio.gather(*(check(s) for s in load.stored.values()))
    finally:
        await store.close()
    thumbs = Counter(r["thumbnail_state"] for r in rows)
    return {"files": len(load.stored), "verified": len(load.stored) - len(problems), "problems": problems[:20],
            "multipart_files": sum(s.multipart for s in load.stored.values()),
            "bytes": sum(s.size for s in load.stored.values()), "thumbnail_states": dict(thumbs)}


def _start_worker(stack: BenchStack, log: Path) -> subprocess.Popen:
    env = {**os.environ, **settings_env(stack.settings), "MYBOX_LOG_LEVEL": "WARNING"}
    out = open(log, "wb")
    return subprocess.Popen([str(Path(sys.executable).parent / "arq"), "worker.main.WorkerSettings"], cwd=ROOT,
                            env=env, stdout=out, stderr=subprocess.STDOUT)


async def run(quick: bool = False, *, clients: int | None = None, seconds: float | None = None) -> dict:
    clients = clients or (10 if quick else 50)
    seconds = seconds or (10 if quick else 60)
    _images()
    async with bench_stack() as stack:
        grow_volumes(stack.settings.s3_bucket)
        logdir = ROOT / ".state" if (ROOT / ".state").is_dir() else Path("/tmp")
        worker = _start_worker(stack, logdir / f"bench-load-worker-{stack.server.port}.log")
        pool = await asyncpg.create_pool(stack.settings.database_url, min_size=1, max_size=4)
        try:
            async with httpx.AsyncClient(timeout=60) as setup:
                users = [await stack.user(setup) for _ in range(USERS)]
            sampler = RssSampler(api=stack.proc, worker=psutil.Process(worker.pid))
            sampler.start()
            load = Load(stack, users, time.monotonic() + seconds)
            started = time.monotonic()
            await asyncio.gather(*(client(load, i) for i in range(clients)))
            elapsed = time.monotonic() - started
            drain = await _drain(pool, [uuid.UUID(i) for i in load.stored], 120 if quick else 600)
            memory = await sampler.stop()
            assert worker.poll() is None, "the worker died during the run"
            stored = await _verify_all(stack, pool, load)
        finally:
            await pool.close()
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    requests = sum(len(v) for v in load.latencies.values())
    server_errors = sum(n for c in load.statuses.values() for s, n in c.items() if s == "transport-error" or s >= 500)
    return {
        "clients": clients, "duration_s": round(elapsed, 1), "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "endpoints": {label: {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": round(max(ms), 1),
                              "statuses": {str(k): v for k, v in sorted(load.statuses[label].items(), key=str)}}
                      for label, ms in sorted(load.latencies.items())},
        "server_errors": server_errors, "errors": load.errors[:20], "range_mismatches": load.mismatches[:20],
        "worker_drain_s": drain, "stored": stored, "rss": memory,
    }
