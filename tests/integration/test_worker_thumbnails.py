"""Thumbnails made by a real arq worker (burst mode) from objects in real S3, rows in real Postgres."""

from __future__ import annotations

import shutil

import pytest

from service.storage import ObjectMissing
from tests import images
from tests.integration.worker_support import worker_env_fixture
from worker.common import thumb_key
from worker.thumbnails import thumbnail

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
env = worker_env_fixture()

FORMATS = [("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp"), ("gif", "image/gif"),
           ("tiff", "image/tiff"), ("avif", "image/avif")]


async def thumbs_of(env, fid) -> dict[int, tuple[int, int, str]]:
    out = {}
    for size in (256, 1280):
        try:
            data = b"".join([c async for c in env.storage.iter_range(thumb_key(fid, size))])
        except ObjectMissing:
            continue
        out[size] = images.dimensions(data)
    return out


@pytest.mark.parametrize("fmt,content_type", FORMATS)
async def test_thumbnail_for_each_format(env, fmt, content_type):
    data = images.encode(images.photo(1600, 1000), fmt)
    f = await env.put_file(data, content_type=content_type)
    assert await env.enqueue("thumbnail", f.id, "thumb")
    w = await env.run_worker()
    assert w.jobs_complete == 1 and w.jobs_failed == 0
    row = await env.row(f.id)
    assert row.thumbnail_state == "done"
    assert row.thumbnail_key == f"thumbs/{f.id}/256.webp"
    assert row.status == "available"
    thumbs = await thumbs_of(env, f.id)
    assert thumbs[256] == (256, 160, "webpload_buffer")   # longest side 256, aspect kept
    assert thumbs[1280] == (1280, 800, "webpload_buffer")  # the preview


async def test_small_image_is_not_enlarged(env):
    f = await env.put_file(images.encode(images.photo(120, 90), "png"), content_type="image/png")
    await env.enqueue("thumbnail", f.id, "thumb")
    await env.run_worker()
    assert (await env.row(f.id)).thumbnail_state == "done"
    assert await thumbs_of(env, f.id) == {256: (120, 90, "webpload_buffer")}  # no preview either


async def test_exif_rotated_photo_comes_out_upright(env):
    # stored landscape 600x400, EXIF orientation 6: viewed, it is portrait 400x600
    f = await env.put_file(images.rotated_jpeg(600, 400, orientation=6), content_type="image/jpeg")
    await env.enqueue("thumbnail", f.id, "thumb")
    await env.run_worker()
    thumbs = await thumbs_of(env, f.id)
    assert thumbs[256][:2] == (171, 256)
    assert thumbs[1280][:2] == (400, 600)


async def test_content_type_is_not_trusted(env):
    """A PNG uploaded as application/octet-stream still gets its thumbnail; text named image/jpeg gets none."""
    png = await env.put_file(images.encode(images.photo(300, 300), "png"), content_type="application/octet-stream")
    fake = await env.put_file(b"just some text, not a picture\n" * 100, content_type="image/jpeg")
    for f in (png, fake):
        await env.enqueue("thumbnail", f.id, "thumb")
    await env.run_worker()
    assert (await env.row(png.id)).thumbnail_state == "done"
    fake_row = await env.row(fake.id)
    assert fake_row.thumbnail_state == "none" and fake_row.thumbnail_key is None and fake_row.status == "available"


async def test_text_file_gets_no_thumbnail_and_stays_available(env):
    f = await env.put_file(b"hello\n" * 1000, content_type="text/plain")
    empty = await env.put_file(b"", content_type="text/plain")
    for x in (f, empty):
        await env.enqueue("thumbnail", x.id, "thumb")
    w = await env.run_worker()
    assert w.jobs_failed == 0
    for x in (f, empty):
        row = await env.row(x.id)
        assert (row.status, row.thumbnail_state, row.thumbnail_key) == ("available", "none", None)
        assert await thumbs_of(env, x.id) == {}


async def test_corrupt_jpeg_fails_once_without_retries(env):
    data = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"not really a jpeg " * 500
    f = await env.put_file(data, content_type="image/jpeg")
    await env.enqueue("thumbnail", f.id, "thumb")
    w = await env.run_worker()
    assert w.jobs_complete == 1 and w.jobs_retried == 0  # the job itself ends cleanly, no retry loop
    row = await env.row(f.id)
    assert row.thumbnail_state == "failed" and row.thumbnail_key is None and row.status == "available"
    assert row.thumbnail_attempts == 1
    assert "cannot decode image" in await env.thumbnail_error(f.id)
    # enqueueing it again (a client retry, a reconciliation) does nothing more
    assert await env.enqueue("thumbnail", f.id, "thumb")
    await env.run_worker()
    assert (await env.row(f.id)).thumbnail_attempts == 1
    assert await thumbs_of(env, f.id) == {}


async def test_truncated_jpeg_still_gets_a_thumbnail(env):
    """Like browsers, a photo cut short shows what arrived (libvips fills the rest)."""
    data = images.encode(images.photo(1200, 800), "jpeg")
    f = await env.put_file(data[: len(data) // 2], content_type="image/jpeg")
    await env.enqueue("thumbnail", f.id, "thumb")
    await env.run_worker()
    assert (await env.row(f.id)).thumbnail_state == "done"
    assert (await thumbs_of(env, f.id))[256][:2] == (256, 171)


async def test_decompression_bomb_is_refused_from_the_header(env):
    bomb = images.png_bomb(100_000, 100_000)  # 467 bytes announcing 10 gigapixels
    assert len(bomb) < 1000
    f = await env.put_file(bomb, content_type="image/png")
    await env.enqueue("thumbnail", f.id, "thumb")
    w = await env.run_worker()
    assert w.jobs_complete == 1
    row = await env.row(f.id)
    assert row.thumbnail_state == "failed" and row.status == "available"
    assert "10000000000 pixels" in await env.thumbnail_error(f.id)
    assert await thumbs_of(env, f.id) == {}


async def test_pixel_limit_from_settings(env):
    """A real (decodable) image above settings.thumbnail_max_pixels is refused as well, also in a
    format whose header is not in the first bytes (TIFF: checked after download, before decoding)."""
    import msgspec
    env.ctx["settings"] = msgspec.structs.replace(env.settings, thumbnail_max_pixels=1_000_000)
    for fmt in ("jpeg", "tiff"):
        f = await env.put_file(images.encode(images.photo(1500, 1000), fmt), content_type=f"image/{fmt}")
        assert (await thumbnail(env.ctx, str(f.id))).startswith("failed")
        assert "more than 1000000" in await env.thumbnail_error(f.id)


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg not installed")
async def test_video_gets_a_frame(env):
    f = await env.put_file(images.video_mp4(seconds=2, width=320, height=240), content_type="video/mp4")
    short = await env.put_file(images.video_mp4(seconds=0.3, width=160, height=120), content_type="video/mp4")
    for x in (f, short):
        await env.enqueue("thumbnail", x.id, "thumb")
    await env.run_worker()
    assert (await env.row(f.id)).thumbnail_state == "done"
    assert (await thumbs_of(env, f.id))[256] == (256, 192, "webpload_buffer")
    assert (await env.row(short.id)).thumbnail_state == "done"  # shorter than the 1 s seek: first frame
    assert (await thumbs_of(env, short.id)) == {256: (160, 120, "webpload_buffer")}


async def test_garbage_labelled_video_fails_cleanly(env):
    f = await env.put_file(b"\x00" * 5000, content_type="video/mp4")
    assert await env.enqueue("thumbnail", f.id, "thumb")
    w = await env.run_worker()
    assert w.jobs_complete == 1
    row = await env.row(f.id)
    expected = "failed" if shutil.which("ffmpeg") else "none"
    assert row.thumbnail_state == expected and row.thumbnail_key is None


async def test_running_twice_is_harmless(env):
    f = await env.put_file(images.encode(images.photo(800, 600), "jpeg"), content_type="image/jpeg")
    assert (await thumbnail(env.ctx, str(f.id))).startswith("done")
    first = b"".join([c async for c in env.storage.iter_range(thumb_key(f.id, 256))])
    assert await thumbnail(env.ctx, str(f.id)) == "already done"
    row = await env.row(f.id)
    assert row.thumbnail_attempts == 1 and row.thumbnail_key == thumb_key(f.id, 256)
    assert b"".join([c async for c in env.storage.iter_range(thumb_key(f.id, 256))]) == first


async def test_skips_files_that_are_not_available(env):
    png = images.encode(images.photo(300, 200), "png")
    verifying = await env.put_file(png, status="verifying", known_sha256=False, declared_sha256="0" * 64)
    deleted = await env.put_file(png, status="deleted")
    assert await thumbnail(env.ctx, str(verifying.id)) == "skipped: verifying"
    assert await thumbnail(env.ctx, str(deleted.id)) == "skipped: deleted"
    assert await thumbnail(env.ctx, "not-a-uuid") == "skipped: malformed id"
    for f in (verifying, deleted):
        row = await env.row(f.id)
        assert row.thumbnail_state is None and row.thumbnail_attempts == 0
        assert await thumbs_of(env, f.id) == {}


async def test_object_missing_is_recorded_not_retried(env):
    f = await env.put_file(b"x" * 100, content_type="image/png", store_object=False)
    assert await thumbnail(env.ctx, str(f.id)) == "failed: object missing from storage"
    assert (await env.row(f.id)).thumbnail_state == "failed"
