"""deploy/nginx.conf run by a real nginx in front of a real API process. Only the upstream differs
from compose (127.0.0.1:<port> instead of Docker's DNS name api:8000), the listen port, and nginx
connects to the API from 127.0.0.9 (in compose it comes from its own container address, which
uvicorn does not trust by default: hence FORWARDED_ALLOW_IPS in compose.yaml).
Clients connect from distinct loopback addresses (127.x.y.z) so the API's per-address login
throttle shows which address it believed: the client's (through X-Forwarded-For), not nginx's."""

from __future__ import annotations

import random
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, LiveServer, free_port

NGINX = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else shutil.which("nginx")
pytestmark = pytest.mark.skipif(not NGINX, reason="nginx is not installed (Debian package nginx-light)")


@pytest.fixture(scope="module")
def api(settings):
    server = LiveServer(settings, MYBOX_LOGIN_FAIL_LIMIT_ADDR="3", MYBOX_LOGIN_FAIL_LIMIT_USER="100",
                        MYBOX_LOGIN_FAIL_WINDOW_SECONDS="30", FORWARDED_ALLOW_IPS="*")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(api, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = (ROOT / "deploy/nginx.conf").read_text()
    for old, new in (("user nginx;", "user root;"), ("pid /var/run/nginx.pid;", f"pid {tmp}/nginx.pid;"),
                     ("listen 8080;", f"listen 127.0.0.1:{port};"),
                     ("set $api http://api:8000;", f"set $api http://127.0.0.1:{api.port}; proxy_bind 127.0.0.9;")):
        assert old in conf, old
        conf = conf.replace(old, new)
    (tmp / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("nginx did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def client_from(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def random_loopback() -> str:
    return f"127.{random.randint(30, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"


def test_api_calls_pass_through(proxy):
    with httpx.Client(base_url=proxy, timeout=10) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        name, password = f"px{secrets.token_hex(5)}", "correct-horse-1"
        assert c.post("/auth/register", json={"username": name, "password": password}).status_code == 201
        token = c.post("/auth/token", json={"username": name, "password": password}).json()["token"]
        me = c.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == name


def test_request_limits_are_the_apis_not_nginxs(proxy, api):
    """nginx's default 1 MiB body cap is off: a 2 MiB body reaches the API, which answers in JSON."""
    body = b'{"username": "' + b"x" * (2 * 1024 * 1024) + b'", "password": "correct-horse-1"}'
    direct = httpx.post(api.url + "/auth/register", content=body, headers={"Content-Type": "application/json"})
    proxied = httpx.post(proxy + "/auth/register", content=body, headers={"Content-Type": "application/json"})
    assert proxied.status_code == direct.status_code == 413
    assert proxied.headers["content-type"].startswith("application/json") and proxied.json()["status"] == 413


def test_throttle_sees_each_client_address_and_a_forged_header_is_ignored(proxy):
    attacker, bystander = random_loopback(), random_loopback()
    bad = {"password": "wrong-password-1"}
    with client_from(attacker) as c:
        codes = [c.post(proxy + "/auth/token", json={"username": f"nx{secrets.token_hex(5)}", **bad}).status_code
                 for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # another address is not throttled, even when it claims to be the throttled one
    with client_from(bystander) as c:
        r = c.post(proxy + "/auth/token", json={"username": f"nx{secrets.token_hex(5)}", **bad},
                   headers={"X-Forwarded-For": attacker})
    assert r.status_code == 401, r.text
