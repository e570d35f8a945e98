"""Resume after an interruption: a new client process continues an upload using only
GET /files/{id}/upload and part-urls, against the API running as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx

from tests.conftest import ROOT
from tests.integration.uploads_support import PART, http, part_of, put_part, storage, stored_bytes  # noqa: F401


async def test_a_new_client_process_resumes_with_only_the_rest_of_the_parts(live_server, user, storage, http,
                                                                              tmp_path):
    data = os.urandom(3 * PART + 4321)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    async with httpx.AsyncClient(base_url=live_server.url, headers=user.headers, timeout=60) as api:
        r = await api.post("/files/init-multipart", json={"name": "big.bin", "size": len(data), "partSize": PART})
        assert r.status_code == 201, r.text
        up = r.json()
        fid = up["fileId"]
        # the first client sends parts 1 and 3, reports them, and "crashes" with part 2 half sent
        urls = {p["partNumber"]: p["url"] for p in up["parts"]}
        for n in (1, 3):
            etag = await put_part(http, urls[n], part_of(data, PART, n))
            assert (await api.post(f"/files/{fid}/part-complete", json={"partNumber": n, "etag": etag})).status_code == 200
        await put_part(http, urls[2], part_of(data, PART, 2)[: PART // 2])   # S3 holds a short part 2
        st = (await api.get(f"/files/{fid}/upload")).json()
        assert st["completedParts"] == [1, 3] and st["status"] == "uploading" and st["partCount"] == 4

    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "tests/integration/uploads_resume_client.py"), live_server.url, user.token, fid,
        str(path), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    result = json.loads(out)
    assert result == {"sent": [2, 4], "status": "available"}
    assert await stored_bytes(storage, f"objects/{fid}") == data
