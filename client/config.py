"""Where the CLI keeps what it needs between runs, all as small JSON files with mode 0600:

- the profile (server URL, username, token): ``~/.config/mybox/config.json``, or ``$MYBOX_CONFIG``;
- the upload resume state (which local file became which server upload): ``uploads.json`` beside it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec


class Profile(msgspec.Struct):
    url: str
    token: str
    username: str = ""


def config_path() -> Path:
    if os.environ.get("MYBOX_CONFIG"):
        return Path(os.environ["MYBOX_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mybox" / "config.json"


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_profile(path: Path | None = None) -> Profile | None:
    path = path or config_path()
    try:
        return msgspec.json.decode(path.read_bytes(), type=Profile)
    except FileNotFoundError:
        return None
    except msgspec.DecodeError as exc:
        raise SystemExit(f"{path} is not a valid mybox config ({exc}); run `mybox login` again") from exc


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    path = path or config_path()
    write_private(path, msgspec.json.format(msgspec.json.encode(profile), indent=2))
    return path


class ResumeStore:
    """Maps (server, absolute path, size, mtime) of a local file to the upload it became, so that
    running the same `mybox upload` again continues that upload instead of starting over."""

    MAX_AGE = 30 * 86_400  # entries older than this are dropped (the server's session is long gone)

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, config: Path) -> "ResumeStore":
        return cls(config.parent / "uploads.json")

    @staticmethod
    def key(server: str, path: Path, size: int, mtime_ns: int) -> str:
        return json.dumps([server.rstrip("/"), str(path.resolve()), size, mtime_ns])

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self._read().get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        now = time.time()
        data = {k: v for k, v in self._read().items() if now - v.get("savedAt", now) < self.MAX_AGE}
        data[key] = {**value, "savedAt": now}
        write_private(self.path, json.dumps(data, indent=1).encode())

    def remove(self, key: str) -> None:
        data = self._read()
        if data.pop(key, None) is not None:
            write_private(self.path, json.dumps(data, indent=1).encode())
