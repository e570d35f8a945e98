"""The API killed with SIGKILL in the middle of uploads: the client (client/, the SDK the CLI
uses) resumes its multipart upload from the server's records after the API is back, sending
only the parts the server had not recorded; a small upload cut off by the kill leaves no row."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from client.config import ResumeStore
from client.sdk import Client, Retry
from client.transfer import Listener
from client.upload import Uploader
from service.storage import hot_storage
from tests.reliability.procs import ApiProc
from tests.reliability.support import assert_nothing_lost, form_body, register, sha256

PART = 5 * 1024 * 1024


class Parts(Listener):
    """Records the parts a run finished; runs `on_part(count)` after each one."""

    def __init__(self, on_part=None) -> None:
        self.done: list[int] = []
        self.on_part = on_part
        self.lock = threading.Lock()

    def part(self, name: str, number: int) -> None:
        with self.lock:
            self.done.append(number)
            count = len(self.done)
        if self.on_part:
            self.on_part(count)


async def test_api_killed_mid_multipart_upload_client_resumes_from_server_records(settings, db, http, tmp_path):
    api = await asyncio.to_thread(ApiProc(tmp_path, settings).start)
    store = hot_storage(settings)
    try:
        user = await register(http, api.url)
        data = os.urandom(7 * PART + 4321)  # 8 parts
        path = tmp_path / "film.mkv"
        path.write_bytes(data)
        resume = ResumeStore(tmp_path / "uploads.json")
        killed = threading.Event()

        def kill_after_two(count: int) -> None:
            if count == 2 and not killed.is_set():
                killed.set()
                api.stop(signal.SIGKILL)  # parts are still in flight to S3 (2 in parallel)

        first = Parts(kill_after_two)
        with Client(api.url, user.token, retry=Retry(attempts=2, base=0.05, cap=0.1)) as c:
            uploader = Uploader(c, threshold=PART, part_size=PART, parallel=2, resume=resume, listener=first)
            try:
                await asyncio.to_thread(uploader.upload, path)
                raise AssertionError("the upload finished although the API was killed")
            except AssertionError:
                raise
            except Exception as exc:  # the client gives up while the API is away
                print(f"first run stopped: {exc!r}")
        assert killed.is_set() and not api.running
        entry = resume._read()
        assert len(entry) == 1
        file_id = next(iter(entry.values()))["fileId"]

        await asyncio.to_thread(api.start)  # the same port: the client's saved server URL
        state = (await http.get(f"{api.url}/files/{file_id}/upload", headers=user.headers)).json()
        recorded = set(state["completedParts"])
        # every part the server confirmed to the client is in its records
        assert state["status"] == "uploading" and set(first.done) <= recorded and len(recorded) < 8, state

        second = Parts()
        with Client(api.url, user.token) as c:
            info = await asyncio.to_thread(
                Uploader(c, threshold=PART, part_size=PART, parallel=2, resume=resume, listener=second).upload, path)
        assert info.id == file_id and info.status in ("verifying", "available")
        assert sorted(second.done) == sorted(set(range(1, 9)) - recorded)  # only what the server lacked
        assert resume._read() == {}
        row = await db.fetchrow("SELECT status, size FROM files WHERE id = $1::uuid", file_id)
        assert row["status"] in ("verifying", "available") and row["size"] == len(data)
        assert await assert_nothing_lost(db, store, [user.id], {file_id: data}) == 1
    finally:
        api.stop()
        await store.close()


async def test_api_killed_mid_small_upload_leaves_no_row_and_the_retry_succeeds(settings, db, http, tmp_path):
    api = await asyncio.to_thread(ApiProc(tmp_path, settings).start)
    store = hot_storage(settings)
    try:
        user = await register(http, api.url)
        data = os.urandom(20 * 1024 * 1024)
        body, headers = form_body(data, "cut.bin")

        async def stream():
            for i in range(0, len(body), 1024 * 1024):
                if i == 12 * 1024 * 1024:  # S3 multipart parts of this body are in flight
                    await asyncio.to_thread(api.stop, signal.SIGKILL)
                yield body[i:i + 1024 * 1024]

        try:
            r = await http.post(f"{api.url}/files", content=stream(), headers={**user.headers, **headers})
            raise AssertionError(f"the killed API answered: {r.status_code}")
        except AssertionError:
            raise
        except Exception as exc:  # the connection died with the API
            print(f"cut off: {exc!r}")
        assert await db.fetchval("SELECT count(*) FROM files WHERE user_id = $1::uuid", user.id) == 0

        await asyncio.to_thread(api.start)
        r = await http.post(f"{api.url}/files", content=body, headers={**user.headers, **headers})
        assert r.status_code == 201 and r.json()["sha256"] == sha256(data), r.text
        assert await assert_nothing_lost(db, store, [user.id], {r.json()["id"]: data}) == 1
    finally:
        api.stop()
        await store.close()
