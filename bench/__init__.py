"""Benchmarks: `make bench` (python -m bench) runs every bench/bench_*.py module's
`async def run(quick: bool) -> dict` on the local stack and writes bench/results/<name>.json."""
