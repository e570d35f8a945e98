"""The worker as a real process: killed with SIGKILL mid-job, the work completes after a restart;
SIGTERM lets the running job finish; `arq --check` reports its health."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import images
from tests.conftest import settings_env
from tests.integration.worker_support import WorkerEnv, worker_env_fixture
from tests.services import ROOT
from worker.common import thumb_key

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
env = worker_env_fixture()

# every job timeout short: arq re-runs a dead worker's job once its in-progress marker expires,
# after the longest timeout + 10 s
SHORT_TIMEOUTS = {"MYBOX_THUMBNAIL_TIMEOUT_SECONDS": "3", "MYBOX_VERIFY_TIMEOUT_SECONDS": "3",
                  "MYBOX_PURGE_TIMEOUT_SECONDS": "3", "MYBOX_RECONCILE_TIMEOUT_SECONDS": "3",
                  "MYBOX_RECONCILE_GRACE_SECONDS": "600", "MYBOX_HEALTH_CHECK_INTERVAL_SECONDS": "1",
                  "MYBOX_SHUTDOWN_GRACE_SECONDS": "10", "MYBOX_LOG_LEVEL": "INFO"}


def start_worker(env: WorkerEnv, tmp: Path, name: str, *, delay: float = 0, burst: bool = False,
                 cli: bool = False) -> subprocess.Popen:
    proc_env = {**os.environ, **settings_env(env.settings), **SHORT_TIMEOUTS,
                "MYBOX_TEST_RENDER_DELAY": str(delay), "MYBOX_TEST_MARKER": str(tmp / f"{name}.started"),
                "MYBOX_TEST_BURST": "1" if burst else "0"}
    cmd = ([str(Path(sys.executable).parent / "arq"), "worker.main.WorkerSettings"] + (["--burst"] if burst else [])
           if cli else [sys.executable, "-m", "tests.integration.worker_proc"])
    log = open(tmp / f"{name}.log", "wb")
    return subprocess.Popen(cmd, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT)


async def in_queue(env: WorkerEnv, job_id: str) -> bool:
    return await env.redis.zscore(env.settings.job_queue, job_id) is not None


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_mid_job_then_restart_completes_the_work(env: WorkerEnv, tmp_path: Path):
    f = await env.put_file(images.encode(images.photo(1200, 900), "jpeg"), content_type="image/jpeg")
    assert await env.enqueue("thumbnail", f.id, "thumb")
    first = start_worker(env, tmp_path, "first", delay=60)
    try:
        await wait_for(lambda: asyncio.to_thread((tmp_path / "first.started").exists), 30, "the job to start")
        first.send_signal(signal.SIGKILL)  # no shutdown, no cleanup: as if the machine died
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    row = await env.row(f.id)
    assert row.thumbnail_state is None and row.thumbnail_attempts == 1  # it was mid-job
    assert not await env.storage.exists(thumb_key(f.id, 256))
    assert await in_queue(env, f"thumb:{f.id}")  # arq still holds the job: it was never finished

    # a fresh worker (the real CLI, burst mode) picks the job up once the dead one's marker expires
    started = time.monotonic()
    second = start_worker(env, tmp_path, "second", burst=True, cli=True)
    try:
        assert await asyncio.to_thread(second.wait, 60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    log = (tmp_path / "second.log").read_text()
    assert f"thumb:{f.id}:thumbnail" in log and "try=2" in log, log
    row = await env.row(f.id)
    assert row.thumbnail_state == "done" and row.thumbnail_attempts == 2
    assert await env.storage.exists(thumb_key(f.id, 256))
    assert not await in_queue(env, f"thumb:{f.id}")
    assert time.monotonic() - started < 30


async def test_sigterm_lets_the_running_job_finish_and_health_check_follows(env: WorkerEnv, tmp_path: Path):
    check_env = {**os.environ, **settings_env(env.settings), **SHORT_TIMEOUTS}
    arq = str(Path(sys.executable).parent / "arq")

    def check() -> int:
        return subprocess.run([arq, "--check", "worker.main.WorkerSettings"], cwd=ROOT, env=check_env,
                              capture_output=True, timeout=30).returncode

    assert await asyncio.to_thread(check) == 1  # no worker yet
    f = await env.put_file(images.encode(images.photo(800, 600), "png"), content_type="image/png")
    proc = start_worker(env, tmp_path, "graceful", delay=2)
    try:
        await wait_for(lambda: asyncio.to_thread(lambda: check() == 0), 30, "the health check to pass")
        assert await env.enqueue("thumbnail", f.id, "thumb")
        await wait_for(lambda: asyncio.to_thread((tmp_path / "graceful.started").exists), 30, "the job to start")
        proc.send_signal(signal.SIGTERM)  # mid-job: docker stop, a deploy
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    row = await env.row(f.id)
    assert row.thumbnail_state == "done", (tmp_path / "graceful.log").read_text()
    assert await env.storage.exists(thumb_key(f.id, 256))
    assert await asyncio.to_thread(check) == 1  # a stopped worker is reported unhealthy
