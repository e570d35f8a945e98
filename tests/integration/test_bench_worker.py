"""The worker benchmark's quick form (bench/bench_worker.py; `python -m bench worker` for the full one)."""

from __future__ import annotations

import secrets

import pytest

from bench import bench_worker
from tests.conftest import make_settings

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def test_worker_benchmark_quick(settings):
    s = make_settings(settings, job_queue=f"{settings.job_queue}:bench{secrets.token_hex(3)}")
    r = await bench_worker.measure(s, quick=True)
    png = r["png_25mp"]
    # what holds at any size and machine load: Pillow holds the whole decoded PNG (3 bytes x
    # 25 megapixels = 75 MB), libvips only strips of it
    growth = {lib: png[lib]["peak_rss_mib"] - png[lib]["import_rss_mib"] for lib in ("libvips", "pillow")}
    assert growth["pillow"] > 70 and growth["libvips"] < growth["pillow"] / 2, png
    assert png["speed_ratio"] > 1.0, png
    assert r["jpeg_3mp"]["speed_ratio"] > 0.6, r["jpeg_3mp"]
    assert r["job_vs_bare"]["ratio"] > 0.3, r["job_vs_bare"]
    rss = r["worker_peak_rss"]
    assert rss["exit_code"] == 0 and rss["thumbnails_made"] == 2 and rss["peak_rss_mib"] < 200, rss
    assert r["verify"]["ratio"] > 0.4, r["verify"]
