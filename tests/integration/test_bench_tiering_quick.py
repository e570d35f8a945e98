"""The quick form of the tiering benchmark: it runs, moves every file, reports sane numbers."""

from bench.bench_tiering import run


async def test_tiering_bench_quick():
    result = await run(quick=True)
    small, big = result["cases"]
    assert small["files"] == 50 and big["files"] == 1
    for case in (small, big):
        assert case["tiering_files_per_s"] > 0 and case["raw_copy_MiB_per_s"] > 0
        assert 0 < case["tiering_vs_raw_copy"] <= 5
