"""One real upload of more than 1 GiB through presigned parts (slow: `make test-all`)."""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

from tests.integration.uploads_support import http, init, put_part, report, storage  # noqa: F401
from service.uploads.partsize import GiB, MiB

SIZE = GiB + 3 * MiB + 17


def part_data(n: int, part_size: int) -> bytes:
    """Deterministic, incompressible bytes of part n (regenerated instead of kept in memory)."""
    length = min(part_size, SIZE - (n - 1) * part_size)
    return random.Random(n).randbytes(length)


@pytest.mark.slow
async def test_a_one_gib_upload_through_presigned_parts(client, user, storage, http):
    up = await init(client, user.headers, SIZE, part_size=None, name="big.mkv")
    fid, ps, count = up["fileId"], up["partSize"], up["partCount"]
    assert ps == 16 * MiB and count == 65
    urls = {p["partNumber"]: p["url"] for p in up["parts"]}
    queue = list(range(count, 0, -1))   # last part first: order does not matter

    async def uploader() -> None:
        while queue:
            n = queue.pop()
            etag = await put_part(http, urls[n], part_data(n, ps))
            r = await report(client, user.headers, fid, n, etag)
            assert r.status_code == 200, r.text

    await asyncio.gather(*(uploader() for _ in range(2)))
    st = (await client.get(f"/files/{fid}/upload", headers=user.headers)).json()
    assert st["status"] == "available"
    assert (await storage.stat(f"objects/{fid}")).size == SIZE
    expected, got = hashlib.sha256(), hashlib.sha256()
    for n in range(1, count + 1):
        expected.update(part_data(n, ps))
    async for chunk in storage.iter_range(f"objects/{fid}"):
        got.update(chunk)
    assert got.hexdigest() == expected.hexdigest()
    await storage.remove(f"objects/{fid}")
