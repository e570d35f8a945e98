"""Tiering: move idle files to the cold tier and back, with no moment where the only copy is
at risk. Each move is: copy (server-side when both tiers share an endpoint, streamed
otherwise) -> verify the copy (size and SHA-256) -> switch the row's tier in one transaction ->
delete the old copy once no presigned URL handed out for it can still be in use. A crash or S3
error between any two steps leaves the file downloadable, and the next run finishes or cleans up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import msgspec

from service.db import Tx
from service.errors import Conflict
from service.files.schemas import FileRow
from service.files.service import owned
from service.storage import Storage
from service.tiering import queries as q

log = logging.getLogger("mybox.tiering")


class CopyMismatch(Exception):
    """The copy in the target tier does not match the source (size or SHA-256)."""


@dataclass
class Tiers:
    hot: Storage
    cold: Storage
    archive: bool = False  # cold tier needs a restore before reads (like Glacier Flexible Retrieval)

    def storage(self, tier: str) -> Storage:
        return self.cold if tier == "cold" else self.hot


@dataclass
class RunReport:
    moved: int = 0
    moved_bytes: int = 0
    skipped: int = 0
    failed: int = 0
    stale_dropped: int = 0
    restores_requeued: list[UUID] = field(default_factory=list)


async def sha256_of(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in storage.iter_range(key):
        digest.update(chunk)
    return digest.hexdigest()


async def copy_verified(dst: Storage, src: Storage, key: str, size: int, sha256: str | None) -> None:
    await dst.copy_from(key, src, key)
    st = await dst.stat(key)
    problem = None
    if st.size != size:
        problem = f"size {st.size} != {size}"
    elif sha256 and (got := await sha256_of(dst, key)) != sha256:
        problem = f"sha256 {got} != {sha256}"
    if problem:
        await dst.remove(key)
        raise CopyMismatch(f"copy of {key} to {dst.bucket} is wrong: {problem}")


async def move_to_cold(pool: asyncpg.Pool, tiers: Tiers, file_id: UUID, *, drop_old: bool = True) -> bool:
    """Move one file; False when it was busy, changed or no longer a candidate."""
    async with pool.acquire() as lock_conn:
        if not await q.try_lock_file(lock_conn, file_id):
            return False
        try:
            row = await q.file_for_move(lock_conn, file_id)
            if row is None or row["status"] != "available" or row["tier"] != "hot" or row["stale_tier"]:
                return False
            key = row["object_key"]
            await copy_verified(tiers.cold, tiers.hot, key, row["size"], row["sha256"])
            # one connection per move (the lock's): a pool never deadlocks on parallel moves
            async with lock_conn.transaction():
                switched = await q.switch_to_cold(lock_conn, file_id)
            if not switched:  # deleted or changed while copying: the copy is not needed
                await tiers.cold.remove(key)
                return False
            log.info("moved %s (%d bytes) to the cold tier", file_id, row["size"])
            if drop_old:
                await drop_stale_copy(lock_conn, tiers, file_id, key, "hot")
            return True
        finally:
            await q.unlock_file(lock_conn, file_id)


async def restore_to_hot(pool: asyncpg.Pool, tiers: Tiers, file_id: UUID) -> bool:
    """Bring an archived (or cold) file back to the hot tier; it becomes available there."""
    async with pool.acquire() as lock_conn:
        if not await q.try_lock_file(lock_conn, file_id):
            return False
        try:
            row = await q.file_for_move(lock_conn, file_id)
            if row is None or row["tier"] != "cold" or row["status"] not in ("restoring", "available"):
                return False
            key = row["object_key"]
            await copy_verified(tiers.hot, tiers.cold, key, row["size"], row["sha256"])
            async with lock_conn.transaction():
                switched = await q.switch_to_hot(lock_conn, file_id)
            if not switched:
                await tiers.hot.remove(key)
                return False
            log.info("restored %s to the hot tier", file_id)
            return True
        finally:
            await q.unlock_file(lock_conn, file_id)


async def drop_stale_copy(conn: asyncpg.Connection, tiers: Tiers, file_id: UUID, key: str, stale_tier: str) -> None:
    await tiers.storage(stale_tier).remove(key)
    await q.clear_stale(conn, file_id, stale_tier)


async def drop_stale_copies(pool: asyncpg.Pool, tiers: Tiers, *, grace_seconds: int, limit: int = 500) -> int:
    """Delete copies left in the old tier by earlier moves (crash, or presigned-URL grace)."""
    dropped = 0
    async with pool.acquire() as conn:
        rows = await q.stale_copies(conn, grace_seconds, limit)
        for r in rows:
            try:
                await drop_stale_copy(conn, tiers, r["id"], r["object_key"], r["stale_tier"])
                dropped += 1
            except Exception:
                log.warning("could not drop the stale %s copy of %s; next run retries", r["stale_tier"], r["id"],
                            exc_info=True)
    return dropped


async def run_tiering(pool: asyncpg.Pool, tiers: Tiers, *, idle_seconds: int, batch: int = 100,
                      grace_seconds: int = 0, restore_grace_seconds: int = 300, parallel: int = 4) -> RunReport:
    """One bounded tiering pass (the cron job): old copies first, then a batch of moves."""
    report = RunReport()
    report.stale_dropped = await drop_stale_copies(pool, tiers, grace_seconds=grace_seconds)
    async with pool.acquire() as conn:
        candidates = await q.cold_candidates(conn, idle_seconds, batch)
        report.restores_requeued = await q.stuck_restores(conn, restore_grace_seconds, batch)
    sem = asyncio.Semaphore(parallel)

    async def one(row: asyncpg.Record) -> None:
        async with sem:
            try:
                # the old hot copy stays until presigned URLs for it have expired (grace)
                if await move_to_cold(pool, tiers, row["id"], drop_old=grace_seconds <= 0):
                    report.moved += 1
                    report.moved_bytes += row["size"]
                else:
                    report.skipped += 1
            except Exception:
                report.failed += 1
                log.warning("tiering of %s failed; the file stays hot and the next run retries", row["id"],
                            exc_info=True)

    await asyncio.gather(*(one(r) for r in candidates))
    return report


async def request_restore(tx: Tx, user_id: UUID, raw_id: str, *, archive: bool) -> FileRow:
    """POST /files/{id}/restore: an archived file becomes 'restoring' (idempotent); 409 otherwise."""
    row = await owned(tx, user_id, raw_id, for_update=True)
    if row.status == "restoring":
        return row
    if not archive or row.tier != "cold" or row.status != "available":
        where = "an archive cold tier" if archive else "the instant-access cold tier"
        raise Conflict(f"nothing to restore: the file is {row.status} in the {row.tier} tier"
                       f" ({where if row.tier == 'cold' else 'it is hot'}); download it directly",
                       code="not_archived")
    await q.mark_restoring(tx.conn, row.id)
    return msgspec.structs.replace(row, status="restoring")
