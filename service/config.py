"""Settings: built once per process from the environment (and an optional .env file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    allow_signup: bool = True
    small_upload_max_bytes: int = 104_857_600
    max_file_bytes: int = 53_687_091_200
    upload_ttl_seconds: int = 86_400
    presign_ttl_seconds: int = 3_600
    sweep_interval_seconds: int = 60
    cold_after_seconds: int = 2_592_000
    tiering_interval_seconds: int = 3_600
    token_ttl_seconds: int = 30 * 86_400

    database_url: str = "postgresql://postgres@127.0.0.1:5432/mybox"
    redis_url: str = "redis://127.0.0.1:6379/0"
    job_queue: str = "mybox:queue"

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_public_endpoint: str = "http://127.0.0.1:8333"
    s3_access_key: str = "mybox"
    s3_secret_key: str = "mybox-local-secret"
    s3_region: str = "us-east-1"
    s3_bucket: str = "mybox"
    s3_cold_bucket: str = "mybox-cold"
    s3_cold_endpoint: str = ""
    s3_cold_access_key: str = ""
    s3_cold_secret_key: str = ""
    s3_cold_storage_class: str = ""
    cold_tier_mode: str = "instant"  # "instant" or "archive"

    cors_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    login_fail_limit_user: int = 10
    login_fail_limit_addr: int = 50
    login_fail_window_seconds: int = 60
    thumbnail_max_pixels: int = 100_000_000
    log_level: str = "INFO"


PREFIX = "MYBOX_"


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def setting_names() -> list[str]:
    """Environment variable names of every setting (used by compose checks)."""
    return [PREFIX + f.upper() for f in Settings.__struct_fields__]


def load_settings(environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env") -> Settings:
    """Build Settings from MYBOX_* variables; the environment wins over the .env file."""
    env = dict(_read_dotenv(Path(dotenv))) if dotenv else {}
    env.update(os.environ if environ is None else environ)
    raw: dict[str, object] = {}
    for field in Settings.__struct_fields__:
        key = PREFIX + field.upper()
        if key not in env:
            continue
        value = env[key]
        if field == "cors_origins":
            raw[field] = tuple(o.strip() for o in value.split(",") if o.strip())
        else:
            raw[field] = value
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid mybox setting: {exc}") from exc
