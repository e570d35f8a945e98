"""python -m bench [NAME ...] [--quick]: run benchmarks, write bench/results/<name>.json."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def discover() -> list[str]:
    return sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if m.name.startswith("bench_"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"which benchmarks (default all: {', '.join(discover())})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.names or discover():
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}{' (quick)' if args.quick else ''}", flush=True)
        started = time.time()
        result = asyncio.run(module.run(quick=args.quick))
        result = {"benchmark": name, "quick": args.quick, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                  "seconds": round(time.time() - started, 1), **result}
        out = RESULTS / f"{name}{'-quick' if args.quick else ''}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
