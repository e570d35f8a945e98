"""Image work with libvips, and a video frame with ffmpeg. No S3, no database, no event loop:
the functions here are blocking and the jobs call them in a thread (asyncio.to_thread).

libvips' `thumbnail` shrinks while loading (JPEG DCT scaling, WebP/HEIF/TIFF pyramid levels,
streaming block shrink for PNG/GIF), applies the EXIF orientation, and never decodes the whole
image at full size first. The pixel limit is checked from the header before anything is decoded.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyvips

GRID = 256      # thumbs/<id>/256.webp, the grid thumbnail
PREVIEW = 1280  # thumbs/<id>/1280.webp, the larger preview (only for sources larger than the grid size)
SIZES = (GRID, PREVIEW)
# WebP encoding: the grid at libwebp's default effort (4, as Pillow), the preview at effort 0
# (measured here: 4x faster than effort 4 at 1280 px for ~4 % more bytes)
GRID_WEBP = {"Q": 80, "effort": 4, "keep": "none"}
PREVIEW_WEBP = {"Q": 80, "effort": 0, "keep": "none"}

# magic numbers of the formats the bundled libvips decodes (checked on the first bytes)
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_VIDEO_BRANDS_PREFIX = (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"qt  ",
                        b"M4V ", b"3gp", b"3g2", b"dash", b"MSNV", b"f4v ")


class Undecodable(Exception):
    """The bytes look like an image but libvips cannot decode them (corrupt or unsupported)."""


class TooManyPixels(Exception):
    """The header announces more pixels than settings.thumbnail_max_pixels (a decompression bomb)."""


@dataclass(frozen=True)
class Rendered:
    width: int          # the source's size, upright (after EXIF orientation)
    height: int
    webp: dict[int, bytes]  # longest side -> WebP bytes; always has GRID


def sniff(head: bytes, content_type: str) -> str | None:
    """'image', 'video' or None from the first bytes (the declared content type only breaks ties:
    it comes from the client)."""
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp":
        brands = {head[8:12]} | {head[i:i + 4] for i in range(16, min(len(head), 64), 4)}
        if head[8:12] in _HEIF_BRANDS or (brands & {b"avif", b"heic", b"mif1"} and not head[8:12].startswith(_VIDEO_BRANDS_PREFIX)):
            return "image"
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":                       # Matroska / WebM
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[:3] == b"FLV" or head[:4] == b"\x00\x00\x01\xba" or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47):
        return "video"                                         # FLV, MPEG-PS, MPEG-TS
    if content_type.startswith("video/"):
        return "video"
    return None


def header_pixels(head: bytes) -> int | None:
    """Pixels announced by a header held in memory (most formats keep it in the first bytes);
    None when the header is not all there (the file is checked again after download)."""
    try:
        image = pyvips.Image.new_from_buffer(head, "")
        return image.width * image.height
    except pyvips.Error:
        return None


def render(path: Path, max_pixels: int, preview: bool = True) -> Rendered:
    """The grid WebP thumbnail (and the preview, when asked and the source is larger than the grid
    size) of the first page/frame of an image file."""
    try:
        header = pyvips.Image.new_from_file(str(path))  # reads the header only (lazy)
    except pyvips.Error as exc:
        raise Undecodable(_first_line(exc)) from exc
    if header.width * header.height > max_pixels:
        raise TooManyPixels(f"{header.width}x{header.height} is more than {max_pixels} pixels")
    width, height = _upright(header)
    out: dict[int, bytes] = {}
    try:
        if preview and max(width, height) > GRID:
            # the preview first, then the grid size from the preview's pixels (cheap: already small)
            big = pyvips.Image.thumbnail(str(path), PREVIEW, height=PREVIEW, size="down").copy_memory()
            out[PREVIEW] = big.webpsave_buffer(**PREVIEW_WEBP)
            out[GRID] = big.thumbnail_image(GRID, height=GRID, size="down").webpsave_buffer(**GRID_WEBP)
        else:
            out[GRID] = render_grid_only(path)
    except pyvips.Error as exc:
        raise Undecodable(_first_line(exc)) from exc
    return Rendered(width=width, height=height, webp=out)


def render_grid_only(path: Path) -> bytes:
    """The grid thumbnail alone: one libvips `thumbnail` call (also the benchmark's bare call)."""
    return pyvips.Image.thumbnail(str(path), GRID, height=GRID, size="down").webpsave_buffer(**GRID_WEBP)


def _upright(image: pyvips.Image) -> tuple[int, int]:
    try:
        orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    except pyvips.Error:
        orientation = 1
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else (image.width, image.height)


def _first_line(exc: pyvips.Error) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


# --- video ------------------------------------------------------------------------------
def ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


async def video_frame(url: str, out: Path, timeout: float) -> bool:
    """Write one frame of the video at `url` to `out` (PNG): at 1 s, or the first frame of a
    shorter clip. ffmpeg reads over HTTP with range requests, so a 50 GB video is not downloaded."""
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        return False
    for seek in ("1", "0"):
        proc = await asyncio.create_subprocess_exec(
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-rw_timeout", "20000000",
            "-ss", seek, "-i", url, "-frames:v", "1", "-an", "-sn", "-f", "image2", "-c:v", "png", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:  # a video ffmpeg cannot read in time gets no frame
            proc.kill()
            await proc.wait()
            return False
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode == 0 and out.is_file() and out.stat().st_size > 0:
            return True
    return False
