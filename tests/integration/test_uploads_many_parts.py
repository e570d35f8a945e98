"""More than 1,000 parts: ListParts pagination, and the service's per-part S3 check past part 1,000.
S3 only enforces the 5 MiB minimum when completing, so tiny parts stand in for 5 MiB ones."""

from __future__ import annotations

import asyncio

from tests.integration.uploads_support import PART, http, init, report, storage  # noqa: F401

COUNT = 1003


async def test_list_parts_paginates_past_1000_and_the_service_checks_part_1002(client, user, storage, http):
    up = await init(client, user.headers, COUNT * PART)
    fid, key = up["fileId"], f"objects/{up['fileId']}"
    assert up["partCount"] == COUNT
    urls: dict[int, str] = {}
    for chunk in (list(range(1, 1001)), list(range(1001, COUNT + 1))):
        r = await client.post(f"/files/{fid}/part-urls", json={"partNumbers": chunk}, headers=user.headers)
        assert r.status_code == 200, r.text
        urls.update({p["partNumber"]: p["url"] for p in r.json()["parts"]})
    sem = asyncio.Semaphore(16)

    async def put(n: int) -> None:
        async with sem:
            r = await http.put(urls[n], content=str(n).encode())
            assert r.status_code == 200, r.text

    await asyncio.gather(*(put(n) for n in range(1, COUNT + 1)))

    listed = await storage.list_parts(key, up["uploadId"])               # two pages of 1,000
    assert [p.part_number for p in listed] == list(range(1, COUNT + 1))
    assert [p.size for p in listed[-3:]] == [4, 4, 4]
    small = await storage.list_parts(key, up["uploadId"], page_size=100)  # eleven pages
    assert small == listed
    (part,) = await storage.get_part(key, up["uploadId"], 1002)
    assert part == listed[1001]
    assert await storage.get_part(key, up["uploadId"], COUNT + 1) == []

    # the service finds part 1002 in S3 and refuses it for its size (4 bytes, not 5 MiB)
    r = await report(client, user.headers, fid, 1002, part.etag)
    assert r.status_code == 409 and r.json()["code"] == "part_size_mismatch", r.text
    assert "4 bytes" in r.json()["message"]
    r = await report(client, user.headers, fid, 1002, "f" * 32)
    assert r.status_code == 409 and r.json()["code"] == "etag_mismatch"
    assert (await client.delete(f"/files/{fid}/upload", headers=user.headers)).status_code == 204
