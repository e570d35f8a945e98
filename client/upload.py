"""Uploading one file: small files in one `POST /files`, large ones as S3 multipart through
presigned part URLs, several parts in parallel, each streamed from disk.

Resume: the first run records (server, path, size, mtime) -> fileId in a ResumeStore. A rerun
asks `GET /files/{id}/upload` which parts the server has recorded and sends only the others,
with fresh URLs from `part-urls`. A part whose URL has expired (S3 answers 403) gets a new URL;
transient failures are retried with backoff; an interrupted run leaves the session resumable.
"""

from __future__ import annotations

import mimetypes
import secrets
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import httpx

from client.config import ResumeStore
from client.models import FileInfo, PartUrl
from client.sdk import ApiError, Client
from client.transfer import CHUNK, Cancelled, Listener, RateLimit, TransferError, sha256_file

DEFAULT_THRESHOLD = 64 * 1024 * 1024
URL_MARGIN = 60.0  # refresh a part URL this many seconds before it expires


def guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class Uploader:
    def __init__(self, client: Client, *, threshold: int = DEFAULT_THRESHOLD, parallel: int = 4,
                 part_size: int | None = None, limit_rate: float | None = None, declare_sha256: bool = True,
                 resume: ResumeStore | None = None, listener: Listener | None = None,
                 stop: threading.Event | None = None) -> None:
        self.client = client
        self.threshold = threshold
        self.parallel = max(1, parallel)
        self.part_size = part_size
        self.rate = RateLimit(limit_rate)
        self.declare_sha256 = declare_sha256
        self.resume = resume
        self.listener = listener or Listener()
        self.stop = stop or threading.Event()

    # --- entry point ----------------------------------------------------------------------
    def upload(self, path: Path, name: str | None = None) -> FileInfo:
        name = name or path.name
        st = path.stat()
        if st.st_size < self.threshold:
            try:
                return self._small(path, name, st.st_size)
            except ApiError as exc:
                if exc.status != 413 or st.st_size == 0:
                    raise  # 413: above the server's small-upload limit; multipart has none
        return self._multipart(path, name, st.st_size, st.st_mtime_ns)

    # --- small: one POST /files -----------------------------------------------------------
    def _small(self, path: Path, name: str, size: int) -> FileInfo:
        sha = None
        if self.declare_sha256:
            self.listener.phase(name, "hashing")
            self.listener.total(name, size)
            sha = sha256_file(path, name, self.listener, self.stop)
        self.listener.phase(name, "uploading")
        self.listener.total(name, size)
        boundary = secrets.token_hex(16)
        head = b""
        if sha:
            head += (f'--{boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n{sha}\r\n').encode()
        safe = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
                 f"Content-Type: {guess_type(name)}\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        sent = [0]

        def body() -> Iterator[bytes]:
            yield head
            yield from self._read(path, 0, size, name, sent)
            yield tail

        def build() -> dict:
            if sent[0]:
                self.listener.advance(name, -sent[0])
                sent[0] = 0
            return {"content": body(), "headers": {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail))}}

        resp = self.client.request("POST", "/files", build=build, idempotent=False, expect=(201,))
        self.listener.phase(name, "done")
        return self.client._json(resp, FileInfo)

    def _read(self, path: Path, offset: int, length: int, name: str, sent: list[int]) -> Iterator[bytes]:
        """Stream `length` bytes of the file from `offset`, honouring the rate limit and stop."""
        with open(path, "rb") as fh:
            fh.seek(offset)
            left = length
            while left > 0:
                if self.stop.is_set():
                    raise Cancelled()
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    raise TransferError(f"{path} shrank while it was being uploaded")
                self.rate.take(len(chunk))
                left -= len(chunk)
                sent[0] += len(chunk)
                self.listener.advance(name, len(chunk))
                yield chunk

    # --- large: multipart -----------------------------------------------------------------
    def _multipart(self, path: Path, name: str, size: int, mtime_ns: int) -> FileInfo:
        key = ResumeStore.key(self.client.url, path, size, mtime_ns)
        entry = self.resume.get(key) if self.resume else None
        session = None
        if entry:
            try:
                session = self.client.upload_state(entry["fileId"])
            except ApiError as exc:
                if exc.status not in (404, 410):
                    raise
            if session and session.status in ("available", "verifying"):
                self._forget(key)
                self.listener.phase(name, "done")
                return self.client.file_info(session.file_id)
            if session and session.status != "uploading":
                session = None  # aborted, corrupt, deleted: start over
        if session is None:
            sha = None
            if self.declare_sha256:
                self.listener.phase(name, "hashing")
                self.listener.total(name, size)
                sha = sha256_file(path, name, self.listener, self.stop)
            init = self.client.init_multipart(name, size, guess_type(name), sha, self.part_size)
            if self.resume:
                self.resume.put(key, {"fileId": init.file_id, "name": name, "partSize": init.part_size})
            file_id, part_size, part_count, done = init.file_id, init.part_size, init.part_count, set()
            urls = _UrlCache(self.client, file_id, init.parts, init.urls_expire_at or init.expires_at)
        else:
            file_id, part_size, part_count = session.file_id, session.part_size, session.part_count
            done = set(session.completed_parts)
            urls = _UrlCache(self.client, file_id, [], None)
        missing = [n for n in range(1, part_count + 1) if n not in done]
        self.listener.phase(name, "uploading")
        self.listener.total(name, size, sum(min(part_size, size - (n - 1) * part_size) for n in done))
        try:
            status = self._send_parts(path, name, file_id, size, part_size, missing, urls)
        except ApiError as exc:
            if exc.status == 410:
                self._forget(key)
                raise TransferError(f"{name}: the upload session expired; run again to start over") from exc
            raise
        if status == "uploading":  # every part recorded, yet not completed: ask the source of truth
            status = self.client.upload_state(file_id).status
        if status not in ("available", "verifying"):
            raise TransferError(f"{name}: the server left the upload in status {status!r}")
        self._forget(key)
        self.listener.phase(name, "done")
        return self.client.file_info(file_id)

    def _forget(self, key: str) -> None:
        if self.resume:
            self.resume.remove(key)

    def _send_parts(self, path: Path, name: str, file_id: str, size: int, part_size: int,
                    missing: list[int], urls: "_UrlCache") -> str:
        status = ["uploading"]
        if not missing:
            return self.client.upload_state(file_id).status
        urls.wanted = list(missing)

        def one(number: int) -> None:
            offset = (number - 1) * part_size
            etag = self._put_part(path, name, number, offset, min(part_size, size - offset), urls)
            result = self.client.part_complete(file_id, number, etag)
            if result.status != "uploading":
                status[0] = result.status
            self.listener.part(name, number)

        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="mybox-part")
        futures = [pool.submit(one, n) for n in missing]
        try:
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                self.stop.set()
                raise failed[0].exception()  # type: ignore[misc]
        except BaseException:
            self.stop.set()  # Ctrl-C or a failure: stop the other parts at their next chunk
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return status[0]

    def _put_part(self, path: Path, name: str, number: int, offset: int, length: int,
                  urls: "_UrlCache") -> str:
        retry = self.client.retry
        refreshed = 0
        for attempt in range(retry.attempts):
            sent = [0]
            url = urls.get(number)
            try:
                resp = self.client.s3.put(url, content=self._read(path, offset, length, name, sent),
                                          headers={"Content-Length": str(length)})
            except httpx.TransportError:
                resp = None
            if resp is not None and resp.status_code == 200 and resp.headers.get("etag"):
                return resp.headers["etag"]
            self.listener.advance(name, -sent[0])  # this attempt's bytes do not count
            if self.stop.is_set():
                raise Cancelled()
            if resp is not None and resp.status_code == 403 and refreshed < 3:
                refreshed += 1  # most likely an expired URL: sign a fresh one and try at once
                urls.invalidate(number)
                continue
            if resp is not None and resp.status_code < 500 and resp.status_code not in (403, 408, 429):
                raise TransferError(f"{name}: S3 refused part {number}: HTTP {resp.status_code} {resp.text[:200]}")
            if attempt < retry.attempts - 1:
                retry.wait(attempt, resp.headers.get("retry-after") if resp is not None else None)
        raise TransferError(f"{name}: part {number} failed {retry.attempts} times; run again to resume")


class _UrlCache:
    """Presigned part URLs, signed lazily in batches of up to 100 and re-signed near expiry."""

    def __init__(self, client: Client, file_id: str, parts: list[PartUrl], expires_at: datetime | None) -> None:
        self.client, self.file_id = client, file_id
        self.lock = threading.Lock()
        self.urls: dict[int, tuple[str, float]] = {}
        self.wanted: list[int] = []
        if expires_at is not None:
            self._add(parts, expires_at)

    def _add(self, parts: list[PartUrl], expires_at: datetime) -> None:
        lifetime = max(0.0, (expires_at - datetime.now(timezone.utc)).total_seconds())
        # refresh a URL shortly before it expires: a minute before, or a tenth of a short lifetime
        deadline = time.monotonic() + lifetime - min(URL_MARGIN, lifetime / 10)
        for p in parts:
            self.urls[p.part_number] = (p.url, deadline)

    def _fresh(self, number: int) -> bool:
        hit = self.urls.get(number)
        return hit is not None and hit[1] > time.monotonic()

    def invalidate(self, number: int) -> None:
        with self.lock:
            self.urls.pop(number, None)

    def get(self, number: int) -> str:
        with self.lock:
            if self._fresh(number):
                return self.urls[number][0]
            # sign this part and the next wanted ones that lack a fresh URL, in one call
            later = [n for n in self.wanted if n > number and not self._fresh(n)]
            batch = [number, *later[:99]]
            fresh = self.client.part_urls(self.file_id, batch)
            self._add(fresh.parts, fresh.expires_at)
            if number not in self.urls:
                raise TransferError(f"the server signed no URL for part {number}")
            return self.urls[number][0]
