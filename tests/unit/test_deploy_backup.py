"""deploy/backup.sh (pg_dump + mc mirror) with a stand-in `docker`, and deploy/mc-mirror.sh with a
stand-in `mc`: the order of steps, where the data goes, and the refusals. pg_dump, pg_restore and
mc themselves run only where compose runs; this machine has no Docker engine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.unit.deploy_support import ROOT, fake_executable

FAKE_DOCKER = """
echo "$*" >> "$FAKE_LOG"
case "$*" in
  *"exec -T postgres pg_dump"*) printf 'PGDUMP-BYTES' ;;
  *"exec -T postgres pg_restore"*) cat > "$FAKE_RESTORED" ;;
esac
exit 0
"""

FAKE_MC = """
echo "$*" >> "$FAKE_LOG"
exit 0
"""


def run(tmp_path: Path, script: str, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bindir = tmp_path / "bin"
    fake_executable(bindir, "docker", FAKE_DOCKER)
    fake_executable(bindir, "mc", FAKE_MC)
    log = tmp_path / "calls.log"
    full = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_LOG": str(log),
            "FAKE_RESTORED": str(tmp_path / "restored"), **env}
    result = subprocess.run([str(ROOT / script), *args], env=full, capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return result, calls


def strip_project(call: str) -> str:
    return call.replace(f"compose --project-directory {ROOT} ", "compose ")


def test_backup_dumps_the_database_then_mirrors_the_buckets(tmp_path):
    target = tmp_path / "backups"
    result, calls = run(tmp_path, "deploy/backup.sh", "backup", str(target))
    assert result.returncode == 0, result.stderr
    calls = [strip_project(c) for c in calls]
    assert calls == [
        "compose exec -T postgres pg_dump -U mybox -d mybox --format=custom",
        f"compose run --rm --no-deps -T -v {target}:/backup -v {ROOT}/deploy/mc-mirror.sh:/mc-mirror.sh:ro "
        "--entrypoint /bin/sh minio-init /mc-mirror.sh backup",
    ]
    dumps = list(target.glob("mybox-*.pgdump"))
    assert len(dumps) == 1 and dumps[0].read_bytes() == b"PGDUMP-BYTES"
    assert not list(target.glob("*.partial"))


def test_backup_with_stop_pauses_the_app_around_it(tmp_path):
    result, calls = run(tmp_path, "deploy/backup.sh", "backup", str(tmp_path / "b"), STOP="1")
    assert result.returncode == 0, result.stderr
    calls = [strip_project(c) for c in calls]
    assert calls[0] == "compose stop api worker proxy" and calls[-1] == "compose up -d --wait"


def test_restore_uses_the_newest_dump_with_the_app_stopped(tmp_path):
    target = tmp_path / "b"
    target.mkdir()
    (target / "mybox-20250101T000000Z.pgdump").write_bytes(b"OLD")
    (target / "mybox-20250102T000000Z.pgdump").write_bytes(b"NEW")
    os.utime(target / "mybox-20250101T000000Z.pgdump", (1, 1))
    result, calls = run(tmp_path, "deploy/backup.sh", "restore", str(target))
    assert result.returncode == 0, result.stderr
    calls = [strip_project(c) for c in calls]
    assert calls[0] == "compose stop api worker proxy"
    assert calls[1].startswith("compose exec -T postgres pg_restore -U mybox -d mybox --clean --if-exists")
    assert calls[2].endswith("minio-init /mc-mirror.sh restore")
    assert calls[3] == "compose up -d --wait"
    assert (tmp_path / "restored").read_bytes() == b"NEW"


def test_restore_without_a_dump_touches_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    result, calls = run(tmp_path, "deploy/backup.sh", "restore", str(tmp_path / "empty"))
    assert result.returncode != 0 and "no database dump" in result.stderr
    assert calls == []


MIRROR_ENV = {"MINIO_ROOT_USER": "admin", "MINIO_ROOT_PASSWORD": "pw-123456",
              "MYBOX_S3_BUCKET": "hot", "MYBOX_S3_COLD_BUCKET": "cold"}


def test_mc_mirror_backup_and_restore_cover_both_buckets(tmp_path):
    result, calls = run(tmp_path, "deploy/mc-mirror.sh", "backup", **MIRROR_ENV)
    assert result.returncode == 0, result.stderr
    assert calls == ["alias set src http://minio:9000 admin pw-123456",
                     "mirror --overwrite src/hot /backup/objects/hot",
                     "mirror --overwrite src/cold /backup/objects/cold"]
    assert not [c for c in calls if "--remove" in c]
    result, calls = run(tmp_path, "deploy/mc-mirror.sh", "restore", **MIRROR_ENV)
    assert result.returncode == 0, result.stderr
    assert calls[1:] == ["mb --ignore-existing src/hot", "mirror --overwrite /backup/objects/hot src/hot",
                         "mb --ignore-existing src/cold", "mirror --overwrite /backup/objects/cold src/cold"]


def test_mc_mirror_leaves_a_remote_cold_tier_alone(tmp_path):
    result, calls = run(tmp_path, "deploy/mc-mirror.sh", "backup", MYBOX_S3_COLD_ENDPOINT="https://s3.far", **MIRROR_ENV)
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if c.startswith("mirror")] == ["mirror --overwrite src/hot /backup/objects/hot"]
    assert "back it up there" in result.stderr
