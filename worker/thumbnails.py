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
import contextlib
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import AsyncIterator
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
        try:
            webp = await _make(ctx, row)
        except Outcome as out:
            await queries.set_thumbnail_outcome(pool, fid, out.state, out.reason)
            log.info("thumbnail %s: %s (%s)", fid, out.state, out.reason)
            return f"{out.state}: {out.reason}"
        return await _store(ctx, fid, webp)
    except TRANSIENT as exc:
        with contextlib.suppress(*TRANSIENT):
            await queries.give_back_thumbnail_attempt(pool, fid)
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
    if row.size == 0:
        raise Outcome("none", "empty file")
    store = storage_for(ctx, row.tier)
    # one GET: its first bytes tell what the file is; only an image is read further
    body = store.iter_range(row.object_key)
    try:
        head = b""
        async for chunk in body:
            head += chunk
            if len(head) >= SNIFF_BYTES:
                break
        kind = imaging.sniff(head[:SNIFF_BYTES], row.content_type)
        if kind is None:
            raise Outcome("none", "not an image or video")
        with tempfile.TemporaryDirectory(prefix="mybox-thumb-") as tmp:
            if kind == "video":
                await body.aclose()  # ffmpeg reads just the parts it needs, by range
                async with ctx["vips_slots"]:  # ffmpeg decodes: it takes a CPU slot like libvips
                    source = await _video_frame(ctx, store, row, Path(tmp))
            else:
                source = Path(tmp) / "source"
                await _download(ctx, row, head, body, source)
            try:
                async with ctx["vips_slots"]:
                    rendered = await asyncio.to_thread(imaging.render, source, ctx["settings"].thumbnail_max_pixels,
                                                       ctx["config"].thumbnail_preview)
            except imaging.TooManyPixels as exc:
                raise Outcome("failed", str(exc)) from None
            except imaging.Undecodable as exc:
                what = "video frame" if kind == "video" else "image"
                raise Outcome("failed", f"cannot decode {what}: {exc}") from None
    except ObjectMissing:
        raise Outcome("failed", "object missing from storage") from None
    finally:
        await body.aclose()
    return rendered.webp


async def _download(ctx: dict, row: queries.FileRow, head: bytes, body: AsyncIterator[bytes], dest: Path) -> None:
    """Refuse a decompression bomb from the header when it sits in the first bytes (most formats),
    before reading on; then stream the rest into a temporary file, which libvips reads with
    shrink-on-load. Memory stays at one network chunk whatever the size."""
    max_pixels = ctx["settings"].thumbnail_max_pixels
    pixels = await asyncio.to_thread(imaging.header_pixels, head)
    if pixels is not None and pixels > max_pixels:
        raise Outcome("failed", f"image has {pixels} pixels, more than {max_pixels}")
    if row.size > ctx["config"].thumbnail_max_bytes:
        raise Outcome("failed", f"image file larger than {ctx['config'].thumbnail_max_bytes} bytes")
    with dest.open("wb") as f:
        f.write(head)
        async for chunk in body:
            f.write(chunk)


async def _video_frame(ctx: dict, store: Storage, row: queries.FileRow, tmp: Path) -> Path:
    if imaging.ffmpeg_path() is None:
        raise Outcome("none", "video (ffmpeg is not installed)")
    url = await store.presign_internal_get(row.object_key, timedelta(minutes=30))
    frame = tmp / "frame.png"
    if not await imaging.video_frame(url, frame, ctx["config"].ffmpeg_timeout_seconds):
        raise Outcome("failed", "ffmpeg could not read a frame")
    return frame
