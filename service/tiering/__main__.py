"""Operator report: python -m service.tiering report — files and bytes per tier."""

from __future__ import annotations

import argparse
import asyncio
import json

import asyncpg

from service.config import load_settings
from service.tiering import queries


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


async def report(as_json: bool) -> str:
    settings = load_settings()
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = {r["tier"]: (int(r["files"]), int(r["bytes"])) for r in await queries.tier_report(conn)}
    finally:
        await conn.close()
    data = {tier: {"files": rows.get(tier, (0, 0))[0], "bytes": rows.get(tier, (0, 0))[1]} for tier in ("hot", "cold")}
    total = sum(v["bytes"] for v in data.values()) or 1
    if as_json:
        return json.dumps({**data, "coldShare": data["cold"]["bytes"] / total, "coldMode": settings.cold_tier_mode})
    lines = [f"{'tier':<6}{'files':>10}{'bytes':>16}{'share':>8}"]
    for tier, v in data.items():
        lines.append(f"{tier:<6}{v['files']:>10}{_human(v['bytes']):>16}{v['bytes'] / total:>8.0%}")
    lines.append(f"cold tier mode: {settings.cold_tier_mode}; bucket {settings.s3_cold_bucket}"
                 f" on {settings.s3_cold_endpoint or settings.s3_endpoint}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m service.tiering")
    parser.add_argument("command", choices=["report"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(asyncio.run(report(args.json)))


if __name__ == "__main__":
    main()
