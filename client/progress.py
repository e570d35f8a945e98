"""Rich progress bars for the CLI: one bar per file and one for the whole run (bytes, rate, ETA)."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from client.transfer import Listener

MOVING = {"uploading", "downloading"}  # the phases whose bytes count toward the overall bar


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def make_progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=None),
                    TextColumn("{task.percentage:>5.1f}%"), DownloadColumn(binary_units=True),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=console, expand=True,
                    transient=False)


class RichListener(Listener):
    def __init__(self, progress: Progress, overall_total: int, overall_label: str) -> None:
        self.progress = progress
        self.lock = threading.Lock()
        self.overall = progress.add_task(overall_label, total=overall_total or 1)
        self.tasks: dict[str, TaskID] = {}
        self.phases: dict[str, str] = {}
        self.notes: list[str] = []

    def _task(self, name: str) -> TaskID:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=None)
        return self.tasks[name]

    def phase(self, name: str, text: str) -> None:
        with self.lock:
            task = self._task(name)
            if text == "done":
                self.progress.update(task, visible=False)
            elif text in ("hashing", "verifying", "uploading", "downloading"):
                label = name if text in MOVING else f"{name} ({'preparing' if text == 'hashing' else text})"
                self.progress.update(task, description=_short(label))
            else:
                self.notes.append(f"{name}: {text}")
            self.phases[name] = text

    def total(self, name: str, size: int, done: int = 0) -> None:
        with self.lock:
            self.progress.reset(self._task(name), total=size or 1, completed=done)
            if done and self.phases.get(name) in MOVING:
                self.progress.update(self.overall, advance=done)

    def advance(self, name: str, n: int) -> None:
        with self.lock:
            self.progress.update(self._task(name), advance=n)
            if self.phases.get(name) in MOVING:
                self.progress.update(self.overall, advance=n)

    def part(self, name: str, number: int) -> None:
        pass

    def skip(self, size: int) -> None:
        """A file that will not be moved after all (failed, or already on the server)."""
        with self.lock:
            self.progress.update(self.overall, advance=size)


def _short(label: str, width: int = 40) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1):]
