"""The uploads benchmark in its quick form (the full form: `python -m bench uploads`)."""

from __future__ import annotations

import pytest

from bench import bench_uploads


async def test_quick_uploads_benchmark_measures_real_work():
    out = await bench_uploads.run(quick=True)
    # every request succeeded (the benchmark asserts each status) and was measured
    assert out["init_50gib"]["n"] == 20 and out["part_complete"]["n"] == 9
    assert 0 < out["init_50gib"]["p50_ms"] < 1000 and 0 < out["part_complete"]["p50_ms"] < 1000
    # both upload paths stored the whole object (checked with stat inside) at a real rate
    e2e = out["e2e"]
    assert e2e["presigned_mib_s"][0] > 1 and e2e["raw_s3_mib_s"][0] > 1 and e2e["ratio_median"] > 0.3
    # the sweep aborted every expired session in S3 and marked every file (asserted inside)
    assert out["sweep"]["sessions"] == 100 and out["sweep"]["sessions_per_s"] > 0


@pytest.mark.slow
async def test_full_uploads_benchmark_meets_its_targets():
    out = await bench_uploads.run(quick=False)
    assert out["targets"] == {"init_p50_lt_50ms": True, "part_complete_p50_lt_20ms": True, "e2e_ratio_ge_0.9": True}, out
