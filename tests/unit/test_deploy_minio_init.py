"""deploy/minio-init.sh's decisions, with a stand-in `mc` that records its calls (there is no MinIO
here: that the mc commands themselves work is verified only where compose runs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.unit.deploy_support import ROOT, fake_executable

FAKE_MC = """
echo "$*" >> "$FAKE_MC_LOG"
if [ "$1 $2 $3" = "admin user info" ]; then printf '%s\\n' "$FAKE_MC_USER_INFO"; fi
if [ "$1 $2" = "alias set" ] && [ -n "${FAKE_MC_ALIAS_FAILS:-}" ]; then exit 1; fi
exit 0
"""

BASE_ENV = {"MINIO_ROOT_USER": "mybox-admin", "MINIO_ROOT_PASSWORD": "root-secret-123",
            "MYBOX_S3_ACCESS_KEY": "mybox", "MYBOX_S3_SECRET_KEY": "app-secret-123",
            "MYBOX_S3_BUCKET": "files", "MYBOX_S3_COLD_BUCKET": "files-cold",
            "FAKE_MC_USER_INFO": "AccessKey: mybox\nStatus: enabled\nPolicyName: \nMemberOf: []"}


def run_init(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake_executable(tmp_path / "bin", "mc", FAKE_MC)
    log = tmp_path / "mc.log"
    full = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "FAKE_MC_LOG": str(log), **BASE_ENV, **env}
    result = subprocess.run(["/bin/sh", str(ROOT / "deploy/minio-init.sh")], env=full, capture_output=True, text=True)
    return result, (log.read_text().splitlines() if log.exists() else [])


def test_first_run_makes_buckets_user_and_policy(tmp_path):
    result, calls = run_init(tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls == [
        "alias set mybox http://minio:9000 mybox-admin root-secret-123",
        "mb --ignore-existing mybox/files",
        "mb --ignore-existing mybox/files-cold",
        "admin user add mybox mybox app-secret-123",
        "admin user info mybox mybox",
        "admin policy attach mybox readwrite --user mybox",
    ]


def test_second_run_does_not_attach_the_policy_again(tmp_path):
    info = "AccessKey: mybox\nStatus: enabled\nPolicyName: readwrite\nMemberOf: []"
    result, calls = run_init(tmp_path, FAKE_MC_USER_INFO=info)
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("admin policy attach")]
    assert "already has the readwrite policy" in result.stdout


def test_cold_tier_elsewhere_skips_the_local_cold_bucket(tmp_path):
    result, calls = run_init(tmp_path, MYBOX_S3_COLD_ENDPOINT="https://archive.example.lan")
    assert result.returncode == 0, result.stderr
    assert "mb --ignore-existing mybox/files-cold" not in calls and "mb --ignore-existing mybox/files" in calls


def test_root_credentials_for_the_app_make_no_user(tmp_path):
    result, calls = run_init(tmp_path, MYBOX_S3_ACCESS_KEY="mybox-admin")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("admin ")]


def test_missing_secret_stops_before_touching_minio(tmp_path):
    result, calls = run_init(tmp_path, MYBOX_S3_SECRET_KEY="")
    assert result.returncode != 0 and "MYBOX_S3_SECRET_KEY" in result.stderr
    assert calls == []
