"""`python -m tests.reliability.slow_worker`: the real worker (worker.main.WorkerSettings from the
environment) as a process, optionally slowed so that a test can kill it in the middle of a job:
MYBOX_TEST_RENDER_DELAY seconds of sleep inside each thumbnail render and MYBOX_TEST_HASH_DELAY
seconds inside each checksum verification (after its object was read); each writes a marker
file into MYBOX_TEST_MARKERS first (`render-<n>`, `hash-<n>`)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import time
from pathlib import Path

from arq.worker import run_worker

from worker import imaging, verify


def _marker(kind: str, counter: itertools.count) -> None:
    folder = os.environ.get("MYBOX_TEST_MARKERS")
    if folder:
        Path(folder, f"{kind}-{next(counter)}").write_text(str(os.getpid()))


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    render_delay = float(os.environ.get("MYBOX_TEST_RENDER_DELAY", "0"))
    hash_delay = float(os.environ.get("MYBOX_TEST_HASH_DELAY", "0"))
    renders, hashes = itertools.count(1), itertools.count(1)
    real_render, real_hash = imaging.render, verify.hash_object

    def slow_render(*args, **kwargs):
        _marker("render", renders)
        time.sleep(render_delay)
        return real_render(*args, **kwargs)

    async def slow_hash(*args, **kwargs):
        result = await real_hash(*args, **kwargs)
        _marker("hash", hashes)
        await asyncio.sleep(hash_delay)
        return result

    if render_delay:
        imaging.render = slow_render
    if hash_delay:
        verify.hash_object = slow_hash
    import worker.main
    run_worker(worker.main.WorkerSettings, burst=os.environ.get("MYBOX_TEST_BURST") == "1")


if __name__ == "__main__":
    main()
