"""Transfer progress for people and machines: bars on a TTY, lines, JSON, or nothing.

``--progress auto`` picks bars when stderr is a terminal and plain lines
otherwise; ``json`` writes one event object per line (for CI logs and tools).
Everything goes to stderr, so stdout stays clean for piping.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress

from anyarch.oci import Descriptor

MODES = ("auto", "plain", "json", "quiet", "tty")


class Reporter:
    """Implements :class:`anyarch.transfer.Progress` for one CLI command."""

    def __init__(self, mode: str = "auto") -> None:
        if mode == "auto":
            mode = "tty" if sys.stderr.isatty() else "plain"
        self.mode = mode
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._tasks: dict[str, Any] = {}
        if mode == "tty":
            from rich import progress as rp

            self._bar = rp.Progress(
                rp.TextColumn("{task.description}"),
                rp.BarColumn(),
                rp.DownloadColumn(binary_units=False),
                rp.TransferSpeedColumn(),
                rp.TimeRemainingColumn(),
                transient=False,
            )

    def __enter__(self) -> Reporter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _emit(self, event: str, desc: Descriptor, **extra: Any) -> None:
        if self.mode == "json":
            rec = {"time": round(time.time(), 3), "event": event, "digest": str(desc.digest), "size": desc.size, "mediaType": desc.media_type, **extra}
            with self._lock:
                sys.stderr.write(json.dumps(rec) + "\n")
                sys.stderr.flush()

    def blob_start(self, desc: Descriptor) -> None:
        self._emit("start", desc)
        if self._bar is not None:
            with self._lock:
                self._tasks[str(desc.digest)] = self._bar.add_task(f"blob {desc.digest.hex[:12]}", total=desc.size)

    def blob_bytes(self, desc: Descriptor, n: int) -> None:
        if self._bar is not None:
            task = self._tasks.get(str(desc.digest))
            if task is not None:
                self._bar.advance(task, n)

    def blob_done(self, desc: Descriptor, how: str) -> None:
        self._emit("done", desc, how=how)
        if self.mode == "plain":
            word = {"copied": "done", "exists": "skipped: already exists", "mounted": "mounted"}.get(how, how)
            with self._lock:
                sys.stderr.write(f"Copying blob {desc.digest.hex[:12]} {word}\n")
                sys.stderr.flush()
        elif self._bar is not None:
            task = self._tasks.get(str(desc.digest))
            if task is not None:
                self._bar.update(task, completed=desc.size, description=f"blob {desc.digest.hex[:12]} {how}")
