"""The load benchmark (bench/bench_load.py) in its quick form: 10 clients for 10 s against the
API process and a real worker. The full form (`python -m bench load`: 50 clients, 60 s) runs
with MYBOX_SLOW=1 / `make test-all`."""

from __future__ import annotations

import pytest

from bench import bench_load


def check(out: dict, clients: int) -> None:
    assert out["clients"] == clients
    assert out["server_errors"] == 0 and out["errors"] == [], out["errors"]
    assert out["range_mismatches"] == []
    ends = out["endpoints"]
    for label in ("POST /files", "POST /files/init-multipart", "POST /files/{id}/part-complete",
                  "GET /files (cursor)", "GET /files/{id} (Range)"):
        assert ends[label]["n"] > 0 and 0 < ends[label]["p50_ms"] <= ends[label]["p99_ms"], (label, ends.get(label))
        assert set(ends[label]["statuses"]) <= {"200", "201", "206", "409"}, (label, ends[label])
    stored = out["stored"]
    # nothing lost: every file a client was told was stored is available, whole, and hashes right
    assert stored["files"] > 0 and stored["verified"] == stored["files"] and stored["problems"] == []
    assert stored["multipart_files"] > 0 and stored["thumbnail_states"].get("done", 0) > 0
    for name in ("api", "worker"):
        rss = out["rss"][name]
        assert rss["samples"] >= 10 and rss["max_mib"] < 600, (name, rss)


async def test_quick_load_holds_with_nothing_lost():
    out = await bench_load.run(quick=True)
    check(out, 10)
    assert out["rss"]["api"]["growth_mib"] < 64, out["rss"]


@pytest.mark.slow
async def test_full_load_holds_with_flat_memory():
    out = await bench_load.run(quick=False)
    check(out, 50)
    assert out["duration_s"] >= 60
    assert out["rss"]["api"]["growth_mib"] < 64 and out["rss"]["worker"]["growth_mib"] < 128, out["rss"]
