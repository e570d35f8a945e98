"""Worker benchmark (issue 5), all on one core (VIPS_CONCURRENCY=1):

1. a 12-megapixel photo-like JPEG: libvips `thumbnail` vs Pillow's idiomatic `Image.thumbnail`
   (both to a 256 px WebP at quality 80, libwebp's default effort), time and peak memory, each in
   its own process;
2. a 100-megapixel PNG: the same comparison, on render/map-like content (what large PNGs usually
   hold); a photo saved as PNG is measured too, for the record (both libraries then spend their
   time inflating);
3. the whole thumbnail job through a real arq worker (S3 read, thumbnail, S3 write, row update)
   vs the bare libvips call on the same bytes: throughput ratio;
4. peak RSS of a real worker process (`arq worker.main.WorkerSettings --burst`) thumbnailing a
   100-megapixel JPEG and PNG;
5. verification throughput (the verify_checksum job) vs a raw S3 GET of the same object.

`python -m bench worker [--quick]`; tests/integration/test_bench_worker.py runs the quick form.
"""

from __future__ import annotations

import os

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # before libvips starts: one core, as the issue asks

import asyncio  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import msgspec  # noqa: E402
import pyvips  # noqa: E402

from service.config import Settings  # noqa: E402
from tests.conftest import settings_env  # noqa: E402
from tests.integration.worker_support import WorkerEnv  # noqa: E402
from tests.services import ROOT  # noqa: E402
from worker import imaging  # noqa: E402
from worker.config import WorkerConfig  # noqa: E402
from worker.main import build_worker  # noqa: E402
from worker.verify import verify_checksum  # noqa: E402

MiB = 1024 * 1024


def photo(width: int, height: int) -> pyvips.Image:
    """Photo-like content: soft shapes (upscaled blurred noise), gradients and fine sensor grain;
    compresses like a camera JPEG (~3.5 bits/pixel at Q88)."""
    base = pyvips.Image.gaussnoise(max(width // 8, 1), max(height // 8, 1), sigma=50, mean=128).gaussblur(1.2)
    base = base.bandjoin([base.rot180(), base.fliphor()]).resize(8, kernel="cubic")
    base = base.crop(0, 0, min(width, base.width), min(height, base.height)).embed(0, 0, width, height, extend="copy")
    x = pyvips.Image.xyz(width, height)
    grain = pyvips.Image.gaussnoise(width, height, sigma=10, mean=0)
    return (base * 0.7 + x[0] * (70.0 / width) + x[1] * (30.0 / height) + grain).cast("uchar").copy(
        interpretation="srgb")


def drawing(width: int, height: int) -> pyvips.Image:
    """Render/map/scan-like content (what large PNGs usually hold): flat colour regions and a
    gradient; compresses to a few MB at 100 megapixels."""
    base = pyvips.Image.gaussnoise(max(width // 64, 1), max(height // 64, 1), sigma=60, mean=128)
    base = base.bandjoin([base.rot180(), base.fliphor()]).resize(64, kernel="nearest")
    base = base.crop(0, 0, min(width, base.width), min(height, base.height)).embed(0, 0, width, height, extend="copy")
    x = pyvips.Image.xyz(width, height)
    return (base * 0.8 + x[0] * (50.0 / width)).cast("uchar").copy(interpretation="srgb")


# --- 1 and 2: libvips vs Pillow, each in a fresh process -------------------------------------
CHILD = r"""
import io, json, sys, time, warnings
lib, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def hwm_mib():  # this process's own peak RSS (ru_maxrss would include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
warnings.simplefilter("ignore")  # Pillow warns above 89 megapixels (DecompressionBombWarning)
if lib == "vips":
    import pyvips
    pyvips.cache_set_max(0)
    def once():
        pyvips.Image.thumbnail(path, 256, height=256, size="down").webpsave_buffer(Q=80, effort=4, keep="none")
else:
    from PIL import Image
    def once():  # the Pillow documentation's way: open, thumbnail() (draft + reducing_gap), save
        with Image.open(path) as im:
            im.thumbnail((256, 256))
            im.save(io.BytesIO(), "WEBP", quality=80)
base = hwm_mib()
times = []
for _ in range(n):
    t = time.perf_counter(); once(); times.append(time.perf_counter() - t)
print(json.dumps({"best_s": min(times), "median_s": sorted(times)[len(times) // 2],
                  "peak_rss_mib": hwm_mib(), "import_rss_mib": base}))
"""


def _child(lib: str, path: Path, n: int) -> dict:
    env = {**os.environ, "VIPS_CONCURRENCY": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, lib, str(path), str(n)], env=env, check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout)


def compare_libraries(path: Path, n: int, rounds: int) -> dict:
    """Alternate libvips and Pillow processes; best time and peak memory of each."""
    runs: dict[str, list[dict]] = {"libvips": [], "pillow": []}
    for _ in range(rounds):
        runs["libvips"].append(_child("vips", path, n))
        runs["pillow"].append(_child("pillow", path, n))
    out: dict = {"file_mib": round(path.stat().st_size / MiB, 1)}
    for lib, rs in runs.items():
        best = min(r["best_s"] for r in rs)
        out[lib] = {"seconds": round(best, 4), "per_second": round(1 / best, 2),
                    "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs), 1),
                    "import_rss_mib": round(min(r["import_rss_mib"] for r in rs), 1)}
    out["speed_ratio"] = round(out["pillow"]["seconds"] / out["libvips"]["seconds"], 2)
    out["memory_ratio"] = round(out["libvips"]["peak_rss_mib"] / out["pillow"]["peak_rss_mib"], 3)
    return out


# --- 3: the whole job vs the bare call ------------------------------------------------------
async def job_vs_bare(env: WorkerEnv, path: Path, n: int, preview: bool) -> dict:
    data = path.read_bytes()
    config = msgspec.structs.replace(env.config, thumbnail_concurrency=1, thumbnail_preview=preview,
                                     thumbnail_timeout_seconds=120)

    def bare_once() -> None:
        imaging.render(path, 10**9, preview=preview)

    async def bare() -> float:
        t = time.perf_counter()
        for _ in range(n):
            await asyncio.to_thread(bare_once)
        return (time.perf_counter() - t) / n

    # alternate bare and job runs; the best of each (this machine is shared: noise only slows)
    bare_best = job_s = float("inf")
    for _ in range(2):
        bare_best = min(bare_best, await bare())
        job_s = min(job_s, await _run_jobs(env, config, data, n))
    return {"files": n, "preview": preview, "bare_per_second": round(1 / bare_best, 2),
            "job_per_second": round(1 / job_s, 2), "ratio": round(bare_best / job_s, 3)}


async def _run_jobs(env: WorkerEnv, config: WorkerConfig, data: bytes, n: int) -> float:
    files = [await env.put_file(data, content_type="image/jpeg") for _ in range(n)]
    for f in files:
        await env.enqueue("thumbnail", f.id, "thumb")
    marks: list[float] = []

    async def mark(ctx: dict) -> None:
        marks.append(time.perf_counter())

    worker = build_worker(env.settings, config, burst=True, handle_signals=False, on_job_start=mark,
                          after_job_end=mark)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    done = await env.pool.fetchval("SELECT count(*) FROM files WHERE id = any($1::uuid[]) AND thumbnail_state = 'done'",
                                   [f.id for f in files])
    assert done == n, f"only {done} of {n} thumbnails made"
    return (max(marks) - min(marks)) / n


# --- 4: peak RSS of a real worker process -----------------------------------------------------
async def worker_peak_rss(env: WorkerEnv, sources: dict[str, Path]) -> dict:
    ids = []
    for kind, path in sources.items():
        f = await env.put_file(path.read_bytes(), content_type=f"image/{kind}")
        await env.enqueue("thumbnail", f.id, "thumb")
        ids.append(f.id)
    proc_env = {**os.environ, **settings_env(env.settings), "VIPS_CONCURRENCY": "1", "MYBOX_LOG_LEVEL": "WARNING"}
    with tempfile.NamedTemporaryFile("r", suffix=".hwm") as hwm:
        # the real arq CLI, reporting its own peak RSS (VmHWM) when it exits
        wrapper = ("import atexit, sys\n"
                   f"atexit.register(lambda: open({hwm.name!r}, 'w').write(next(l.split()[1] for l in "
                   "open('/proc/self/status') if l.startswith('VmHWM:'))))\n"
                   "from arq.cli import cli\nsys.argv = ['arq', 'worker.main.WorkerSettings', '--burst']\ncli()\n")
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", wrapper, cwd=ROOT, env=proc_env,
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        code = await proc.wait()
        seconds = time.perf_counter() - started
        peak_kib = int(Path(hwm.name).read_text() or 0)
    done = await env.pool.fetchval("SELECT count(*) FROM files WHERE id = any($1::uuid[]) AND thumbnail_state = 'done'", ids)
    return {"sources": {k: f"{pyvips.Image.new_from_file(str(p)).width}x{pyvips.Image.new_from_file(str(p)).height}"
                        for k, p in sources.items()},
            "thumbnails_made": done, "exit_code": code, "seconds": round(seconds, 2),
            "peak_rss_mib": round(peak_kib / 1024, 1)}


# --- 5: verification vs a raw GET -------------------------------------------------------------
async def verify_vs_get(env: WorkerEnv, size: int, rounds: int) -> dict:
    block = os.urandom(8 * MiB)

    async def chunks():
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)

    fid = uuid.uuid4()
    key = f"objects/{fid}"
    await env.storage.put_stream(key, chunks(), content_type="application/octet-stream")
    await env.put_file(b"", file_id=fid, store_object=False, size=size, known_sha256=False)
    raw_best = verify_best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        async for _chunk in env.storage.iter_range(key):
            pass
        raw_best = min(raw_best, time.perf_counter() - t)
        await env.pool.execute("UPDATE files SET sha256 = NULL, verify_attempts = 0 WHERE id = $1", fid)
        t = time.perf_counter()
        assert await verify_checksum(env.ctx, str(fid)) == "checksum stored"
        verify_best = min(verify_best, time.perf_counter() - t)
    return {"object_mib": size // MiB, "raw_get_mib_s": round(size / MiB / raw_best, 1),
            "verify_mib_s": round(size / MiB / verify_best, 1), "ratio": round(raw_best / verify_best, 3)}


# --- the run ----------------------------------------------------------------------------------
async def measure(settings: Settings, quick: bool) -> dict:
    previous = pyvips.concurrency_get()
    pyvips.concurrency_set(1)
    env = await WorkerEnv(settings, WorkerConfig()).start()
    try:
        with tempfile.TemporaryDirectory(prefix="mybox-bench-") as tmp:
            t = Path(tmp)
            jpeg_mp = (2000, 1500) if quick else (4000, 3000)
            big = (3000, 3000) if quick else (10000, 10000)
            big_drawing = (5000, 5000) if quick else big
            mp = big_drawing[0] * big_drawing[1] // 10**6
            jpeg, jpeg_big = t / "photo.jpg", t / "big.jpg"
            png_big, png_photo = t / "drawing.png", t / "photo.png"
            await asyncio.to_thread(lambda: photo(*jpeg_mp).jpegsave(str(jpeg), Q=88))
            await asyncio.to_thread(lambda: photo(*big).jpegsave(str(jpeg_big), Q=88))
            await asyncio.to_thread(lambda: drawing(*big_drawing).pngsave(str(png_big), compression=6))
            await asyncio.to_thread(lambda: photo(*big).pngsave(str(png_photo), compression=6))
            result: dict = {"vips_concurrency": 1, "cpu_count": os.cpu_count(),
                            "load_average_at_start": os.getloadavg()[0]}
            result[f"jpeg_{jpeg_mp[0] * jpeg_mp[1] // 10**6}mp"] = await asyncio.to_thread(
                compare_libraries, jpeg, 5 if quick else 20, 2 if quick else 3)
            result[f"png_{mp}mp"] = await asyncio.to_thread(compare_libraries, png_big, 2, 1 if quick else 3)
            if not quick:  # for the record: a photo saved as PNG inflates slowly for both libraries
                result[f"png_{big[0] * big[1] // 10**6}mp_photo"] = await asyncio.to_thread(compare_libraries, png_photo, 1, 2)
            n = 6 if quick else 30
            result["job_vs_bare"] = await job_vs_bare(env, jpeg, n, preview=False)
            if not quick:
                result["job_vs_bare_with_preview"] = await job_vs_bare(env, jpeg, n, preview=True)
            result["worker_peak_rss"] = await worker_peak_rss(env, {"jpeg": jpeg_big, "png": png_photo})
            result["verify"] = await verify_vs_get(env, (32 if quick else 1024) * MiB, 2 if quick else 3)
            result["load_average_at_end"] = os.getloadavg()[0]
    finally:
        await env.close()
        pyvips.concurrency_set(previous)
    jpeg_key = next(k for k in result if k.startswith("jpeg_"))
    png_key = next(k for k in result if k.startswith("png_") and not k.endswith("_photo"))
    result["targets"] = {
        "jpeg_speed_ratio>=1.0": result[jpeg_key]["speed_ratio"] >= 1.0,
        "png_speed_ratio>=4": result[png_key]["speed_ratio"] >= 4,
        "png_memory_ratio<=0.25": result[png_key]["memory_ratio"] <= 0.25,
        "job_vs_bare>=0.7": result["job_vs_bare"]["ratio"] >= 0.7,
        "worker_peak_rss<200MiB": result["worker_peak_rss"]["peak_rss_mib"] < 200,
        "verify_vs_get>=0.8": result["verify"]["ratio"] >= 0.8,
    }
    return result


async def run(quick: bool) -> dict:
    from bench.stack import bench_stack
    async with bench_stack() as stack:
        return await measure(stack.settings, quick)
