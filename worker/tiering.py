"""Tiering jobs: the cron pass that moves idle files to the cold tier, and archive restores.
The logic lives in service.tiering.service; these wrap it for arq."""

from __future__ import annotations

import logging

from service.tiering.service import Tiers, restore_to_hot, run_tiering
from worker.common import TRANSIENT, enqueue_job, parse_file_id, retry_later

log = logging.getLogger("mybox.worker.tiering")


def tiers(ctx: dict) -> Tiers:
    return Tiers(hot=ctx["storage"], cold=ctx["cold_storage"], archive=ctx["settings"].cold_tier_mode == "archive")


async def tier_files(ctx: dict) -> dict:
    """Cron, every MYBOX_TIERING_INTERVAL_SECONDS: one bounded pass. Old copies are kept for a
    presigned-URL lifetime after a move, so links already handed out keep working."""
    settings = ctx["settings"]
    report = await run_tiering(ctx["pool"], tiers(ctx), idle_seconds=settings.cold_after_seconds,
                               grace_seconds=settings.presign_ttl_seconds, parallel=2)
    for file_id in report.restores_requeued:  # a restore whose job was lost (Redis down)
        await enqueue_job(ctx, "restore_file", file_id, "restore")
    result = {"moved": report.moved, "movedBytes": report.moved_bytes, "skipped": report.skipped,
              "failed": report.failed, "staleDropped": report.stale_dropped,
              "restoresRequeued": len(report.restores_requeued)}
    log.info("tiering: %s", result)
    return result


async def restore_file(ctx: dict, file_id: str) -> str:
    """Copy an archived file back to the hot tier; it becomes available there."""
    fid = parse_file_id(file_id)
    if fid is None:
        return "ignored"
    try:
        done = await restore_to_hot(ctx["pool"], tiers(ctx), fid)
    except TRANSIENT as exc:
        raise retry_later(ctx, exc) from exc
    return "restored" if done else "skipped"
