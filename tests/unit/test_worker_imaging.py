"""libvips helpers on local files: sniffing, the header pixel guard, rendering sizes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import images
from worker import imaging


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif", "tiff", "avif"])
def test_sniff_recognises_images_whatever_the_declared_type(fmt):
    data = images.encode(images.photo(64, 48), fmt)
    assert imaging.sniff(data[:65536], "application/octet-stream") == "image"


def test_sniff_other_things():
    assert imaging.sniff(b"hello world", "text/plain") is None
    assert imaging.sniff(b"hello world", "image/jpeg") is None  # a claim is not a picture
    assert imaging.sniff(b"%PDF-1.7\n", "application/pdf") is None
    assert imaging.sniff(b"\x1a\x45\xdf\xa3" + b"\x00" * 40, "") == "video"  # Matroska/WebM
    assert imaging.sniff(b"RIFF\x00\x00\x00\x00AVI LIST", "") == "video"
    assert imaging.sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "") == "video"
    assert imaging.sniff(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "") == "image"
    assert imaging.sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "") == "image"
    assert imaging.sniff(b"\x00" * 100, "video/mp4") == "video"  # unknown bytes: the label decides


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg not installed")
def test_sniff_real_mp4():
    clip = images.video_mp4(seconds=0.5, width=64, height=48)
    assert imaging.sniff(clip[:65536], "application/octet-stream") == "video"


def test_header_pixels_from_the_first_bytes():
    data = images.encode(images.photo(2000, 1000), "jpeg")
    assert imaging.header_pixels(data[:65536]) == 2_000_000
    assert imaging.header_pixels(images.png_bomb(100_000, 100_000)) == 10_000_000_000
    assert imaging.header_pixels(b"not an image") is None


def test_render_sizes_and_orientation(tmp_path: Path):
    src = tmp_path / "p.jpg"
    src.write_bytes(images.rotated_jpeg(3000, 2000, orientation=6))
    out = imaging.render(src, max_pixels=10_000_000)
    assert (out.width, out.height) == (2000, 3000)  # upright
    assert images.dimensions(out.webp[256])[:2] == (171, 256)
    assert images.dimensions(out.webp[1280])[:2] == (853, 1280)
    only_grid = imaging.render(src, max_pixels=10_000_000, preview=False)
    assert set(only_grid.webp) == {256} and images.dimensions(only_grid.webp[256])[:2] == (171, 256)


def test_render_refuses_a_bomb_before_decoding(tmp_path: Path):
    src = tmp_path / "bomb.png"
    src.write_bytes(images.png_bomb(60_000, 60_000))
    with pytest.raises(imaging.TooManyPixels, match="60000x60000"):
        imaging.render(src, max_pixels=100_000_000)


def test_render_undecodable(tmp_path: Path):
    src = tmp_path / "bad.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0" + b"junk" * 100)
    with pytest.raises(imaging.Undecodable):
        imaging.render(src, max_pixels=100_000_000)
    src.write_bytes(b"plain text")
    with pytest.raises(imaging.Undecodable):
        imaging.render(src, max_pixels=100_000_000)
