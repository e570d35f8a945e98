"""Test images made on the fly with libvips (and a video with ffmpeg): no binary fixtures."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pyvips


def photo(width: int, height: int) -> pyvips.Image:
    """A photo-like RGB image: smooth gradients plus blurred noise (compresses like a photo)."""
    x = pyvips.Image.xyz(width, height)
    r = (x[0] * (255.0 / max(width, 1)))
    g = (x[1] * (255.0 / max(height, 1)))
    noise = pyvips.Image.gaussnoise(width, height, sigma=30, mean=128).gaussblur(1.5)
    return r.bandjoin([g, noise]).cast("uchar").copy(interpretation="srgb")


def encode(image: pyvips.Image, fmt: str) -> bytes:
    """fmt: jpeg, png, webp, gif, tiff, avif."""
    if fmt == "jpeg":
        return image.jpegsave_buffer(Q=85)
    if fmt == "png":
        return image.pngsave_buffer(compression=1)
    if fmt == "webp":
        return image.webpsave_buffer(Q=80)
    if fmt == "gif":
        return image.gifsave_buffer()
    if fmt == "tiff":
        return image.tiffsave_buffer(compression="deflate")
    if fmt == "avif":
        return image.heifsave_buffer(compression="av1", Q=50, effort=0)
    raise ValueError(fmt)


def rotated_jpeg(width: int, height: int, orientation: int = 6) -> bytes:
    """A JPEG stored `width x height` whose EXIF orientation says "rotate 90° to view"."""
    image = photo(width, height).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image.jpegsave_buffer(Q=85)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header announces width x height pixels (10 gigapixels by default): a
    decoder that trusted it would allocate tens of GB. Only the header matters to the guard."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)  # a few rows of zeros; the rest "to come"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def video_mp4(seconds: float = 2.0, width: int = 320, height: int = 240) -> bytes | None:
    """A short H.264/MP4 test pattern (None when ffmpeg is not installed)."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=duration={seconds}:size={width}x{height}:rate=10", "-pix_fmt", "yuv420p",
                        "-movflags", "+faststart", str(out)], check=True, timeout=60)
        return out.read_bytes()


def dimensions(webp: bytes) -> tuple[int, int, str]:
    image = pyvips.Image.new_from_buffer(webp, "")
    return image.width, image.height, image.get("vips-loader")
