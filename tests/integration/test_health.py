import shutil
import subprocess
import time

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from tests.conftest import free_port, make_settings


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"postgres": "ok", "s3": "ok", "redis": "ok"}


async def test_openapi_served(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/auth/register" in paths and "/me" in paths


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary")
async def test_readyz_names_a_stopped_redis(settings):
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.1)
        app = create_app(make_settings(settings, redis_url=f"redis://127.0.0.1:{port}/0"))
        async with AsyncTestClient(app=app) as c:
            assert (await c.get("/readyz")).status_code == 200
            proc.terminate()
            proc.wait(10)
            r = await c.get("/readyz")
            assert r.status_code == 503
            body = r.json()
            assert "redis" in body["message"] and body["checks"]["redis"].startswith("failed")
            assert body["checks"]["postgres"] == "ok" and body["checks"]["s3"] == "ok"
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_readyz_names_unreachable_s3(settings):
    app = create_app(make_settings(settings, s3_endpoint=f"http://127.0.0.1:{free_port()}"))
    async with AsyncTestClient(app=app) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert "s3" in r.json()["message"] and r.json()["checks"]["redis"] == "ok"
