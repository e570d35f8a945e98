"""The mybox client library: one `Client` per server and token; the CLI is built on it.

    from client import Client

    with Client.login("http://127.0.0.1:8000", "alice", "correct-horse-1") as box:
        info = box.upload("holiday.mp4")          # small: POST /files; large: parallel multipart
        for f in box.iter_files():                # newest first, all pages
            print(f.name, f.size, f.status)
        box.download(info.id, "copy.mp4")         # parallel ranges, resumable, sha256-checked
        box.delete(info.id)

Calls retry transient failures (connection errors, 429, 502-504) with exponential backoff;
anything else becomes an `ApiError` carrying the server's status, code and message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from client.models import (DownloadUrl, FileInfo, FilePage, Me, MultipartInit, PartComplete, PartUrls, Token,
                           UploadState)

T = TypeVar("T")
TRANSIENT = {429, 502, 503, 504}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = "", field: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status, self.message, self.code, self.field = status, message, code, field

    @classmethod
    def from_response(cls, resp: httpx.Response) -> "ApiError":
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = body.get("message") or body.get("detail") or resp.text[:200] or resp.reason_phrase
        return cls(resp.status_code, str(message), str(body.get("code", "")), body.get("field"))


@dataclass(frozen=True)
class Retry:
    """Exponential backoff with full jitter: attempt n waits up to min(cap, base * 2**n) seconds."""
    attempts: int = 8
    base: float = 0.5
    cap: float = 30.0

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        delay = random.uniform(0, min(self.cap, self.base * 2 ** attempt))
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self.cap))
        time.sleep(delay)


class Client:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0,
                 retry: Retry = Retry()) -> None:
        self.url = url.rstrip("/")
        self.retry = retry
        headers = {"User-Agent": "mybox-cli/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, limits=limits)
        # presigned S3 URLs carry their own signature: no bearer header goes there
        self.s3 = httpx.Client(headers={"User-Agent": "mybox-cli/0.1"}, timeout=timeout, limits=limits)

    # --- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()
        self.s3.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, idempotent: bool = True, expect: Iterable[int] = (200,),
                build: Callable[[], dict[str, Any]] | None = None, **kwargs: Any) -> httpx.Response:
        """Send with retries. A non-idempotent request is retried only when it surely was not
        processed (the connection was refused, or the server answered 429/503)."""
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                resp = self.http.request(method, path, **(build() if build else {}), **kwargs)
            except httpx.TransportError as exc:
                if last or not (idempotent or isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))):
                    raise
                self.retry.wait(attempt)
                continue
            retryable = resp.status_code in TRANSIENT if idempotent else resp.status_code in (429, 503)
            if retryable and not last:
                resp.close()
                self.retry.wait(attempt, resp.headers.get("retry-after"))
                continue
            if resp.status_code not in expect:
                raise ApiError.from_response(resp)
            return resp
        raise AssertionError("unreachable")

    def _json(self, resp: httpx.Response, type_: type[T]) -> T:
        return msgspec.json.decode(resp.content, type=type_)

    # --- accounts -------------------------------------------------------------------------
    @classmethod
    def login(cls, url: str, username: str, password: str, **kwargs: Any) -> "Client":
        anon = cls(url, **kwargs)
        try:
            token = anon.token(username, password).token
        finally:
            anon.close()
        return cls(url, token, **kwargs)

    def token(self, username: str, password: str) -> Token:
        resp = self.request("POST", "/auth/token", json={"username": username, "password": password},
                            idempotent=False)
        return self._json(resp, Token)

    def register(self, username: str, password: str) -> dict[str, Any]:
        resp = self.request("POST", "/auth/register", json={"username": username, "password": password},
                            idempotent=False, expect=(201,))
        return resp.json()

    def me(self) -> Me:
        return self._json(self.request("GET", "/me"), Me)

    # --- files ----------------------------------------------------------------------------
    def list_files(self, page: int = 1, page_size: int = 20) -> FilePage:
        return self._json(self.request("GET", "/files", params={"page": page, "pageSize": page_size}), FilePage)

    def iter_files(self, page_size: int = 100) -> Iterator[FileInfo]:
        """Every file, newest first, following the cursor."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._json(self.request("GET", "/files", params=params), FilePage)
            yield from page.items
            cursor = page.next_cursor
            if not cursor:
                return

    def file_info(self, file_id: str) -> FileInfo:
        return self._json(self.request("GET", f"/files/{file_id}/metadata"), FileInfo)

    def delete(self, file_id: str) -> None:
        self.request("DELETE", f"/files/{file_id}", expect=(204,))

    def download_url(self, file_id: str) -> DownloadUrl:
        return self._json(self.request("GET", f"/files/{file_id}/download-url"), DownloadUrl)

    # --- uploads (the building blocks; `upload` below puts them together) ------------------
    def init_multipart(self, name: str, size: int, content_type: str, sha256: str | None = None,
                       part_size: int | None = None) -> MultipartInit:
        body: dict[str, Any] = {"name": name, "size": size, "contentType": content_type}
        if sha256:
            body["sha256"] = sha256
        if part_size:
            body["partSize"] = part_size
        resp = self.request("POST", "/files/init-multipart", json=body, idempotent=False, expect=(201,))
        return self._json(resp, MultipartInit)

    def part_urls(self, file_id: str, part_numbers: list[int]) -> PartUrls:
        resp = self.request("POST", f"/files/{file_id}/part-urls", json={"partNumbers": part_numbers})
        return self._json(resp, PartUrls)

    def part_complete(self, file_id: str, part_number: int, etag: str) -> PartComplete:
        resp = self.request("POST", f"/files/{file_id}/part-complete",
                            json={"partNumber": part_number, "etag": etag})
        return self._json(resp, PartComplete)

    def upload_state(self, file_id: str) -> UploadState:
        return self._json(self.request("GET", f"/files/{file_id}/upload"), UploadState)

    def abort_upload(self, file_id: str) -> None:
        self.request("DELETE", f"/files/{file_id}/upload", expect=(204,))

    # --- whole transfers ------------------------------------------------------------------
    def upload(self, path: str | Path, **options: Any) -> FileInfo:
        """Upload one file (see client.upload.Uploader for the options)."""
        from client.upload import Uploader
        return Uploader(self, **options).upload(Path(path))

    def download(self, file_id: str, dest: str | Path | None = None, **options: Any) -> Path:
        """Download a file to `dest` (see client.download.Downloader for the options)."""
        from client.download import Downloader
        return Downloader(self, **options).download(file_id, Path(dest) if dest else None)
