"""Test helpers for the CLI tests: a recording proxy in front of S3, and running `mybox`.

The proxy becomes the API's public S3 endpoint, so every presigned URL the clients use points at
it. It forwards each request unchanged (the Host header too, so SigV4 signatures still hold) and
records what passed: which parts were PUT, which byte ranges were read, what S3 answered. That is
the evidence that a resumed transfer did not send finished parts again. `fault` can answer a
request itself (a 500, or a dropped connection) to exercise the clients' retries.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from tests.services import ROOT

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection"}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    range: str | None
    status: int
    at: float

    @property
    def part_number(self) -> int | None:
        return int(self.query["partNumber"][0]) if "partNumber" in self.query else None


class S3Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.log: list[Seen] = []
        self.fault: Callable[[web.Request], int | str | None] | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="s3-proxy")
        self.url = ""

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> "S3Proxy":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("S3 proxy did not start")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        await self._runner.cleanup()
        await self._session.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.run_forever()

    async def _serve(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = self._runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()

    # --- forwarding -----------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.read()
        except ConnectionError:  # the client was killed mid-request (the tests do that)
            return web.Response(status=499)
        raw = request.raw_path
        split = urlsplit(raw)
        record = Seen(request.method, split.path, parse_qs(split.query), request.headers.get("Range"), 0,
                      time.time())
        fault = self.fault(request) if self.fault else None
        if fault == "drop":
            record.status = -1
            self.log.append(record)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if isinstance(fault, int):
            record.status = fault
            self.log.append(record)
            return web.Response(status=fault, text="injected by the test proxy")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with self._session.request(request.method, URL(self.upstream + raw, encoded=True),
                                         headers=headers, data=body or None, allow_redirects=False) as up:
            payload = await up.read()
            record.status = up.status
            self.log.append(record)
            out_headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
            return web.Response(status=up.status, headers=out_headers, body=payload)

    # --- what passed ----------------------------------------------------------------------
    def part_puts(self, since: int = 0, ok_only: bool = True) -> list[int]:
        return [s.part_number for s in self.log[since:]
                if s.method == "PUT" and s.part_number is not None and (s.status == 200 or not ok_only)]

    def range_gets(self, since: int = 0) -> list[tuple[int, int]]:
        out = []
        for s in self.log[since:]:
            if s.method == "GET" and s.range and s.status in (200, 206):
                a, _, b = s.range.removeprefix("bytes=").partition("-")
                out.append((int(a), int(b)))
        return out


def cli_env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYBOX_")}
    env.update({"MYBOX_CONFIG": str(config), "COLUMNS": "160", "PYTHONPATH": str(ROOT)}, **extra)
    return env


def mybox(config: Path, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI as a user would (a separate process), from this worktree's code."""
    return subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=ROOT, env=cli_env(config),
                          input=input, capture_output=True, text=True, timeout=timeout)


def mybox_bg(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "client.cli", *args], cwd=ROOT, env=cli_env(config),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate: Callable[[], object], timeout: float = 60, every: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")
