"""Worker tuning: job timeouts, retries, reconciliation periods. Built once per process from
MYBOX_* environment variables (like service.config.Settings) and passed in; defaults suit production."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import msgspec

from service.config import _read_dotenv


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True):
    # arq job timeouts (seconds). A worker killed mid-job has its jobs re-run by arq once the
    # in-progress marker expires: the longest timeout + 10 s. Verification reads whole files
    # (50 GiB at >= 30 MB/s fits in 30 minutes); thumbnails read at most thumbnail_max_bytes.
    thumbnail_timeout_seconds: int = 120
    verify_timeout_seconds: int = 1800
    purge_timeout_seconds: int = 60
    reconcile_timeout_seconds: int = 300
    # tries per job for transient failures (S3 or Postgres unreachable), with exponential backoff
    job_max_tries: int = 5
    retry_backoff_seconds: float = 5.0
    retry_backoff_max_seconds: float = 300.0
    # attempts per file that ended without an outcome (worker killed, timeout, unexpected error)
    # before reconciliation gives up on it
    max_attempts: int = 3
    # reconciliation: how often, and how long a file may wait before its job counts as lost
    reconcile_interval_seconds: int = 300
    reconcile_grace_seconds: int = 600
    purge_grace_seconds: int = 60
    orphan_grace_seconds: int = 3600
    reconcile_batch: int = 500
    orphan_scan_batch: int = 1000
    # thumbnails: sources larger than this (bytes) are not downloaded for a thumbnail
    thumbnail_max_bytes: int = 1 << 30
    thumbnail_preview: bool = True  # also make thumbs/<id>/1280.webp (about 3x the work of 256 alone)
    thumbnail_concurrency: int = 2  # libvips jobs at once (each uses its own thread pool)
    ffmpeg_timeout_seconds: int = 60
    # worker process
    max_jobs: int = 10
    poll_delay_seconds: float = 0.1  # arq's 0.5 s leaves cores idle between batches of short jobs
    health_check_interval_seconds: int = 30
    shutdown_grace_seconds: int = 25


def load_worker_config(environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env") -> WorkerConfig:
    """WorkerConfig from MYBOX_<FIELD> variables (e.g. MYBOX_RECONCILE_INTERVAL_SECONDS); the
    environment wins over the .env file, as for Settings."""
    env = dict(_read_dotenv(Path(dotenv))) if dotenv else {}
    env.update(os.environ if environ is None else environ)
    raw = {f: env["MYBOX_" + f.upper()] for f in WorkerConfig.__struct_fields__ if "MYBOX_" + f.upper() in env}
    try:
        return msgspec.convert(raw, WorkerConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid mybox worker setting: {exc}") from exc
