"""Pieces shared by uploads and downloads: progress events, a rate limit, streamed hashing."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

CHUNK = 256 * 1024  # read/write granularity: small enough for smooth progress, big enough to be cheap


class Cancelled(Exception):
    """The transfer was stopped (Ctrl-C, or another part failed for good)."""


class TransferError(Exception):
    """A transfer could not finish; the message says why and whether a rerun resumes."""


class Listener:
    """Progress callbacks; the default does nothing. Called from worker threads: be quick.

    `phase(name, text)` — "hashing", "uploading", "downloading", "verifying", "done" (or a note);
    `total(name, size, done)` — this phase moves `size` bytes, `done` of them already there (resume);
    `advance(name, n)` — n more bytes (negative when a failed attempt is rolled back);
    `part(name, number)` — a part or chunk finished."""

    def phase(self, name: str, text: str) -> None: ...

    def total(self, name: str, size: int, done: int = 0) -> None: ...

    def advance(self, name: str, n: int) -> None: ...

    def part(self, name: str, number: int) -> None: ...


class RateLimit:
    """A shared byte-rate cap across threads (like curl's --limit-rate); None means no cap."""

    def __init__(self, bytes_per_second: float | None) -> None:
        self.rate = bytes_per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
        if start > now:
            time.sleep(start - now)


def parse_size(text: str) -> int:
    """'64M', '1.5GiB', '512k', '1000' -> bytes (binary multiples)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(t[-1:] if t else "", 1)
    number = t[:-1] if mult != 1 else t
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use e.g. 64M, 1G, 500k)") from None
    if value < 0:
        raise ValueError(f"size must not be negative: {text!r}")
    return int(value * mult)


def sha256_file(path: Path, name: str = "", listener: Listener | None = None,
                stop: threading.Event | None = None) -> str:
    """The file's SHA-256, read in chunks (memory stays flat), reporting progress."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            if stop is not None and stop.is_set():
                raise Cancelled()
            digest.update(chunk)
            if listener:
                listener.advance(name, len(chunk))
    return digest.hexdigest()
