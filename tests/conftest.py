"""Shared fixtures: real Postgres, Redis and S3 (see tests/services.py for how they are found),
a fresh database and fresh buckets and job queue for this test session, the app, and users."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.config import Settings, load_settings
from service.db import drop_database
from service.migrate import migrate_url
from service.storage import Storage
from tests.services import ROOT, Endpoints, find_services


@pytest.fixture(scope="session")
def endpoints() -> Endpoints:
    with ExitStack() as stack:
        yield find_services(stack)


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


def _with_db(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, ""))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(endpoints: Endpoints, run_id: str) -> Settings:
    """Settings for this session: its own database, buckets and job queue, short timers."""
    db_url = _with_db(endpoints.postgres_admin_url, f"mybox_test_{run_id}")
    await migrate_url(db_url)
    env = {
        "MYBOX_DATABASE_URL": db_url,
        "MYBOX_REDIS_URL": endpoints.redis_url,
        "MYBOX_JOB_QUEUE": f"mybox:test:{run_id}:queue",
        "MYBOX_S3_ENDPOINT": endpoints.s3_endpoint,
        "MYBOX_S3_PUBLIC_ENDPOINT": endpoints.s3_endpoint,
        "MYBOX_S3_ACCESS_KEY": endpoints.s3_access_key,
        "MYBOX_S3_SECRET_KEY": endpoints.s3_secret_key,
        "MYBOX_S3_BUCKET": f"mybox-test-{run_id}",
        "MYBOX_S3_COLD_BUCKET": f"mybox-test-{run_id}-cold",
    }
    s = load_settings(env, dotenv=None)
    yield s
    for bucket in (s.s3_bucket, s.s3_cold_bucket):
        await _empty_and_remove_bucket(s, bucket)
    await drop_database(db_url)


async def _empty_and_remove_bucket(s: Settings, bucket: str) -> None:
    store = Storage(endpoint=s.s3_endpoint, public_endpoint=s.s3_endpoint, access_key=s.s3_access_key,
                    secret_key=s.s3_secret_key, region=s.s3_region, bucket=bucket)
    try:
        if not await store.client.bucket_exists(bucket):
            return
        async for key, _ in store.list_keys():
            await store.remove(key)
        await store.client.remove_bucket(bucket)
    except Exception as exc:  # leftovers in a test bucket must not fail the run
        print(f"note: could not remove test bucket {bucket}: {exc!r}", file=sys.stderr)
    finally:
        await store.close()


def settings_env(s: Settings) -> dict[str, str]:
    """The MYBOX_* environment that reproduces these settings in another process."""
    out = {}
    for field in s.__struct_fields__:
        value = getattr(s, field)
        if isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out["MYBOX_" + field.upper()] = str(value)
    return out


def make_settings(base: Settings, **changes) -> Settings:
    return msgspec.structs.replace(base, **changes)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(settings: Settings):
    return create_app(settings)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(app):
    """An in-process client driving the real app (lifespan included) against real services."""
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The API as a real process (uvicorn) on a free port."""

    def __init__(self, s: Settings, **overrides: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **settings_env(s), "MYBOX_API_PORT": str(self.port), "MYBOX_LOG_LEVEL": "WARNING",
               "MYBOX_CORS_ORIGINS": f"{self.url},{','.join(s.cors_origins)}", **overrides}
        self.log = open(ROOT / ".state" / f"test-api-{self.port}.log", "wb") if (ROOT / ".state").is_dir() else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("live API exited at start")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("live API did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def live_server(settings: Settings):
    server = LiveServer(settings)
    yield server
    server.stop()


class UserCtx(msgspec.Struct):
    username: str
    password: str
    token: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register_user(c, username: str | None = None, password: str = "correct-horse-1") -> UserCtx:
    username = username or f"u{secrets.token_hex(6)}"
    r = await c.post("/auth/register", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    t = await c.post("/auth/token", json={"username": username, "password": password})
    assert t.status_code == 200, t.text
    return UserCtx(username=username, password=password, token=t.json()["token"], id=r.json()["id"])


@pytest_asyncio.fixture(loop_scope="session")
async def user(client) -> UserCtx:
    return await register_user(client)


@pytest_asyncio.fixture(loop_scope="session")
async def other_user(client) -> UserCtx:
    return await register_user(client)
