"""Downloading one file: parallel Range requests over the presigned `download-url`, written in
place into `<dest>.part`; `<dest>.part.json` records which chunks are complete, so a rerun after
an interruption fetches only the rest. An expired URL (S3 answers 403) is re-signed; at the end
the SHA-256 of the bytes is checked against the server's before the file takes its real name."""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from client.config import write_private
from client.models import FileInfo
from client.sdk import Client
from client.transfer import Cancelled, Listener, RateLimit, TransferError, sha256_file

DEFAULT_CHUNK = 8 * 1024 * 1024


def safe_filename(name: str) -> str:
    """A local file name for a stored name (which may hold '/', '..' or anything printable)."""
    cleaned = "".join("_" if c in "/\\" or unicodedata.category(c)[0] == "C" else c for c in name).strip()
    cleaned = cleaned.lstrip(".") or "download"
    return cleaned[:255]


class Downloader:
    def __init__(self, client: Client, *, parallel: int = 4, chunk_size: int = DEFAULT_CHUNK,
                 limit_rate: float | None = None, listener: Listener | None = None,
                 stop: threading.Event | None = None) -> None:
        self.client = client
        self.parallel = max(1, parallel)
        self.chunk_size = max(64 * 1024, chunk_size)
        self.rate = RateLimit(limit_rate)
        self.listener = listener or Listener()
        self.stop = stop or threading.Event()
        self.sha256: str | None = None  # of the bytes written, once downloaded
        self.verified = False  # True when that matched the server's sha256
        self._url_lock = threading.Lock()
        self._url: str | None = None

    def download(self, file_id: str, dest: Path | None = None) -> Path:
        info = self.client.file_info(file_id)
        if dest is None:
            dest = Path.cwd() / safe_filename(info.name)
        elif dest.is_dir():
            dest = dest / safe_filename(info.name)
        part = dest.with_name(dest.name + ".part")
        state_path = dest.with_name(dest.name + ".part.json")
        name = info.name
        state = self._load_state(state_path, info, part)
        self._url = self.client.download_url(file_id).url  # 409 here when the file is not available
        count = max(1, -(-info.size // state["chunkSize"]))
        todo = [i for i in range(count) if i not in state["done"]]
        self.listener.phase(name, "downloading")
        self.listener.total(name, info.size, sum(self._span(i, state["chunkSize"], info.size)[1]
                                                 for i in state["done"]))
        fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._fetch_all(fd, file_id, name, info.size, state, state_path, todo)
        finally:
            os.close(fd)
        self._verify(info, part, state_path, name)
        os.replace(part, dest)
        state_path.unlink(missing_ok=True)
        self.listener.phase(name, "done")
        return dest

    # --- state ----------------------------------------------------------------------------
    def _load_state(self, state_path: Path, info: FileInfo, part: Path) -> dict:
        try:
            state = json.loads(state_path.read_text())
            if (state.get("fileId") == info.id and state.get("size") == info.size and part.exists()
                    and state.get("sha256") in (None, info.sha256)):
                state["done"] = set(state.get("done", []))
                return state
        except (FileNotFoundError, ValueError):
            pass
        part.unlink(missing_ok=True)  # unknown or stale partial file: start clean
        return {"fileId": info.id, "size": info.size, "sha256": info.sha256, "chunkSize": self.chunk_size,
                "done": set()}

    @staticmethod
    def _save_state(state_path: Path, state: dict) -> None:
        write_private(state_path, json.dumps({**state, "done": sorted(state["done"])}).encode())

    @staticmethod
    def _span(index: int, chunk: int, size: int) -> tuple[int, int]:
        start = index * chunk
        return start, max(0, min(chunk, size - start))

    # --- fetching -------------------------------------------------------------------------
    def _fetch_all(self, fd: int, file_id: str, name: str, size: int, state: dict, state_path: Path,
                   todo: list[int]) -> None:
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="mybox-range")
        futures = {pool.submit(self._fetch, fd, file_id, name, i, *self._span(i, state["chunkSize"], size)): i
                   for i in todo}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    if f.exception() is not None:
                        raise f.exception()  # type: ignore[misc]
                    state["done"].add(futures[f])
                self._save_state(state_path, state)  # only after the bytes are written
        except BaseException:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            os.fsync(fd)
            self._save_state(state_path, state)
            raise
        pool.shutdown(wait=True)

    def _current_url(self, file_id: str, stale: str | None) -> str:
        with self._url_lock:
            if stale is not None and self._url == stale:
                self._url = self.client.download_url(file_id).url
            assert self._url is not None
            return self._url

    def _fetch(self, fd: int, file_id: str, name: str, index: int, start: int, length: int) -> None:
        retry = self.client.retry
        stale: str | None = None
        refreshed = 0
        for attempt in range(retry.attempts):
            url = self._current_url(file_id, stale)
            stale = None
            got = 0
            status = 0
            try:
                headers = {"Range": f"bytes={start}-{start + length - 1}"} if length else {}
                with self.client.s3.stream("GET", url, headers=headers) as resp:
                    status = resp.status_code
                    if status in (200, 206) and self._range_ok(resp, start, length):
                        for data in resp.iter_raw(256 * 1024):
                            if self.stop.is_set():
                                raise Cancelled()
                            self.rate.take(len(data))
                            os.pwrite(fd, data, start + got)
                            got += len(data)
                            self.listener.advance(name, len(data))
                        if got == length:
                            return
            except httpx.TransportError:
                pass
            self.listener.advance(name, -got)
            if self.stop.is_set():
                raise Cancelled()
            if status == 403 and refreshed < 3:  # an expired presigned URL: get a new one
                refreshed += 1
                stale = url
                continue
            if status and status < 500 and status not in (200, 206, 403, 408, 429):
                raise TransferError(f"{name}: S3 refused bytes {start}-{start + length - 1}: HTTP {status}")
            if attempt < retry.attempts - 1:
                retry.wait(attempt)
        raise TransferError(f"{name}: bytes {start}-{start + length - 1} failed {retry.attempts} times; "
                            "run again to resume")

    @staticmethod
    def _range_ok(resp: httpx.Response, start: int, length: int) -> bool:
        if resp.status_code == 200:
            return start == 0 and int(resp.headers.get("content-length", -1)) == length
        return resp.headers.get("content-range", "").startswith(f"bytes {start}-{start + length - 1}/")

    # --- the end --------------------------------------------------------------------------
    def _verify(self, info: FileInfo, part: Path, state_path: Path, name: str) -> None:
        expected = info.sha256 or self.client.file_info(info.id).sha256
        self.listener.phase(name, "verifying")
        self.listener.total(name, info.size)
        actual = self.sha256 = sha256_file(part, name, self.listener, self.stop)
        if expected is None:  # a multipart upload the worker has not hashed yet
            return
        if actual != expected:
            part.unlink(missing_ok=True)
            state_path.unlink(missing_ok=True)
            raise TransferError(f"{name}: SHA-256 mismatch (got {actual}, server says {expected}); "
                                "the partial file was removed, run again to download afresh")
        self.verified = True
