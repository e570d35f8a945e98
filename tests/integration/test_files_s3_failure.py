"""S3 failing during an upload leaves no available row. Uses its OWN SeaweedFS process on free
ports (the shared one is never touched) and kills it in the middle of a streamed upload."""

import asyncio
import json
import os
import subprocess
import time
import uuid

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from tests.conftest import LiveServer, free_port, make_settings, register_user
from tests.services import ROOT


class OwnWeed:
    def __init__(self, workdir, access_key: str, secret_key: str) -> None:
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        config = workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{"name": "mybox", "credentials": [
            {"accessKey": access_key, "secretKey": secret_key}], "actions": ["Admin", "Read", "Write", "List"]}]}))
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
        grpc = {name: free_port() for name in ports}
        self.endpoint = f"http://127.0.0.1:{ports['s3']}"
        args = [str(ROOT / ".venv/bin/weed"), "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", "-master.telemetry=false", f"-s3.config={config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", "-webdav=false",
                "-master.volumeSizeLimitMB=64"]
        args += [f"-{name}.port={port}" for name, port in ports.items()]
        args += [f"-{name}.port.grpc={port}" for name, port in grpc.items()]
        self.log = open(workdir / "weed.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "GOMEMLIMIT": "256MiB"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"own weed exited; see {workdir / 'weed.log'}")
            try:
                if httpx.get(self.endpoint + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError("own weed did not become healthy")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def own_weed(tmp_path, settings):
    weed = OwnWeed(tmp_path / "weed", settings.s3_access_key, settings.s3_secret_key)
    yield weed
    weed.kill()


async def _rows(settings, user_id: str) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch("SELECT status FROM files WHERE user_id = $1", uuid.UUID(user_id))
    finally:
        await conn.close()


async def test_s3_down_at_the_start_is_503_and_no_row(settings, client):
    u = await register_user(client)
    down = make_settings(settings, s3_endpoint=f"http://127.0.0.1:{free_port()}")
    async with AsyncTestClient(app=create_app(down)) as c:
        r = await c.post("/files", headers=u.headers, files={"file": ("a.bin", os.urandom(10_000))})
    assert r.status_code == 503 and r.json()["code"] == "storage_unavailable" and r.headers["retry-after"]
    assert await _rows(settings, u.id) == []


async def test_s3_dying_mid_upload_leaves_no_available_row(settings, client, own_weed):
    server = await asyncio.to_thread(LiveServer, settings, MYBOX_S3_ENDPOINT=own_weed.endpoint,
                                     MYBOX_S3_PUBLIC_ENDPOINT=own_weed.endpoint)
    try:
        u = await register_user(client)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            ok = await c.post("/files", headers=u.headers, files={"file": ("before.bin", b"S3 still up")})
            assert ok.status_code == 201, ok.text  # the own S3 works before it is killed

            async def body():
                yield b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doomed.bin\"\r\n\r\n"
                for i in range(48):  # 48 x 512 KiB = 24 MiB: multipart parts are in flight when S3 dies
                    if i == 24:
                        await asyncio.to_thread(own_weed.kill)
                    yield os.urandom(512 * 1024)
                yield b"\r\n--abc--\r\n"

            try:
                r = await c.post("/files", content=body(),
                                 headers={**u.headers, "Content-Type": "multipart/form-data; boundary=abc"})
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "storage_unavailable"
            except httpx.TransportError:
                pass  # the server may answer and close before the client has sent everything
            statuses = [row["status"] for row in await _rows(settings, u.id)]
            assert statuses == ["available"]  # only the upload from before; nothing for doomed.bin
            assert (await c.get("/healthz")).status_code == 200
            ready = await c.get("/readyz")
            assert ready.status_code == 503 and "s3" in ready.json()["message"]
    finally:
        server.stop()
