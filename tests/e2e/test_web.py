"""The web UI in a real browser (Debian's chromium driven by Playwright) against the real stack:
register, uploads small and multipart with progress, pause/resume, resume after a reload, the
file list, download, delete, thumbnails, and the layout at phone and desktop widths.

Screenshots are saved under .state/artifacts/e2e/ (MYBOX_TEST_ARTIFACTS overrides)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from service.storage import hot_storage
from tests.conftest import settings_env
from tests.services import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("MYBOX_TEST_ARTIFACTS", ROOT / ".state" / "artifacts")) / "e2e"
MiB = 1024 * 1024
PASSWORD = "correct-horse-1"

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]


# --- fixtures ------------------------------------------------------------------------------------
@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser():
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def web(settings, live_server):
    """The live API; the bucket's CORS rules are (re)set to allow its origin (other tests' servers
    rewrite them), so the browser may PUT parts to S3 and read their ETag."""
    store = hot_storage(settings)
    try:
        await store.put_cors((live_server.url, *settings.cors_origins))
    finally:
        await store.close()
    return live_server


@pytest.fixture(scope="module")
def worker(settings, live_server):
    """The arq worker (thumbnails, checksum verification) as a real process."""
    # it sets the bucket's CORS rules at start: they must keep allowing the live server's origin
    env = {**os.environ, **settings_env(settings), "MYBOX_LOG_LEVEL": "WARNING",
           "MYBOX_CORS_ORIGINS": ",".join([live_server.url, *settings.cors_origins])}
    proc = subprocess.Popen([sys.executable, "-m", "arq", "worker.main.WorkerSettings"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A photo (so a thumbnail can be made) and random files of chosen sizes."""
    import pyvips
    d = tmp_path_factory.mktemp("e2e-files")
    x = pyvips.Image.xyz(800, 600)
    photo = ((x[0] * 255 / 800).bandjoin([x[1] * 255 / 600, x[0] * 0 + 128])).cast("uchar")
    photo.write_to_file(str(d / "sunset.jpg"), Q=85)

    def rand(name: str, size: int) -> Path:
        p = d / name
        with open(p, "wb") as fh:
            for _ in range(size // MiB):
                fh.write(os.urandom(MiB))
            fh.write(os.urandom(size % MiB))
        return p

    return {"photo": d / "sunset.jpg", "notes": rand("notes.bin", 300_000), "big": rand("big video.bin", 40 * MiB),
            "long": rand("long.bin", 100 * MiB), "again": rand("again.bin", 100 * MiB)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class UI:
    """One signed-in browser page, plus a bearer token for checking the server's side."""

    def __init__(self, page, base: str) -> None:
        self.page, self.base = page, base
        self.problems: list[str] = []  # console errors other than the expected 401 before sign-in
        self.puts: list[tuple[str, float]] = []  # (S3 URL, time) of every PUT
        self.in_flight = 0
        self.max_in_flight = 0
        self.reports = 0  # part-complete requests on their way
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        page.on("request", self._request)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    def _console(self, msg) -> None:
        if msg.type == "error" and "401" not in msg.text:
            self.problems.append(f"{msg.text} at {msg.location.get('url')}")

    def _request(self, req) -> None:
        if req.url.endswith("/part-complete"):
            self.reports += 1
        if req.method == "PUT" and "partNumber=" in req.url:
            self.puts.append((req.url, time.time()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _done(self, req) -> None:
        if req.url.endswith("/part-complete"):
            self.reports -= 1
        if req.method == "PUT" and "partNumber=" in req.url:
            self.in_flight -= 1

    def parts_put(self, since: int = 0) -> list[int]:
        out = []
        for url, _ in self.puts[since:]:
            q = dict(kv.split("=", 1) for kv in url.split("?", 1)[1].split("&"))
            out.append(int(q["partNumber"]))
        return out

    async def register(self) -> None:
        self.username = f"web{secrets.token_hex(5)}"
        await self.page.goto(self.base + "/")
        await self.page.click("#auth-switch")
        await self.page.fill("input[name=username]", self.username)
        await self.page.fill("input[name=password]", PASSWORD)
        await self.page.click("#auth-submit")
        await self.page.wait_for_selector("#app:not([hidden])")
        assert self.username in await self.page.inner_text("#usage")
        r = httpx.post(self.base + "/auth/token", json={"username": self.username, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def api(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.headers)

    def item(self, name: str) -> str:
        return f'#queue li[data-name="{name}"]'

    async def state(self, name: str) -> str:
        return await self.page.get_attribute(self.item(name), "data-state") or ""

    async def progress(self, name: str) -> tuple[float, float]:
        return tuple(await self.page.eval_on_selector(self.item(name) + " progress", "p => [p.value, p.max]"))

    async def wait_state(self, name: str, *states: str, timeout: float = 120, watch: list | None = None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await self.state(name)
            if watch is not None:
                watch.append((state, *(await self.progress(name))))
            if state in states:
                return state
            if state == "error":
                raise AssertionError(await self.page.inner_text(self.item(name)))
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name} stayed {await self.state(name)!r}: {await self.page.inner_text(self.item(name))}"
                             f" (S3 part PUTs so far: {self.parts_put()})")

    async def resume_entry(self, name: str) -> str | None:
        return await self.page.evaluate(
            """([user, name]) => {
                 const all = JSON.parse(localStorage.getItem('mybox.resume.v1.' + user) || '{}');
                 const e = Object.values(all).find(v => v.name === name); return e ? e.fileId : null; }""",
            [self.username, name])

    async def completed_parts(self, name: str) -> set[int]:
        file_id = await self.resume_entry(name)
        return set(self.api(f"/files/{file_id}/upload").json()["completedParts"]) if file_id else set()

    async def wait_parts(self, name: str, n: int, timeout: float = 60) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = await self.completed_parts(name)
            if len(done) >= n:
                return done
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name}: fewer than {n} parts recorded")

    async def throttle_uploads(self, context, bytes_per_second: int) -> None:
        cdp = await context.new_cdp_session(self.page)
        await cdp.send("Network.enable")
        await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                            "downloadThroughput": -1,
                                                            "uploadThroughput": bytes_per_second})


async def new_ui(browser, web, **context_options):
    context = await browser.new_context(accept_downloads=True, **context_options)
    ui = UI(await context.new_page(), web.url)
    await ui.register()
    return context, ui


# --- tests ---------------------------------------------------------------------------------------
async def test_upload_list_download_delete(browser, web, worker, files):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, ui = await new_ui(browser, web, viewport={"width": 1280, "height": 900})
    page = ui.page
    try:
        await page.set_input_files("#picker", [str(files["photo"]), str(files["big"])])
        samples: list = []
        await ui.wait_state("big video.bin", "done", watch=samples)
        await ui.wait_state("sunset.jpg", "done")
        size = files["big"].stat().st_size
        # preparing (hashing) first, then upload progress that moves, ending at 100 %
        assert samples[0][0] in ("queued", "starting", "preparing")
        moving = [v for s, v, m in samples if s == "uploading" and 0 < v < m]
        assert moving and (await ui.progress("big video.bin")) == (size, size)
        assert (await page.inner_text(ui.item("big video.bin") + " .status")).startswith("Done at")
        # the multipart file went to S3 in parts, several at once
        assert sorted(set(ui.parts_put())) == [1, 2, 3] and ui.max_in_flight >= 2

        listed = await page.eval_on_selector_all("#files-panel .file .name", "els => els.map(e => e.textContent)")
        assert listed[:2] == ["big video.bin", "sunset.jpg"]  # newest first
        items = ui.api("/files").json()["items"]
        by_name = {f["name"]: f for f in items}
        assert by_name["sunset.jpg"]["sha256"] == sha256(files["photo"])
        assert by_name["big video.bin"]["size"] == size
        assert by_name["big video.bin"]["status"] in ("verifying", "available")

        await page.click("#tab-history")
        history = await page.inner_text("#history")
        assert "big video.bin" in history and "sunset.jpg" in history and "completed" in history
        await page.click("#tab-files")

        photo = f'#files-panel .file[data-id="{by_name["sunset.jpg"]["id"]}"]'
        async with page.expect_download() as info:
            await page.click(photo + ' button[title="Download"]')
        download = await info.value
        saved = ARTIFACTS / "downloaded-sunset.jpg"
        await download.save_as(saved)
        assert sha256(saved) == sha256(files["photo"])

        await page.screenshot(path=str(ARTIFACTS / "desktop.png"), full_page=True)

        await page.click(photo + ' button[title="Delete"]')
        await page.wait_for_selector(photo, state="detached")
        assert ui.api(f"/files/{by_name['sunset.jpg']['id']}/metadata").status_code == 404
        assert ui.problems == []
    finally:
        await context.close()


async def test_pause_resume_and_resume_after_reload(browser, web, files):
    context, ui = await new_ui(browser, web, viewport={"width": 1280, "height": 900})
    page = ui.page
    try:
        await ui.throttle_uploads(context, 24 * MiB)
        # pause: progress stops, nothing more reaches the server; resume finishes the upload
        await page.set_input_files("#picker", [str(files["long"])])
        await ui.wait_parts("long.bin", 1)
        await page.click(ui.item("long.bin") + ' button:text("Pause")')
        await ui.wait_state("long.bin", "paused", timeout=5)
        while ui.reports:  # a part report already on its way still lands (the part is in S3)
            await asyncio.sleep(0.05)
        paused_at = await ui.progress("long.bin")
        done = await ui.completed_parts("long.bin")
        await asyncio.sleep(1.5)
        assert await ui.progress("long.bin") == paused_at and await ui.completed_parts("long.bin") == done
        mark = len(ui.puts)
        await page.click(ui.item("long.bin") + ' button:text("Resume")')
        await ui.wait_state("long.bin", "done")
        assert set(ui.parts_put(mark)).isdisjoint(done)  # finished parts were not sent again
        assert await ui.resume_entry("long.bin") is None

        # a reload drops the page mid-upload; choosing the same file again continues it
        await page.set_input_files("#picker", [str(files["again"])])
        before = await ui.wait_parts("again.bin", 2)
        file_id = await ui.resume_entry("again.bin")
        await page.reload()
        await page.wait_for_selector("#app:not([hidden])")
        await page.wait_for_selector('#unfinished li[data-name="again.bin"] .status:text("sent")')
        await asyncio.sleep(1)  # a part report sent just before the reload may land a little later
        before = set(ui.api(f"/files/{file_id}/upload").json()["completedParts"])
        assert 2 <= len(before) < 7
        mark = len(ui.puts)
        await ui.throttle_uploads(context, 48 * MiB)
        await page.set_input_files("#picker", [str(files["again"])])
        await ui.wait_state("again.bin", "done")
        sent = ui.parts_put(mark)
        assert set(sent).isdisjoint(before) and set(sent) | before == set(range(1, 8))
        assert await page.is_hidden("#unfinished-panel")
        info = ui.api(f"/files/{file_id}/metadata").json()
        assert info["status"] in ("verifying", "available") and info["size"] == 100 * MiB
        await page.click("#tab-history")
        assert "resumed" in await page.inner_text("#history li:first-child")
        assert ui.problems == []
    finally:
        await context.close()


async def test_cancel_aborts_the_upload(browser, web, files):
    context, ui = await new_ui(browser, web, viewport={"width": 1280, "height": 900})
    try:
        await ui.throttle_uploads(context, 4 * MiB)
        await ui.page.set_input_files("#picker", [str(files["long"])])
        await ui.wait_parts("long.bin", 1)
        file_id = await ui.resume_entry("long.bin")
        await ui.page.click(ui.item("long.bin") + ' button:text("Cancel")')
        await ui.wait_state("long.bin", "cancelled", timeout=5)
        deadline = time.monotonic() + 10
        while ui.api(f"/files/{file_id}/upload").json()["status"] != "aborted" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert ui.api(f"/files/{file_id}/upload").json()["status"] == "aborted"
        assert await ui.resume_entry("long.bin") is None
    finally:
        await context.close()


async def test_thumbnail_appears(browser, web, worker, files):
    context, ui = await new_ui(browser, web, viewport={"width": 1280, "height": 900})
    try:
        await ui.page.set_input_files("#picker", [str(files["photo"])])
        await ui.wait_state("sunset.jpg", "done")
        img = "#files-panel .file .thumb img"
        await ui.page.wait_for_function(
            f"() => {{ const i = document.querySelector('{img}'); return i && i.complete && i.naturalWidth > 0; }}",
            timeout=60_000)
    finally:
        await context.close()


async def test_phone_layout(browser, web, files):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, ui = await new_ui(browser, web, viewport={"width": 375, "height": 812}, is_mobile=True,
                               has_touch=True, device_scale_factor=2)
    page = ui.page
    try:
        await page.set_input_files("#picker", [str(files["photo"]), str(files["notes"])])
        await ui.wait_state("notes.bin", "done")
        await ui.wait_state("sunset.jpg", "done")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        for selector in ("#files-panel .file button", "label.button", "#signout", '[role="tab"]'):
            for box in [await el.bounding_box() for el in await page.query_selector_all(selector)]:
                assert box and box["height"] >= 36 and box["x"] >= 0 and box["x"] + box["width"] <= 375
        await page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
        await page.click("#view-list")
        await page.screenshot(path=str(ARTIFACTS / "phone-list.png"), full_page=True)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        assert ui.problems == []
    finally:
        await context.close()


async def test_infinite_scroll_drag_and_drop_sign_out(browser, web):
    context, ui = await new_ui(browser, web, viewport={"width": 1280, "height": 900})
    page = ui.page
    try:
        for i in range(35):  # more than one page (30)
            r = httpx.post(web.url + "/files", headers=ui.headers, files={"file": (f"f{i:02}.txt", f"file {i}".encode())})
            assert r.status_code == 201, r.text
        await page.reload()
        await page.wait_for_selector("#files-panel .file")
        names = lambda: page.eval_on_selector_all("#files-panel .file .name", "els => els.map(e => e.textContent)")  # noqa: E731
        first = await names()
        assert len(first) == 30 and first[0] == "f34.txt"  # newest first, one page
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        await page.wait_for_function("() => document.querySelectorAll('#files-panel .file').length === 35")
        assert (await names())[-1] == "f00.txt" and await page.is_hidden("#files-panel .more")

        # a file dropped onto the page uploads like a chosen one
        await page.evaluate("""() => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(5000).fill(7)], "dropped.bin"));
            for (const type of ["dragenter", "dragover", "drop"]) {
                document.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
        }""")
        await ui.wait_state("dropped.bin", "done")
        assert (await names())[0] == "dropped.bin"
        assert await page.is_hidden("#dropzone-overlay")

        await page.click("#signout")
        await page.wait_for_selector("#auth:not([hidden])")
        me = await page.evaluate("fetch('/me').then(r => r.status)")
        assert me == 401  # the session cookie is gone
        assert ui.problems == []
    finally:
        await context.close()
