"""The `verify_checksum(file_id)` job: stream the stored object from S3, compute its SHA-256 and
store it. Every file ends up with its checksum this way (multipart uploads never pass through the
service). When the client declared a checksum (status `verifying`):
- it matches -> `available`, and the thumbnail job is enqueued;
- it differs (or the stored size differs from the agreed size) -> `corrupt`: never served again,
  and the object is removed (purged_at set; reconciliation retries a removal that failed).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

from service.storage import ObjectMissing, Storage
from worker import queries
from worker.common import TRANSIENT, enqueue_job, parse_file_id, retry_later, storage_for
from worker.purge import remove_objects

log = logging.getLogger("mybox.worker.verify")


async def verify_checksum(ctx: dict, file_id: str) -> str:
    fid = parse_file_id(file_id)
    if fid is None:
        return "skipped: malformed id"
    pool = ctx["pool"]
    try:
        row = await queries.file_row(pool, fid)
        if row is None or row.status not in ("available", "verifying"):
            return f"skipped: {'no such file' if row is None else row.status}"
        if row.sha256 and row.status == "available":
            return "already verified"
        if await queries.start_verify_attempt(pool, fid) is None:
            return "skipped: no longer verifiable"
    except TRANSIENT as exc:
        raise retry_later(ctx, exc) from exc

    try:
        size, digest = await hash_object(storage_for(ctx, row.tier), row.object_key)
    except ObjectMissing:
        return await _corrupt(ctx, row, None, "object missing from storage")
    except TRANSIENT as exc:
        with contextlib.suppress(*TRANSIENT):
            await queries.give_back_verify_attempt(pool, fid)
        raise retry_later(ctx, exc) from exc

    try:
        declared = (row.declared_sha256 or "").strip().lower()
        if size != row.size:
            return await _corrupt(ctx, row, digest, f"stored size {size} differs from the agreed {row.size}")
        if declared and declared != digest:
            return await _corrupt(ctx, row, digest, "sha256 differs from the declared one")
        status = await queries.mark_verified(pool, fid, digest)
        if status is None:
            return "skipped: file left available/verifying meanwhile"
        if row.thumbnail_state is None:
            await enqueue_job(ctx, "thumbnail", fid, "thumb")
    except TRANSIENT as exc:
        raise retry_later(ctx, exc) from exc
    log.info("checksum of %s stored (%d bytes)%s", fid, size, ", matches the declared one" if declared else "")
    return "verified" if declared else "checksum stored"


async def hash_object(store: Storage, key: str) -> tuple[int, str]:
    """(size, sha256 hex) of an object, streamed: memory stays at one network chunk. Hashing runs
    inline (SHA-256 ~1.6 GB/s here, 3x a raw GET); a thread pipeline measured no faster on 2 cores
    that the S3 server shares."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in store.iter_range(key):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def _corrupt(ctx: dict, row: queries.FileRow, digest: str | None, reason: str) -> str:
    if not await queries.mark_corrupt(ctx["pool"], row.id, digest):
        return "skipped: file left available/verifying meanwhile"
    log.warning("file %s is corrupt: %s; removing its object", row.id, reason)
    try:
        await remove_objects(ctx, row)
        await queries.mark_purged(ctx["pool"], row.id)
    except TRANSIENT:  # the file is `corrupt` (never served) already; reconciliation retries the purge
        log.warning("could not remove the object of corrupt file %s yet", row.id, exc_info=True)
    return f"corrupt: {reason}"
