"""The `thumbnail(file_id)` job: WebP thumbnails of images (libvips) and of videos (a frame via
ffmpeg), stored at thumbs/<fileId>/256.webp (+ 1280.webp) with files.thumbnail_key set.

Outcomes, recorded once in files.thumbnail_state: 'done'; 'none' (not an image or video: the file
stays available without a thumbnail); 'failed' (undecodable, a decompression bomb, too large).
Transient failures (S3/Postgres away) retry with backoff and do not count as attempts. A run that
ends any other way (worker killed, timeout) counts one attempt; reconciliation retries it after a
grace period and gives up after WorkerConfig.max_attempts. Running the job twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from service.storage import ObjectMissing, Storage
from worker import imaging, queries
from worker.common import TRANSIENT, parse_file_id, retry_later, storage_for, thumb_key

log = logging.getLogger("mybox.worker.thumbnails")

SNIFF_BYTES = 64 * 1024


class Outcome(Exception):
    """A final outcome without a thumbnail: state 'none' or 'failed', with the reason."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


async def thumbnail(ctx: dict, file_id: str) -> str:
    fid = parse_file_id(file_id)
    if fid is None:
        return "skipped: malformed id"
    pool = ctx["pool"]
    try:
        row = await queries.file_row(pool, fid)
        if row is None or row.status != "available":
            return f"skipped: {'no such file' if row is None else row.status}"
        if row.thumbnail_state is not None:
            return f"already {row.thumbnail_state}"
        if await queries.start_thumbnail_attempt(pool, fid) is None:
            return "skipped: no longer waiting"
    except TRANSIENT as exc:
        raise retry_later(ctx, exc) from exc

    try:
        webp = await _make(ctx, row)
    except Outcome as out:
        await queries.set_thumbnail_outcome(pool, fid, out.state, out.reason)
        log.info("thumbnail %s: %s (%s)", fid, out.state, out.reason)
        return f"{out.state}: {out.reason}"
    except TRANSIENT as exc:
        try:
            await queries.give_back_thumbnail_attempt(pool, fid)
        except TRANSIENT:
            pass
        raise retry_later(ctx, exc) from exc

    try:
        return await _store(ctx, fid, webp)
    except TRANSIENT as exc:
        try:
            await queries.give_back_thumbnail_attempt(pool, fid)
        except TRANSIENT:
            pass
        raise retry_later(ctx, exc) from exc


async def _store(ctx: dict, fid: UUID, webp: dict[int, bytes]) -> str:
    hot: Storage = ctx["storage"]
    for size, data in sorted(webp.items(), reverse=True):  # the grid key last: it marks completion
        await hot.put_bytes(thumb_key(fid, size), data, content_type="image/webp")
    grid = thumb_key(fid, imaging.GRID)
    if await queries.finish_thumbnail(ctx["pool"], fid, grid):
        return f"done: {', '.join(f'{s}px {len(b)} B' for s, b in sorted(webp.items()))}"
    # deleted while we worked: take the thumbnails back out (the orphan sweep is the backstop)
    for size in webp:
        await hot.remove(thumb_key(fid, size))
    return "skipped: file left available while the thumbnail was made"


async def _make(ctx: dict, row: queries.FileRow) -> dict[int, bytes]:
    settings, config = ctx["settings"], ctx["config"]
    store = storage_for(ctx, row.tier)
    if row.size == 0:
        raise Outcome("none", "empty file")
    try:
        head = b"".join([c async for c in store.iter_range(row.object_key, 0, min(row.size, SNIFF_BYTES))])
    except ObjectMissing:
        raise Outcome("failed", "object missing from storage") from None
    kind = imaging.sniff(head, row.content_type)
    if kind is None:
        raise Outcome("none", "not an image or video")

    async with ctx["vips_slots"]:
        with tempfile.TemporaryDirectory(prefix="mybox-thumb-") as tmp:
            if kind == "video":
                source = await _video_frame(ctx, store, row, Path(tmp))
            else:
                # most headers sit in the first bytes: refuse a bomb before downloading it
                pixels = await asyncio.to_thread(imaging.header_pixels, head)
                if pixels is not None and pixels > settings.thumbnail_max_pixels:
                    raise Outcome("failed", f"image has {pixels} pixels, more than {settings.thumbnail_max_pixels}")
                if row.size > config.thumbnail_max_bytes:
                    raise Outcome("failed", f"image file larger than {config.thumbnail_max_bytes} bytes")
                source = Path(tmp) / "source"
                await _download(store, row.object_key, source)
            try:
                rendered = await asyncio.to_thread(imaging.render, source, settings.thumbnail_max_pixels,
                                                   config.thumbnail_preview)
            except imaging.TooManyPixels as exc:
                raise Outcome("failed", str(exc)) from None
            except imaging.Undecodable as exc:
                raise Outcome("failed", f"cannot decode {'video frame' if kind == 'video' else 'image'}: {exc}") from None
    return rendered.webp


async def _download(store: Storage, key: str, dest: Path) -> None:
    """Stream the object into a temporary file (libvips then reads it with shrink-on-load):
    memory stays at one network chunk whatever the size."""
    try:
        with dest.open("wb") as f:
            async for chunk in store.iter_range(key):
                f.write(chunk)
    except ObjectMissing:
        raise Outcome("failed", "object missing from storage") from None


async def _video_frame(ctx: dict, store: Storage, row: queries.FileRow, tmp: Path) -> Path:
    if imaging.ffmpeg_path() is None:
        raise Outcome("none", "video (ffmpeg is not installed)")
    url = await store.presign_internal_get(row.object_key, timedelta(minutes=30))
    frame = tmp / "frame.png"
    if not await imaging.video_frame(url, frame, ctx["config"].ffmpeg_timeout_seconds):
        raise Outcome("failed", "ffmpeg could not read a frame")
    return frame
