"""The exact commands compose.yaml and deploy/Dockerfile run (migrate, the api and worker
healthchecks), run here as processes against the real services. Only `python` and `arq` are
swapped for this venv's; inside the image they are the same programs on PATH. (cwd=ROOT so this
checkout's code is imported, not whatever the shared venv's editable install points at.)"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import yaml

from service.db import drop_database
from service.migrate import available_migrations
from tests.conftest import ROOT, free_port, settings_env

VENV_BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def local(argv: list[str]) -> list[str]:
    """A container command with this venv's python/arq in place of the image's."""
    head = {"python": sys.executable, "arq": str(VENV_BIN / "arq")}.get(argv[0], argv[0])
    return [head, *argv[1:]]


def healthcheck(service: str) -> list[str]:
    test = COMPOSE[service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return local(test[1:])


def dockerfile_healthcheck() -> list[str]:
    import json
    line = next(l for l in (ROOT / "deploy/Dockerfile").read_text().splitlines() if l.strip().startswith("CMD [\"python\", \"-c\""))
    return local(json.loads(line.strip()[4:]))


async def test_migrate_command_builds_the_schema_and_is_rerunnable(endpoints, settings):
    db_url = settings.database_url.rsplit("/", 1)[0] + f"/mybox_deploy_{secrets.token_hex(4)}"
    env = {**os.environ, **settings_env(settings), "MYBOX_DATABASE_URL": db_url}
    try:
        for _ in range(2):  # compose runs it on every `up`: the second run must change nothing
            run = subprocess.run(local(COMPOSE["migrate"]["command"]), env=env, cwd=ROOT, capture_output=True,
                                 text=True, timeout=60)
            assert run.returncode == 0, run.stderr
        conn = await asyncpg.connect(db_url)
        try:
            versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
            assert versions == [v for v, _ in available_migrations()]
            assert await conn.fetchval("SELECT count(*) FROM information_schema.tables WHERE table_name = 'files'") == 1
        finally:
            await conn.close()
    finally:
        await drop_database(db_url)


def test_api_healthchecks_pass_on_a_ready_api_and_fail_on_a_dead_port(live_server):
    env = {**os.environ, "MYBOX_API_PORT": str(live_server.port)}
    for argv in (healthcheck("api"), dockerfile_healthcheck()):
        assert subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=20).returncode == 0, argv
        dead = {**env, "MYBOX_API_PORT": str(free_port())}
        assert subprocess.run(argv, env=dead, cwd=ROOT, capture_output=True, timeout=20).returncode != 0, argv


def test_worker_healthcheck_follows_a_real_worker(settings):
    env = {**os.environ, **settings_env(settings), "MYBOX_JOB_QUEUE": f"mybox:deploytest:{secrets.token_hex(4)}"}
    check = healthcheck("worker")
    assert subprocess.run(check, env=env, cwd=ROOT, capture_output=True, timeout=30).returncode != 0, \
        "healthy before any worker ran"
    worker = subprocess.Popen(local(COMPOSE["worker"]["command"]), env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert worker.poll() is None, "worker exited"
            if subprocess.run(check, env=env, cwd=ROOT, capture_output=True, timeout=30).returncode == 0:
                break
            assert time.monotonic() < deadline, "worker never reported healthy"
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert worker.returncode is not None
