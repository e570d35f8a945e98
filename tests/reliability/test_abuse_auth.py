"""Abuse of the credentials: tokens are only stored hashed and never logged, expired tokens are
refused on every kind of route, and the failed-login throttle holds under a concurrent burst of
guesses (a real API process; its own Redis, so the address counter is this test's alone)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import httpx

from tests.reliability.procs import ApiProc
from tests.reliability.support import register, upload_small


async def test_tokens_and_passwords_are_stored_hashed_and_never_logged(settings, own_redis, http, tmp_path):
    api = await asyncio.to_thread(ApiProc(tmp_path, settings, MYBOX_LOG_LEVEL="DEBUG", MYBOX_REDIS_URL=own_redis.url).start)
    try:
        user = await register(http, api.url)
        session = await http.post(f"{api.url}/auth/session", json={"username": user.username,
                                                                   "password": user.password})
        assert session.status_code == 200
        cookie_token = session.cookies["mybox_session"]
        # traffic that logs: requests, a failed login, an error, an upload
        assert (await http.get(f"{api.url}/me", headers=user.headers)).status_code == 200
        await http.post(f"{api.url}/auth/token", json={"username": user.username, "password": "wrong-password"})
        await http.get(f"{api.url}/files/{uuid.uuid4()}", headers=user.headers)
        assert (await upload_small(http, user, b"x", base=api.url)).status_code == 201
    finally:
        api.stop()
    conn = await asyncpg.connect(settings.database_url)
    try:
        user_id = uuid.UUID(user.id)
        rows = await conn.fetch("SELECT * FROM api_tokens WHERE user_id = $1", user_id)
        stored = {bytes(r["token_sha256"]) for r in rows}
        assert stored == {hashlib.sha256(t.encode()).digest() for t in (user.token, cookie_token)}
        everything = repr([dict(r) for r in rows]) + repr(dict(await conn.fetchrow(
            "SELECT * FROM users WHERE id = $1", user_id)))
    finally:
        await conn.close()
    log = api.log()
    assert "GET /me" in log or "/me" in log, log[-2000:]  # the log did record requests
    for secret in (user.token, cookie_token, user.password, "wrong-password"):
        assert secret not in everything and secret not in log


async def test_expired_tokens_are_refused_everywhere(client, settings):
    from tests.conftest import register_user
    u = await register_user(client)
    upload = await client.post("/files", headers=u.headers, files={"file": ("a.txt", b"data")})
    fid = upload.json()["id"]
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_sha256 = $1",
                           hashlib.sha256(u.token.encode()).digest())
    finally:
        await conn.close()
    calls = [("GET", "/me", None), ("GET", "/files", None), ("GET", f"/files/{fid}", None),
             ("GET", f"/files/{fid}/metadata", None), ("GET", f"/files/{fid}/download-url", None),
             ("DELETE", f"/files/{fid}", None), ("POST", "/files/init-multipart", {"name": "a", "size": 10}),
             ("GET", f"/files/{fid}/upload", None)]
    for method, path, body in calls:
        r = await client.request(method, path, headers=u.headers, json=body)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized", (method, path, r.text)
    # as a session cookie too
    client.cookies.set("mybox_session", u.token)
    try:
        assert (await client.get("/me")).status_code == 401
    finally:
        client.cookies.clear()


async def test_failed_login_throttle_holds_under_a_concurrent_burst(settings, own_redis, tmp_path):
    """40 wrong guesses at once for one account: only the per-user limit (10) are even checked,
    the rest are 429, and afterwards the right password is refused too until the window ends."""
    api = await asyncio.to_thread(ApiProc(tmp_path, settings, MYBOX_REDIS_URL=own_redis.url).start)
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=60,
                                     limits=httpx.Limits(max_connections=40)) as c:
            user = await register(c)
            guesses = await asyncio.gather(*(c.post("/auth/token", json={"username": user.username,
                                                                          "password": f"guess-{i:04d}"})
                                             for i in range(40)))
            statuses = sorted(r.status_code for r in guesses)
            assert statuses.count(401) <= settings.login_fail_limit_user, statuses
            assert statuses.count(429) >= 40 - settings.login_fail_limit_user, statuses
            assert set(statuses) <= {401, 429}
            right = await c.post("/auth/token", json={"username": user.username, "password": user.password})
            assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
            # another account behind the same address is not locked out
            other = await register(c)
            ok = await c.post("/auth/token", json={"username": other.username, "password": other.password})
            assert ok.status_code == 200
    finally:
        api.stop()
