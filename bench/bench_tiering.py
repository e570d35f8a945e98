"""Tiering throughput: 1,000 small files and one 2 GiB file moved to the cold tier (copy,
verify size + SHA-256, switch, delete hot), against a raw S3 copy of the same objects.
Quick form: 50 small files and one 32 MiB file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid

import asyncpg

from bench.stack import bench_stack
from service.storage import cold_storage, hot_storage
from service.tiering.service import Tiers, run_tiering

MiB = 1024 * 1024


async def _put_random(storage, key: str, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(4 * MiB)

    async def chunks():
        left = size
        while left:
            n = min(left, len(block))
            digest.update(block[:n])
            yield block[:n]
            left -= n

    await storage.put_stream(key, chunks(), content_type="application/octet-stream")
    return digest.hexdigest()


async def _seed(pool, tiers: Tiers, user_id, sizes: list[int]) -> list[tuple[uuid.UUID, str, int]]:
    out = []
    sem = asyncio.Semaphore(8)

    async def one(size: int):
        fid = uuid.uuid4()
        key = f"objects/{fid}"
        async with sem:
            sha = await _put_random(tiers.hot, key, size)
        out.append((fid, key, size, sha))

    await asyncio.gather(*(one(s) for s in sizes))
    await pool.executemany(
        "INSERT INTO files (id, user_id, name, size, content_type, status, tier, object_key, sha256, created_at,"
        " uploaded_at) VALUES ($1, $2, $3, $4, 'application/octet-stream', 'available', 'hot', $5, $6,"
        " now() - interval '60 days', now() - interval '60 days')",
        [(fid, user_id, f"{fid}.bin", size, key, sha) for fid, key, size, sha in out])
    return [(fid, key, size) for fid, key, size, _ in out]


async def _raw_copy(tiers: Tiers, keys: list[str], parallel: int = 1) -> float:
    sem = asyncio.Semaphore(parallel)

    async def one(k: str):
        async with sem:
            await tiers.cold.copy_from("rawcopy/" + k, tiers.hot, k)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in keys))
    elapsed = time.perf_counter() - t0
    for k in keys:
        await tiers.cold.remove("rawcopy/" + k)
    return elapsed


async def _case(pool, tiers, user_id, label: str, sizes: list[int]) -> dict:
    files = await _seed(pool, tiers, user_id, sizes)
    total = sum(sizes)
    raw = await _raw_copy(tiers, [k for _, k, _ in files], parallel=4)  # same parallelism as tiering
    t0 = time.perf_counter()
    moved = 0
    while True:  # bounded batches, as the cron runs them
        report = await run_tiering(pool, tiers, idle_seconds=86400, batch=200)
        moved += report.moved
        if report.moved == 0:
            break
    elapsed = time.perf_counter() - t0
    assert moved == len(files), (moved, len(files))
    return {
        "case": label, "files": len(files), "bytes": total,
        "tiering_seconds": round(elapsed, 3),
        "tiering_files_per_s": round(len(files) / elapsed, 3),
        "tiering_MiB_per_s": round(total / MiB / elapsed, 1),
        "raw_copy_seconds": round(raw, 3),
        "raw_copy_MiB_per_s": round(total / MiB / raw, 1),
        "tiering_vs_raw_copy": round(raw / elapsed, 3),
    }


async def run(quick: bool) -> dict:
    small_n, small_size = (50, 16 * 1024) if quick else (1000, 16 * 1024)
    big = 32 * MiB if quick else 2048 * MiB
    async with bench_stack() as stack:
        s = stack.settings
        tiers = Tiers(hot=hot_storage(s), cold=cold_storage(s))
        pool = await asyncpg.create_pool(s.database_url, min_size=1, max_size=4)
        try:
            user_id = uuid.uuid4()
            await pool.execute("INSERT INTO users (id, username, password_hash) VALUES ($1, $2, 'x')",
                               user_id, f"tier{user_id.hex[:8]}")
            cases = [await _case(pool, tiers, user_id, f"{small_n} x {small_size // 1024} KiB", [small_size] * small_n),
                     await _case(pool, tiers, user_id, f"1 x {big // MiB} MiB", [big])]
        finally:
            await pool.close()
            await tiers.hot.close()
            await tiers.cold.close()
    return {"note": "tiering = copy + verify (size, SHA-256 re-read) + switch + delete; raw = server-side copy only",
            "cases": cases}
