"""Worker configuration and settings assembly (no services needed)."""

from __future__ import annotations

import uuid

import pytest

from service.config import load_settings
from worker.config import WorkerConfig, load_worker_config
from worker.main import make_worker_settings
from worker.reconcile import OBJECT_PREFIX, _owner


def test_worker_config_from_environment():
    c = load_worker_config({"MYBOX_RECONCILE_INTERVAL_SECONDS": "60", "MYBOX_THUMBNAIL_PREVIEW": "false",
                            "MYBOX_ORPHAN_GRACE_SECONDS": "7200"}, dotenv=None)
    assert c.reconcile_interval_seconds == 60 and c.thumbnail_preview is False and c.orphan_grace_seconds == 7200
    assert load_worker_config({}, dotenv=None) == WorkerConfig()
    with pytest.raises(SystemExit, match="reconcile_batch"):
        load_worker_config({"MYBOX_RECONCILE_BATCH": "many"}, dotenv=None)


def test_worker_settings_shape():
    settings = load_settings({"MYBOX_JOB_QUEUE": "q:test", "MYBOX_REDIS_URL": "redis://127.0.0.1:6390/3"}, dotenv=None)
    ws = make_worker_settings(settings, WorkerConfig(thumbnail_timeout_seconds=77))
    names = {f.name: f for f in ws["functions"]}
    assert set(names) == {"thumbnail", "verify_checksum", "purge_file"}  # the names other rooms enqueue
    assert names["thumbnail"].timeout_s == 77 and names["thumbnail"].max_tries == 5
    assert all(f.keep_result_s == 0 for f in names.values())  # a finished id never blocks a new enqueue
    assert ws["queue_name"] == "q:test" and ws["health_check_key"] == "q:test:health-check"
    assert ws["redis_settings"].port == 6390 and ws["redis_settings"].database == 3
    assert [c.name for c in ws["cron_jobs"]] == ["reconcile", "uploads:sweep"] and ws["cron_jobs"][0].run_at_startup


def test_owner_of_keys():
    fid = uuid.uuid4()
    assert _owner(f"objects/{fid}", OBJECT_PREFIX) == fid
    assert _owner(f"thumbs/{fid}/256.webp", "thumbs/") == fid
    assert _owner("objects/notes.txt", OBJECT_PREFIX) is None
    assert _owner(f"objects/{str(fid).upper()}", OBJECT_PREFIX) is None  # not a server-made spelling
