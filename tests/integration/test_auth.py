import hashlib
import secrets

import asyncpg
import pytest

from service.auth.throttle import LoginThrottle
from tests.conftest import register_user


async def test_register_token_me(client):
    name = f"Al-{secrets.token_hex(4)}"
    r = await client.post("/auth/register", json={"username": name, "password": "s3cret-pass"})
    assert r.status_code == 201
    assert r.json()["username"] == name and len(r.json()["id"]) == 36
    # case-insensitive uniqueness
    r2 = await client.post("/auth/register", json={"username": name.upper(), "password": "s3cret-pass"})
    assert r2.status_code == 409 and r2.json()["code"] == "username_taken"
    t1 = (await client.post("/auth/token", json={"username": name, "password": "s3cret-pass"})).json()
    t2 = (await client.post("/auth/token", json={"username": name, "password": "s3cret-pass"})).json()
    assert t1["token"] != t2["token"] and t1["expiresAt"].endswith("Z")
    for tok in (t1["token"], t2["token"]):  # a new token never invalidates older ones
        me = await client.get("/me", headers={"Authorization": f"Bearer {tok}"})
        assert me.status_code == 200
        assert me.json() == {"id": r.json()["id"], "username": name, "usedBytes": 0, "fileCount": 0,
                             "usedBytesByTier": {"hot": 0, "cold": 0}}


async def test_tokens_stored_only_as_hash(client, settings):
    u = await register_user(client)
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT t.token_sha256 FROM api_tokens t JOIN users u ON u.id=t.user_id"
                                " WHERE u.username=$1", u.username)
        hashes = [bytes(r["token_sha256"]) for r in rows]
        assert hashlib.sha256(u.token.encode()).digest() in hashes
        dump = str(await conn.fetch("SELECT * FROM api_tokens"))
        assert u.token not in dump
        pw = await conn.fetchval("SELECT password_hash FROM users WHERE username=$1", u.username)
        assert pw.startswith("scrypt$") and u.password not in pw
    finally:
        await conn.close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer " + "x" * 43}, {"Authorization": "Bearer " + "y" * 5000}])
async def test_401_without_valid_token(client, headers):
    r = await client.get("/me", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == 401 and body["code"] == "unauthorized" and body["message"]


async def test_expired_token_rejected(client, settings):
    u = await register_user(client)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'"
                           " WHERE token_sha256 = $1", hashlib.sha256(u.token.encode()).digest())
    finally:
        await conn.close()
    assert (await client.get("/me", headers=u.headers)).status_code == 401


@pytest.mark.parametrize("body,field", [
    ({"username": "ab", "password": "longenough"}, "username"),
    ({"username": "x" * 65, "password": "longenough"}, "username"),
    ({"username": "x" * 10_000, "password": "longenough"}, "username"),
    ({"username": ".hidden", "password": "longenough"}, "username"),
    ({"username": "bad name", "password": "longenough"}, "username"),
    ({"username": "ünïcode", "password": "longenough"}, "username"),
    ({"username": "validname", "password": "short"}, "password"),
    ({"username": "validname", "password": "p" * 1025}, "password"),
    ({"username": "validname"}, "password"),
    ({"password": "longenough"}, "username"),
    ({"username": 12345, "password": "longenough"}, "username"),
    ({"username": "validname", "password": None}, "password"),
])
async def test_register_bad_input_is_400_naming_field(client, body, field):
    r = await client.post("/auth/register", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert field in r.json()["message"]


@pytest.mark.parametrize("raw", [b"{bad", b"", b"[]", b"null", b'"str"'])
async def test_malformed_json_is_400(client, raw):
    r = await client.post("/auth/token", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["status"] == 400


async def test_bad_credentials_401(client):
    u = await register_user(client)
    r = await client.post("/auth/token", json={"username": u.username, "password": "wrong-password"})
    assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
    r = await client.post("/auth/token", json={"username": "nobody-" + secrets.token_hex(4), "password": "whatever1"})
    assert r.status_code == 401


async def test_failed_logins_throttled_per_username(client):
    u = await register_user(client)
    for _ in range(10):
        r = await client.post("/auth/token", json={"username": u.username, "password": "wrong-password"})
        assert r.status_code == 401
    r = await client.post("/auth/token", json={"username": u.username, "password": u.password})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1 and r.json()["code"] == "rate_limited"
    # another user from the same address is not blocked, and successes never count
    other = await register_user(client)
    for _ in range(15):
        ok = await client.post("/auth/token", json={"username": other.username, "password": other.password})
        assert ok.status_code == 200


async def test_registrations_not_throttled(client):
    for _ in range(30):
        r = await client.post("/auth/register", json={"username": f"r{secrets.token_hex(6)}", "password": "pass-word-1"})
        assert r.status_code == 201


async def test_throttle_per_address(settings):
    from redis.asyncio import Redis
    redis = Redis.from_url(settings.redis_url)  # the test client runs the app on another loop
    throttle = LoginThrottle(redis, per_user=1000, per_addr=5, window=30)
    addr = f"10.9.{secrets.randbelow(255)}.{secrets.randbelow(255)}-{secrets.token_hex(3)}"
    for i in range(5):
        assert await throttle.attempt(f"name{i}", addr)  # counted; each one failed
    with pytest.raises(Exception) as info:
        await throttle.attempt("fresh-name", addr)
    assert getattr(info.value, "status", None) == 429
    await redis.aclose()


async def test_signup_disabled_403(settings):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import make_settings
    app = create_app(make_settings(settings, allow_signup=False))
    async with AsyncTestClient(app=app) as c:
        r = await c.post("/auth/register", json={"username": "someone", "password": "longenough"})
        assert r.status_code == 403 and r.json()["code"] == "signup_disabled"


async def test_session_cookie_and_csrf(client):
    u = await register_user(client)
    r = await client.post("/auth/session", json={"username": u.username, "password": u.password})
    assert r.status_code == 200
    set_cookie = r.headers.get_list("set-cookie")
    session = next(c for c in set_cookie if c.startswith("mybox_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower()
    csrf = r.json()["csrfToken"]
    cookies = {"mybox_session": session.split(";")[0].split("=", 1)[1], "mybox_csrf": csrf}
    client.cookies.update(cookies)
    try:
        me = await client.get("/me")
        assert me.status_code == 200 and me.json()["username"] == u.username
        # a state-changing request with the cookie but without the CSRF header is refused
        bad = await client.delete("/files/00000000-0000-0000-0000-000000000000")
        assert bad.status_code in (403, 404, 405)
        if bad.status_code == 403:
            assert "CSRF" in bad.json()["message"]
        out = await client.delete("/auth/session")
        assert out.status_code == 204
        client.cookies.update(cookies)
        assert (await client.get("/me")).status_code == 401  # the session token was revoked
    finally:
        client.cookies.clear()
