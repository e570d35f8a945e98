"""`python -m tests.integration.worker_proc`: the real worker (worker.main.WorkerSettings from the
environment) as a process, with libvips slowed down on demand so a test can stop it mid-job:
MYBOX_TEST_RENDER_DELAY seconds of sleep before each render, after writing MYBOX_TEST_MARKER."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from arq.worker import run_worker

from worker import imaging


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    delay = float(os.environ.get("MYBOX_TEST_RENDER_DELAY", "0"))
    marker = os.environ.get("MYBOX_TEST_MARKER")
    real_render = imaging.render

    def slow_render(*args, **kwargs):
        if marker:
            Path(marker).write_text("render started")
        time.sleep(delay)
        return real_render(*args, **kwargs)

    imaging.render = slow_render
    import worker.main
    run_worker(worker.main.WorkerSettings, burst=os.environ.get("MYBOX_TEST_BURST") == "1")


if __name__ == "__main__":
    main()
