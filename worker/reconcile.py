"""The reconciliation cron: the backstop that makes "every file ends up with its thumbnail and
its checksum, and every removed file leaves storage" true even when Redis lost jobs (it was down
when the upload committed, or kept nothing across a restart), a worker died, or S3 was away.

Each run, in bounded batches:
1. re-enqueue `thumbnail` for available files still waiting after a grace period (and give up on
   files whose attempts all died without an outcome);
2. re-enqueue `verify_checksum` for files still lacking their sha256 after the grace period;
3. re-enqueue `purge_file` for deleted/aborted/corrupt rows whose objects were not removed;
4. report S3 objects under objects/ and thumbs/ that no live row owns, and remove those older
   than the orphan grace period (a scan cursor in Redis walks big buckets a batch per run).
Job ids deduplicate, so re-enqueueing a job that is queued or running does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from uuid import UUID

from service.storage import Storage
from worker import queries
from worker.common import THUMB_PREFIX, enqueue_job

log = logging.getLogger("mybox.worker.reconcile")

OBJECT_PREFIX = "objects/"


async def reconcile(ctx: dict) -> dict:
    config, pool = ctx["config"], ctx["pool"]
    report: dict[str, object] = {}

    ids = await queries.files_missing_thumbnail(pool, config.reconcile_grace_seconds, config.max_attempts,
                                                config.reconcile_batch)
    report["thumbnails"] = await _requeue(ctx, ids, "thumbnail", "thumb")
    gave_up = await queries.give_up_thumbnails(pool, config.max_attempts, config.reconcile_batch)
    if gave_up:
        log.warning("gave up on thumbnails of %d files after %d attempts each: %s", len(gave_up),
                    config.max_attempts, ", ".join(map(str, gave_up[:20])))
    report["thumbnails_given_up"] = len(gave_up)

    ids = await queries.files_missing_checksum(pool, config.reconcile_grace_seconds, config.max_attempts,
                                               config.reconcile_batch)
    report["verifications"] = await _requeue(ctx, ids, "verify_checksum", "verify")
    stuck = await queries.count_unverifiable(pool, config.max_attempts)
    if stuck:
        log.warning("%d files still lack a checksum after %d verification attempts each", stuck, config.max_attempts)
    report["verifications_stuck"] = stuck

    ids = await queries.files_to_purge(pool, config.purge_grace_seconds, config.reconcile_batch)
    report["purges"] = await _requeue(ctx, ids, "purge_file", "purge")

    report["orphans"] = await sweep_orphans(ctx)
    log.info("reconcile: %s", report)
    return report


async def _requeue(ctx: dict, ids: list[UUID], function: str, prefix: str) -> dict[str, int]:
    enqueued = 0
    for fid in ids:
        enqueued += await enqueue_job(ctx, function, fid, prefix)
    if enqueued:
        log.info("re-enqueued %d of %d pending %s jobs", enqueued, len(ids), function)
    return {"pending": len(ids), "enqueued": enqueued}


async def sweep_orphans(ctx: dict) -> dict[str, int]:
    """Objects whose file row is missing or already purged. Foreign keys (not server-made) under
    these prefixes are reported, never removed."""
    totals = {"scanned": 0, "orphans": 0, "removed": 0, "young": 0, "foreign": 0}
    stores = [ctx["storage"]]
    if ctx["cold_storage"].bucket != ctx["storage"].bucket or ctx["cold_storage"].endpoint != ctx["storage"].endpoint:
        stores.append(ctx["cold_storage"])
    for store in stores:
        for prefix in (OBJECT_PREFIX, THUMB_PREFIX):
            counts = await _sweep_prefix(ctx, store, prefix)
            for k, v in counts.items():
                totals[k] += v
    return totals


async def _sweep_prefix(ctx: dict, store: Storage, prefix: str) -> dict[str, int]:
    config, redis = ctx["config"], ctx.get("redis")
    cursor_key = f"{ctx['settings'].job_queue}:reconcile:cursor:{store.bucket}:{prefix}"
    start_after = None
    if redis is not None:
        raw = await redis.get(cursor_key)
        start_after = raw.decode() if raw else None
    listed = []
    try:
        async for obj in store.list_objects(prefix, start_after=start_after, limit=config.orphan_scan_batch):
            listed.append(obj)
    except Exception:  # a missing cold bucket or an unreachable archive tier: report, carry on
        log.warning("could not list %s in bucket %s", prefix, store.bucket, exc_info=True)
        return {"scanned": 0}

    counts = {"scanned": len(listed), "orphans": 0, "removed": 0, "young": 0, "foreign": 0}
    owners: dict[str, UUID | None] = {o.key: _owner(o.key, prefix) for o in listed}
    live = await queries.unpurged_ids(ctx["pool"], [i for i in owners.values() if i is not None])
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=config.orphan_grace_seconds)
    for obj in listed:
        fid = owners[obj.key]
        if fid is None:
            counts["foreign"] += 1
            log.warning("unexpected key %r in bucket %s (not server-made); left alone", obj.key, store.bucket)
            continue
        if fid in live:
            continue
        counts["orphans"] += 1
        if obj.last_modified is not None and obj.last_modified > cutoff:
            counts["young"] += 1
            continue
        await store.remove(obj.key)
        counts["removed"] += 1
        log.info("removed orphan object %s from bucket %s", obj.key, store.bucket)

    if redis is not None:  # resume after the last key next run; start over once the end is reached
        if len(listed) >= config.orphan_scan_batch:
            await redis.set(cursor_key, listed[-1].key, ex=7 * 86400)
        else:
            await redis.delete(cursor_key)
    return counts


def _owner(key: str, prefix: str) -> UUID | None:
    """The file id a server-made key belongs to: objects/<id> or thumbs/<id>/<size>.webp."""
    rest = key[len(prefix):]
    part = rest if prefix == OBJECT_PREFIX else rest.split("/", 1)[0]
    try:
        fid = UUID(part)
    except ValueError:
        return None
    return fid if str(fid) == part else None
