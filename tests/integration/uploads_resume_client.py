"""A fresh client process that resumes an interrupted upload knowing only the API URL, a token,
the file id and the local file: GET /upload tells what is done, part-urls signs the rest.
Prints {"sent": [...], "status": ...} as JSON. Used by test_uploads_resume.py."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx


async def main(api: str, token: str, file_id: str, path: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as c, httpx.AsyncClient(timeout=60) as s3:
        st = (await c.get(f"/files/{file_id}/upload")).raise_for_status().json()
        missing = sorted(set(range(1, st["partCount"] + 1)) - set(st["completedParts"]))
        urls = (await c.post(f"/files/{file_id}/part-urls", json={"partNumbers": missing})).raise_for_status().json()
        result = {}

        async def send(n: int, url: str) -> None:
            with open(path, "rb") as f:
                f.seek((n - 1) * st["partSize"])
                body = f.read(st["partSize"])
            r = (await s3.put(url, content=body)).raise_for_status()
            rep = await c.post(f"/files/{file_id}/part-complete", json={"partNumber": n, "etag": r.headers["etag"]})
            result[n] = rep.raise_for_status().json()["status"]

        await asyncio.gather(*(send(p["partNumber"], p["url"]) for p in urls["parts"]))
        final = (await c.get(f"/files/{file_id}/upload")).raise_for_status().json()
        return {"sent": sorted(result), "status": final["status"]}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:5]))))
