"""compose.yaml and .env.example, checked with the real Compose parser (its JSON-schema validation
and interpolation) plus the rules of issue 8: healthchecks, dependency conditions, volumes,
pinned images, no secrets in the file, and every MYBOX_* setting in step with service.config."""

from __future__ import annotations

import re
import subprocess

import pytest

from service.config import Settings, load_settings, setting_names
from tests.unit.deploy_support import (ROOT, compose_project, fake_executable, make_env, parse_env_lines,
                                       raw_compose, rendered_config, run_compose)

APP_SERVICES = ("migrate", "api", "worker")
ONE_SHOTS = {"minio-init", "migrate"}
SECRET_NAMES = ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "MYBOX_S3_SECRET_KEY")


@pytest.fixture(scope="module")
def env_text(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("env") / ".env"
    make_env(path, public_host="files.example.lan")
    return path.read_text()


@pytest.fixture(scope="module")
def config(tmp_path_factory, env_text) -> dict:
    return rendered_config(tmp_path_factory.mktemp("compose"), env_text)


def go_duration_seconds(value: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a Go duration: {value!r}"
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def default_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


# --- the real parser ------------------------------------------------------------------------------
def test_compose_config_accepts_the_file_with_a_generated_env(config):
    assert set(config["services"]) == {"minio", "minio-init", "postgres", "redis", "migrate", "api", "worker", "proxy"}


def test_compose_config_refuses_to_start_without_the_secrets(tmp_path):
    result = run_compose(compose_project(tmp_path, env_text=None), "config", "--quiet")
    assert result.returncode != 0
    for name in SECRET_NAMES:
        assert f"required variable {name} is missing" in result.stderr


def test_compose_config_rejects_an_unknown_key(tmp_path, env_text):
    project = compose_project(tmp_path, env_text)
    path = project / "compose.yaml"
    path.write_text(path.read_text().replace("  api:\n", "  api:\n    replicaz: 3\n", 1))
    result = run_compose(project, "config", "--quiet")
    assert result.returncode != 0 and "replicaz" in result.stderr


# --- services, health, dependencies ---------------------------------------------------------------
def test_every_service_has_an_image_and_long_running_ones_a_healthcheck(config):
    for name, svc in config["services"].items():
        assert svc.get("image"), name
        if name in ONE_SHOTS:
            assert svc["restart"] == "no", name
        else:
            assert svc["restart"] == "unless-stopped", name
            check = svc.get("healthcheck", {})
            assert not check.get("disable") and check.get("test"), f"{name} has no healthcheck"


def test_one_shots_are_awaited_by_a_long_running_service(config):
    """`docker compose up --wait` only accepts an exited container that someone depends on this way."""
    for one_shot in ONE_SHOTS:
        waiters = [n for n, s in config["services"].items() if n not in ONE_SHOTS
                   and s.get("depends_on", {}).get(one_shot, {}).get("condition") == "service_completed_successfully"]
        assert waiters, f"nobody waits for {one_shot} to finish"


def test_api_and_worker_wait_for_healthy_services_and_a_finished_migration(config):
    for name in ("api", "worker"):
        deps = {k: v["condition"] for k, v in config["services"][name]["depends_on"].items()}
        assert deps == {"postgres": "service_healthy", "redis": "service_healthy", "minio": "service_healthy",
                        "minio-init": "service_completed_successfully",
                        "migrate": "service_completed_successfully"}, name
    assert config["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert config["services"]["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_one_image_three_commands(config):
    s = config["services"]
    assert s["api"]["image"] == s["worker"]["image"] == s["migrate"]["image"] == "mybox:latest"
    assert s["migrate"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert {s[n]["pull_policy"] for n in APP_SERVICES} == {"never"}  # no registry is asked for "mybox"
    assert s["api"]["command"] == ["python", "-m", "service"]
    assert s["worker"]["command"] == ["arq", "worker.main.WorkerSettings"]
    assert s["migrate"]["command"] == ["python", "-m", "service.migrate"]
    assert s["worker"]["healthcheck"]["test"] == ["CMD", "arq", "--check", "worker.main.WorkerSettings"]


def test_api_and_worker_can_be_scaled(config):
    """No fixed container name or host port: `--scale api=3` must not collide; the proxy publishes."""
    for name in ("api", "worker"):
        svc = config["services"][name]
        assert "container_name" not in svc and not svc.get("ports"), name
        assert svc["deploy"]["replicas"] == 1
    proxy_ports = config["services"]["proxy"]["ports"]
    assert [(p["target"], p["published"]) for p in proxy_ports] == [(8080, "8000")]
    assert [(p["target"], p["published"]) for p in config["services"]["minio"]["ports"]] == [(9000, "9000")]
    assert config["services"]["api"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"


def test_data_lives_in_declared_named_volumes(config):
    declared = set(config.get("volumes", {}))
    wanted = {"postgres": "/var/lib/postgresql/data", "redis": "/data", "minio": "/data"}
    for name, target in wanted.items():
        mounts = config["services"][name].get("volumes", [])
        named = [m for m in mounts if m["type"] == "volume" and m["target"] == target]
        assert named and named[0]["source"] in declared, f"{name} keeps {target} outside a named volume"
    for name, svc in config["services"].items():
        for m in svc.get("volumes", []):
            if m["type"] == "volume":
                assert m["source"] in declared, f"{name} uses undeclared volume {m['source']}"


def test_redis_keeps_jobs_across_restarts(config):
    cmd = config["services"]["redis"]["command"]
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    assert cmd[cmd.index("--maxmemory-policy") + 1] == "noeviction"


def test_third_party_images_are_pinned(config):
    for name, svc in config["services"].items():
        if name in APP_SERVICES:
            continue
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d+[.-]\d+", tag), f"{name}: {image} is not pinned"


def test_minio_keeps_abandoned_uploads_longer_than_the_upload_ttl(config, env_text):
    env = config["services"]["minio"]["environment"]
    expiry = go_duration_seconds(env["MINIO_API_STALE_UPLOADS_EXPIRY"])
    ttl = load_settings(parse_env_lines(env_text), dotenv=None).upload_ttl_seconds
    assert expiry > ttl and expiry > Settings().upload_ttl_seconds
    assert go_duration_seconds(env["MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL"]) < expiry


def test_browser_facing_urls_come_from_env(config):
    env = config["services"]["api"]["environment"]
    assert env["MYBOX_S3_PUBLIC_ENDPOINT"] == "http://files.example.lan:9000"
    assert env["MYBOX_CORS_ORIGINS"] == "http://files.example.lan:8000"
    assert config["services"]["minio"]["environment"]["MINIO_API_CORS_ALLOW_ORIGIN"] == env["MYBOX_CORS_ORIGINS"]
    assert env["MYBOX_API_HOST"] == "0.0.0.0" and env["MYBOX_S3_ENDPOINT"] == "http://minio:9000"


# --- secrets -------------------------------------------------------------------------------------
def test_no_secret_is_written_in_compose_yaml():
    for name, svc in raw_compose()["services"].items():
        env = svc.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET", key):
                assert value is None or re.fullmatch(r"\$\{[A-Z0-9_]+:[?-][^}]*\}", str(value)), f"{name}.{key}"
        # .env also holds the root passwords: app containers get their settings one by one instead
        assert "env_file" not in svc, name
    db_url = raw_compose()["services"]["api"]["environment"]["MYBOX_DATABASE_URL"]
    assert db_url.startswith("postgresql://mybox:${POSTGRES_PASSWORD:?"), db_url


def test_app_containers_do_not_get_the_root_passwords(config, env_text):
    secrets = parse_env_lines(env_text)
    for name in APP_SERVICES:
        env = config["services"][name]["environment"]
        assert not [k for k in env if k.startswith(("POSTGRES_", "MINIO_"))], name
        assert secrets["MINIO_ROOT_PASSWORD"] not in str(env)
    assert secrets["MINIO_ROOT_PASSWORD"] not in str(config["services"]["proxy"])


def test_env_example_commits_no_secret_and_env_is_ignored():
    example = parse_env_lines((ROOT / ".env.example").read_text())
    for name in SECRET_NAMES:
        assert example[name] == "", f".env.example must leave {name} empty"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignored and "!.env" not in ignored


# --- settings in step with service.config --------------------------------------------------------
def test_every_mybox_name_in_compose_and_env_example_is_a_setting():
    known = set(setting_names())
    for path in (ROOT / "compose.yaml", ROOT / ".env.example"):
        used = set(re.findall(r"MYBOX_[A-Z0-9_]+", path.read_text()))
        assert used and used <= known, f"{path.name} names unknown settings: {sorted(used - known)}"


def test_every_setting_reaches_the_app_containers_and_is_documented(config):
    names = set(setting_names())
    for name in APP_SERVICES:
        missing = names - set(config["services"][name]["environment"])
        assert not missing, f"compose.yaml does not pass {sorted(missing)} to {name} (add them to x-mybox)"
    text = (ROOT / ".env.example").read_text()
    listed = set(parse_env_lines(text)) | set(parse_env_lines(text, commented=True))
    assert not names - listed, f".env.example does not list {sorted(names - listed)}"


def test_documented_defaults_are_the_real_defaults():
    defaults = {"MYBOX_" + f.upper(): default_text(getattr(Settings(), f)) for f in Settings.__struct_fields__}
    for key, value in parse_env_lines((ROOT / ".env.example").read_text(), commented=True).items():
        assert value == defaults[key], f".env.example says {key}={value}, the code says {defaults[key]}"
    for key, value in re.findall(r"\$\{(MYBOX_[A-Z0-9_]+):-([^}]*)\}", (ROOT / "compose.yaml").read_text()):
        expected = {"MYBOX_S3_ACCESS_KEY": "mybox"}.get(key, defaults[key])
        assert value == expected, f"compose.yaml defaults {key} to {value}, the code to {defaults[key]}"


def test_generated_env_is_a_valid_settings_file(tmp_path):
    path = tmp_path / ".env"
    make_env(path)
    s = load_settings({}, dotenv=path)
    assert len(s.s3_secret_key) == 32 and s.s3_access_key == "mybox"


# --- make env / make up ----------------------------------------------------------------------------
def test_make_env_fills_fresh_secrets_and_never_overwrites(tmp_path):
    first, second = make_env(tmp_path / "a.env"), make_env(tmp_path / "b.env")
    for name in SECRET_NAMES:
        assert re.fullmatch(r"[0-9a-f]{32}", first[name]), name  # MinIO wants 8-40 characters
        assert first[name] != second[name]
    assert len({first[n] for n in SECRET_NAMES}) == 3
    assert (tmp_path / "a.env").stat().st_mode & 0o077 == 0
    before = (tmp_path / "a.env").read_text()
    again = subprocess.run([str(ROOT / "deploy/make-env.sh"), str(tmp_path / "a.env")], capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert (tmp_path / "a.env").read_text() == before


@pytest.mark.parametrize("engine_answers, expected", [(True, "docker compose up -d --wait"),
                                                      (False, "./deploy/local/stack.sh up")])
def test_make_up_picks_compose_only_when_an_engine_answers(tmp_path, engine_answers, expected):
    fake_executable(tmp_path, "docker", f'[ "$1" = info ] && exit {0 if engine_answers else 1}\nexit 0\n')
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(["make", "-n", "up"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout
    other = "./deploy/local/stack.sh up" if engine_answers else "docker compose up"
    assert other not in out.stdout
