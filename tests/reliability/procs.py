"""Real processes the fault tests own and may stop: SeaweedFS (S3), Redis, a Postgres cluster,
the API and the worker. Each listens on free ports of its own and keeps its data in a directory
of its own, so it can be stopped and started again on the same ports with the same data. The
shared services (Postgres 5432, Redis 6379, SeaweedFS 8333) are never touched."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path
from typing import Callable

import httpx
import psutil

from service.config import Settings
from tests.conftest import free_port, settings_env
from tests.services import ROOT


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None,
               log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: the process exited ({proc.returncode})\n{tail}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def _http_ok(url: str) -> bool:
    return httpx.get(url, timeout=1).status_code == 200


class Proc:
    """A child process with a log file; stop() by SIGTERM (or SIGKILL), start() again."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def _spawn(self, args: list[str], env: dict[str, str] | None = None, **kwargs) -> None:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, **kwargs)
        finally:
            log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return psutil.Process(self.pid).memory_info().rss

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class OwnWeed(Proc):
    """`weed mini` with every port its own; stop() and start() keep the ports and the data."""

    def __init__(self, workdir: Path, access_key: str, secret_key: str) -> None:
        super().__init__(workdir, "weed")
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "s3.json"
        self.config.write_text(json.dumps({"identities": [{"name": "mybox", "credentials": [
            {"accessKey": access_key, "secretKey": secret_key}], "actions": ["Admin", "Read", "Write", "List"]}]}))
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
        self.grpc = {name: free_port() for name in self.ports}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"

    def start(self) -> "OwnWeed":
        args = [str(ROOT / ".venv/bin/weed"), "mini", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", f"-s3.config={self.config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-admin.ui=false", "-webdav=false", "-master.volumeSizeLimitMB=64"]
        args += [f"-{name}.port={port}" for name, port in self.ports.items()]
        args += [f"-{name}.port.grpc={port}" for name, port in self.grpc.items()]
        self._spawn(args, env={**os.environ, "GOMEMLIMIT": "256MiB"})
        wait_until(lambda: _http_ok(self.endpoint + "/healthz"), 60, "own SeaweedFS", self.proc, self.log_path)
        return self


class OwnRedis(Proc):
    """redis-server on a free port, no persistence: a restart comes back empty, like a Redis
    that lost its data (jobs queued before it went away are gone)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "redis")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        self._spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(self.workdir)])
        wait_until(self.ping, 20, "own Redis", self.proc, self.log_path)
        return self

    def ping(self) -> bool:
        out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() == "PONG"


def _pg_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"Postgres server binaries ({name}) are not installed")
    return found[-1]


class OwnPostgres:
    """A Postgres cluster of its own (initdb + pg_ctl) on a free port, in a temporary directory
    owned by the `postgres` account when running as root (initdb refuses root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mybox-rel-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.dir, 0o700)

    def _run(self, *args: str, timeout: float = 60) -> None:
        out = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stdout}\n{out.stderr}\n{self.log()[-2000:]}")

    def init(self) -> "OwnPostgres":
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                       "fsync = off\nfull_page_writes = off\nmax_connections = 100\nshared_buffers = 32MB\n")
        return self

    def start(self) -> "OwnPostgres":
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """mode 'fast' (connections are told the server shuts down) or 'immediate' (like a crash)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def ready(self) -> bool:
        return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                              timeout=5).returncode == 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class ApiProc(Proc):
    """The API (`python -m service`) as a process on a port of its own that survives restarts."""

    def __init__(self, workdir: Path, settings: Settings, **overrides: str) -> None:
        super().__init__(workdir, "api")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **settings_env(settings), "MYBOX_API_PORT": str(self.port),
                    "MYBOX_LOG_LEVEL": "WARNING", "MYBOX_CORS_ORIGINS": ",".join(settings.cors_origins), **overrides}

    def start(self) -> "ApiProc":
        self._spawn([sys.executable, "-m", "service"], env=self.env, cwd=ROOT)
        wait_until(lambda: _http_ok(self.url + "/healthz"), 30, "the API", self.proc, self.log_path)
        return self


class WorkerProc(Proc):
    """The real worker (tests.reliability.slow_worker: worker.main.WorkerSettings from the
    environment, with optional sleeps inside thumbnail rendering and checksum hashing)."""

    def __init__(self, workdir: Path, settings: Settings, name: str = "worker", **overrides: str) -> None:
        super().__init__(workdir, name)
        self.env = {**os.environ, **settings_env(settings), "MYBOX_LOG_LEVEL": "INFO", **overrides}

    def start(self, **extra_env: str) -> "WorkerProc":
        self._spawn([sys.executable, "-m", "tests.reliability.slow_worker"], env={**self.env, **extra_env}, cwd=ROOT)
        return self
