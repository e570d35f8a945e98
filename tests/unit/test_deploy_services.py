"""How tests/conftest.py finds its services (tests/services.py), without Docker: environment URLs
first, testcontainers when `docker info` answers, else the local stack. Also checks the
testcontainers code against the installed library's API, since it cannot run here."""

from __future__ import annotations

import inspect

import pytest

from tests import services
from tests.unit.deploy_support import fake_executable

URLS = {"MYBOX_TEST_DATABASE_URL": "postgresql://u@db.example:5432/postgres",
        "MYBOX_TEST_REDIS_URL": "redis://cache.example:6379/0",
        "MYBOX_TEST_S3_ENDPOINT": "http://s3.example:9000"}


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """Put a `docker` on PATH whose `info` exits with the code given; returns its call log."""
    log = tmp_path / "docker.log"

    def install(info_exit: int, delay: float = 0) -> object:
        hang = f"exec /bin/sleep {delay}\n" if delay else ""  # exec: the killed process is the sleeper
        fake_executable(tmp_path / "bin", "docker",
                        f'echo "$*" >> "{log}"\n{hang}[ "$1" = info ] && exit {info_exit}\nexit 0\n')
        monkeypatch.setenv("PATH", str(tmp_path / "bin"))
        return log
    return install


def test_no_docker_binary_means_local(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert services.docker_engine_answers() is False
    assert services.choose_path({}) == "local"


def test_docker_client_without_engine_means_local(fake_docker):
    log = fake_docker(info_exit=1)
    assert services.choose_path({}) == "local"
    assert log.read_text().split() == ["info"]


def test_answering_engine_means_testcontainers(fake_docker):
    fake_docker(info_exit=0)
    assert services.choose_path({}) == "testcontainers"


def test_hanging_engine_counts_as_absent(fake_docker):
    fake_docker(info_exit=0, delay=5)
    assert services.docker_engine_answers(timeout=0.5) is False


def test_environment_urls_win_and_docker_is_not_asked(fake_docker):
    log = fake_docker(info_exit=0)
    assert services.choose_path(URLS) == "environment"
    assert not log.exists()
    ep = services.from_environment({**URLS, "MYBOX_TEST_S3_ACCESS_KEY": "k", "MYBOX_TEST_S3_SECRET_KEY": "s"})
    assert (ep.postgres_admin_url, ep.redis_url, ep.s3_endpoint, ep.s3_access_key, ep.s3_secret_key, ep.origin) == (
        URLS["MYBOX_TEST_DATABASE_URL"], URLS["MYBOX_TEST_REDIS_URL"], URLS["MYBOX_TEST_S3_ENDPOINT"], "k", "s",
        "environment")


def test_some_but_not_all_urls_is_an_error_naming_the_missing_ones():
    partial = {k: v for k, v in URLS.items() if k != "MYBOX_TEST_REDIS_URL"}
    with pytest.raises(RuntimeError, match="MYBOX_TEST_REDIS_URL"):
        services.choose_path(partial, docker_answers=lambda: pytest.fail("docker must not be asked"))


def test_empty_urls_count_as_unset(fake_docker):
    fake_docker(info_exit=1)
    assert services.choose_path({k: "" for k in URLS}) == "local"


def test_testcontainers_run_the_images_compose_pins():
    images = services.compose_images()
    assert images["postgres"].startswith("postgres:") and images["redis"].startswith("redis:")
    assert images["minio"].startswith("quay.io/minio/minio:RELEASE.")
    assert "api" not in images  # mybox's own image is built, not pinned


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_testcontainers_api_matches_what_services_uses():
    """The installed testcontainers must take the arguments and offer the methods used above."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.minio import MinioContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    pg = inspect.signature(PostgresContainer.__init__).parameters
    assert {"image", "username", "password", "dbname", "driver"} <= set(pg)
    assert "driver" in inspect.signature(PostgresContainer.get_connection_url).parameters
    assert {"image", "access_key", "secret_key"} <= set(inspect.signature(MinioContainer.__init__).parameters)
    assert "image" in inspect.signature(RedisContainer.__init__).parameters
    for method in ("with_env", "get_container_host_ip", "get_exposed_port", "__enter__", "__exit__"):
        assert callable(getattr(DockerContainer, method)), method
    source = inspect.getsource(MinioContainer)
    assert "/minio/health/live" in source  # it waits for MinIO's liveness endpoint before returning
