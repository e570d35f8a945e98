"""Postgres restarted (a cluster of the test's own) while clients keep sending requests to the
API process: requests during the outage get 503 JSON (never a 500), the API's pool recovers
within seconds without restarting the API, and every request after that succeeds."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio

from service.migrate import migrate_url
from tests.reliability.procs import ApiProc, OwnPostgres
from tests.reliability.support import register, upload_small

RECOVERY_SECONDS = 5.0


@pytest.fixture(scope="module")
def own_pg():
    pg = OwnPostgres()
    try:
        pg.init().start()
        yield pg
    finally:
        pg.destroy()


@pytest_asyncio.fixture(loop_scope="session")
async def pg_settings(settings, own_pg):
    url = own_pg.url.rsplit("/", 1)[0] + "/mybox"
    await migrate_url(url)
    return msgspec.structs.replace(settings, database_url=url)


@dataclass
class Outcome:
    at: float
    what: str
    status: int  # -1: the connection failed
    body: str


async def _traffic(api: ApiProc, user, file_id: str, stop: asyncio.Event, log: list[Outcome], start: float,
                   worker: int) -> None:
    h = user.headers
    calls = [
        ("list", lambda c: c.get("/files", headers=h)),
        ("me", lambda c: c.get("/me", headers=h)),
        ("download", lambda c: c.get(f"/files/{file_id}", headers=h)),
        ("metadata", lambda c: c.get(f"/files/{file_id}/metadata", headers=h)),
        ("upload", lambda c: upload_small(c, user, os.urandom(2048), f"w{worker}.bin")),
        ("login", lambda c: c.post("/auth/token", json={"username": user.username, "password": user.password})),
    ]
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as c:
        i = worker
        while not stop.is_set():
            what, call = calls[i % len(calls)]
            i += 1
            try:
                r = await call(c)
                log.append(Outcome(time.monotonic() - start, what, r.status_code, r.text[:300]))
            except httpx.TransportError as exc:
                log.append(Outcome(time.monotonic() - start, what, -1, repr(exc)))
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgres_restart_while_requests_run(pg_settings, own_pg, http, tmp_path, mode):
    api = await asyncio.to_thread(ApiProc(tmp_path, pg_settings).start)
    try:
        user = await register(http, api.url)
        r = await upload_small(http, user, b"bytes from before the restart", "before.txt", base=api.url)
        assert r.status_code == 201, r.text
        file_id = r.json()["id"]
        pid = api.pid

        log: list[Outcome] = []
        stop = asyncio.Event()
        start = time.monotonic()
        tasks = [asyncio.create_task(_traffic(api, user, file_id, stop, log, start, w)) for w in range(6)]
        await asyncio.sleep(1.5)
        down_at = time.monotonic() - start
        await asyncio.to_thread(own_pg.stop, mode)
        await asyncio.sleep(1.0)  # requests meet a stopped database for a while
        await asyncio.to_thread(own_pg.start)
        up_at = time.monotonic() - start
        await asyncio.sleep(RECOVERY_SECONDS + 3)
        stop.set()
        await asyncio.gather(*tasks)

        assert api.running and api.pid == pid  # the same API process throughout
        before = [o for o in log if o.at < down_at]
        during = [o for o in log if down_at <= o.at < up_at + RECOVERY_SECONDS]
        after = [o for o in log if o.at >= up_at + RECOVERY_SECONDS]
        summary = {name: Counter((o.what, o.status) for o in part)
                   for name, part in (("before", before), ("during", during), ("after", after))}
        assert before and during and len(after) > 50, summary
        assert all(o.status in (200, 201) for o in before), summary
        # during the outage: success or 503 JSON, never a 500, never a dropped connection
        bad = [o for o in during if o.status not in (200, 201, 503)]
        assert not bad, (bad[:5], summary)
        assert any(o.status == 503 for o in during), summary  # the outage was real
        for o in during:
            if o.status == 503:
                assert '"status":503' in o.body, o
        # recovered within RECOVERY_SECONDS of Postgres being back: everything succeeds after
        failed_after = [o for o in after if o.status not in (200, 201)]
        assert not failed_after, (failed_after[:5], summary)
        first_ok = min(o.at for o in log if o.at >= up_at and o.status in (200, 201))
        print(f"\n{mode}: down at {down_at:.1f}s, up at {up_at:.1f}s, first success {first_ok - up_at:.2f}s later;"
              f" {summary}")

        # nothing lost: every upload the API confirmed is a row, and the row's bytes download
        confirmed = sum(1 for o in log if o.what == "upload" and o.status == 201)
        conn = await asyncpg.connect(pg_settings.database_url)
        try:
            rows = await conn.fetchval("SELECT count(*) FROM files WHERE user_id = $1::uuid AND status = 'available'",
                                       user.id)
        finally:
            await conn.close()
        assert rows == confirmed + 1
    finally:
        api.stop()


async def test_postgres_restart_while_idle_first_requests_succeed(pg_settings, own_pg, http, tmp_path):
    """Restarted while the API sat idle: the pool's connections all died, and the very first
    requests afterwards still succeed (a dead pooled connection is replaced at BEGIN)."""
    api = await asyncio.to_thread(ApiProc(tmp_path, pg_settings).start)
    try:
        user = await register(http, api.url)
        for _ in range(5):  # several pooled connections in use before the restart
            await asyncio.gather(*(http.get(f"{api.url}/me", headers=user.headers) for _ in range(4)))
        await asyncio.to_thread(own_pg.stop, "fast")
        await asyncio.to_thread(own_pg.start)
        results = await asyncio.gather(*(http.get(f"{api.url}/files", headers=user.headers) for _ in range(8)))
        assert [r.status_code for r in results] == [200] * 8, [r.text for r in results]
        assert (await http.get(f"{api.url}/readyz")).status_code == 200
    finally:
        api.stop()
