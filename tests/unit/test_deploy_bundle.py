"""`make bundle` / `make load` (deploy/bundle.sh) with a stand-in `docker` on PATH: no engine exists
here, so the fake records each call and `save` writes a recognisable archive. What is real: the
image list (checked against Compose's own), the gzip + sha256 files, and the checksum gate."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy_support import ROOT, compose_project, fake_executable, make_env, run_compose

FAKE_DOCKER = """
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  save) shift; printf 'docker-archive:%s\\n' "$*" ;;
  build|pull|load) ;;
  *) echo "fake docker: unexpected $1" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def docker_log(tmp_path) -> Path:
    fake_executable(tmp_path / "bin", "docker", FAKE_DOCKER)
    return tmp_path / "docker.log"


def bundle(tmp_path: Path, log: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "FAKE_DOCKER_LOG": str(log)}
    return subprocess.run([str(ROOT / "deploy/bundle.sh"), *args], env=env, capture_output=True, text=True)


def third_party() -> list[str]:
    out = subprocess.run([str(ROOT / "deploy/bundle.sh"), "images"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bundle_image_list_is_what_compose_runs(tmp_path):
    env_path = tmp_path / ".env"
    make_env(env_path)
    result = run_compose(compose_project(tmp_path, env_path.read_text()), "config", "--images")
    assert result.returncode == 0, result.stderr
    assert sorted(set(result.stdout.split()) - {"mybox:latest"}) == third_party()
    assert len(third_party()) == 5


def test_bundle_builds_pulls_saves_and_checksums(tmp_path, docker_log):
    out_dir = tmp_path / "dist"
    result = bundle(tmp_path, docker_log, "save", "9.9.9", str(out_dir))
    assert result.returncode == 0, result.stderr
    calls = docker_log.read_text().splitlines()
    assert calls[0].startswith("build -f ") and "-t mybox:9.9.9 -t mybox:latest" in calls[0]
    assert calls[1:-1] == [f"pull {image}" for image in third_party()]
    assert calls[-1] == "save mybox:9.9.9 mybox:latest " + " ".join(third_party())

    archive = out_dir / "mybox-9.9.9-images.tar.gz"
    assert gzip.decompress(archive.read_bytes()).decode().startswith("docker-archive:mybox:9.9.9 mybox:latest")
    digest, name = (out_dir / "mybox-9.9.9-images.tar.gz.sha256").read_text().split()
    assert name == archive.name and digest == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert not list(out_dir.glob("*.partial"))


def test_load_verifies_then_loads(tmp_path, docker_log):
    assert bundle(tmp_path, docker_log, "save", "1.0.0", str(tmp_path / "dist")).returncode == 0
    docker_log.unlink()
    archive = tmp_path / "dist/mybox-1.0.0-images.tar.gz"
    result = bundle(tmp_path, docker_log, "load", str(archive))
    assert result.returncode == 0, result.stderr
    assert docker_log.read_text().splitlines() == [f"load -i {archive}"]


def test_load_refuses_a_damaged_bundle(tmp_path, docker_log):
    assert bundle(tmp_path, docker_log, "save", "1.0.0", str(tmp_path / "dist")).returncode == 0
    docker_log.unlink()
    archive = tmp_path / "dist/mybox-1.0.0-images.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = bundle(tmp_path, docker_log, "load", str(archive))
    assert result.returncode != 0 and "checksum mismatch" in result.stderr
    assert not docker_log.exists(), "docker load ran on a damaged bundle"


def test_load_refuses_a_bundle_without_its_checksum(tmp_path, docker_log):
    assert bundle(tmp_path, docker_log, "save", "1.0.0", str(tmp_path / "dist")).returncode == 0
    docker_log.unlink()
    archive = tmp_path / "dist/mybox-1.0.0-images.tar.gz"
    Path(f"{archive}.sha256").unlink()
    result = bundle(tmp_path, docker_log, "load", str(archive))
    assert result.returncode != 0 and ".sha256 is missing" in result.stderr
    assert not docker_log.exists()


def test_make_targets_call_the_script():
    out = subprocess.run(["make", "-n", "bundle", "load", "BUNDLE=/x/b.tar.gz"], cwd=ROOT, capture_output=True, text=True)
    version = [l for l in (ROOT / "pyproject.toml").read_text().splitlines() if l.startswith("version = ")][0]
    assert f'./deploy/bundle.sh save "{version.split(chr(34))[1]}" "dist"' in out.stdout
    assert "./deploy/bundle.sh load /x/b.tar.gz" in out.stdout
