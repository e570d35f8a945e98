"""What the reliability tests share: talking to an API process over real HTTP (users, uploads,
multipart), and the one invariant every fault must leave intact: nothing lost — every
`available` file has its object in storage, whole, with the bytes its sha256 names."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid

import asyncpg
import httpx

from service.storage import ObjectMissing, Storage
from tests.conftest import UserCtx

BOUNDARY = "rElIaBiLiTyBoUnDaRy"


async def register(http: httpx.AsyncClient, base: str = "", password: str = "correct-horse-1") -> UserCtx:
    name = f"r{secrets.token_hex(6)}"
    r = await http.post(f"{base}/auth/register", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    t = await http.post(f"{base}/auth/token", json={"username": name, "password": password})
    assert t.status_code == 200, t.text
    return UserCtx(name, password, t.json()["token"], r.json()["id"])


def form_body(data: bytes, name: str = "file.bin", content_type: str = "application/octet-stream",
              sha256: str | None = None) -> tuple[bytes, dict[str, str]]:
    head = b""
    if sha256:
        head += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n{sha256}\r\n').encode()
    head += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def upload_small(http: httpx.AsyncClient, user: UserCtx, data: bytes, name: str = "file.bin",
                       base: str = "", **kwargs) -> httpx.Response:
    body, headers = form_body(data, name, **kwargs)
    return await http.post(f"{base}/files", content=body, headers={**user.headers, **headers})


async def put_part(http: httpx.AsyncClient, url: str, body: bytes) -> str:
    r = await http.put(url, content=body)
    assert r.status_code == 200, f"S3 refused the part: {r.status_code} {r.text[:300]}"
    return r.headers["etag"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_json_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, f"{r.status_code} {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == status and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


async def hash_stored(store: Storage, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    async for chunk in store.iter_range(key):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def assert_nothing_lost(pool: asyncpg.Pool | asyncpg.Connection, store: Storage, user_ids: list[str],
                              expected: dict[str, bytes] | None = None) -> int:
    """Every available (or verifying) file of these users has its whole object in storage, and
    the stored bytes hash to the row's sha256 (and to what the test sent, when given: file id
    -> bytes). Returns how many files were checked."""
    rows = await pool.fetch(
        "SELECT id, size, sha256, object_key, status FROM files WHERE user_id = any($1::uuid[])"
        " AND status IN ('available', 'verifying')", [uuid.UUID(u) for u in user_ids])
    problems = []
    for row in rows:
        try:
            size, digest = await hash_stored(store, row["object_key"])
        except ObjectMissing:
            problems.append(f"{row['id']} ({row['status']}): object missing")
            continue
        if size != row["size"]:
            problems.append(f"{row['id']}: {size} bytes stored, row says {row['size']}")
        if row["sha256"] and row["sha256"] != digest:
            problems.append(f"{row['id']}: stored sha256 {digest} != row {row['sha256']}")
        sent = (expected or {}).get(str(row["id"]))
        if sent is not None and sha256(sent) != digest:
            problems.append(f"{row['id']}: stored bytes differ from the bytes sent")
    assert not problems, problems
    return len(rows)


async def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
