"""The Python that runs a node's ``anyarch build``, started before its command line exists.

A node's ``farm-node build`` used to start its ``anyarch build`` only after
the context sync: the start-up and imports of that second Python (~0.3 s)
then came after everything else.  :func:`prestart` starts it as soon as the
node knows a build is coming (``farm-node serve`` starts it before its own
heavier imports, ``farm-node build`` before the sync), as ``anyarch farm-node
build-worker``, which imports what a build needs and waits; :func:`take`
hands it to :func:`anyarch.farm.node.run_build`, which sends it the command
line once the context is in place.  Kept apart from :mod:`anyarch.farm.node`
so that starting it costs no more than this module's imports.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Sequence

from anyarch.farm.transport import self_command

#: The build worker's last stdout line: this, then its exit status.  It then
#: lets go of stdout and stderr and tears its interpreter down (tens of
#: milliseconds) while the node already sends the result.
EXIT_MARK = b"@anyarch-build-exit@ "


def exit_status(line: bytes) -> int | None:
    """The exit status an :data:`EXIT_MARK` line reports (None: not such a line)."""
    if not line.startswith(EXIT_MARK):
        return None
    try:
        return int(line[len(EXIT_MARK) :])
    except ValueError:
        return None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc``'s process group (it was started in a session of its own) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


class BuildWorker:
    """An ``anyarch farm-node build-worker`` waiting for the command line of its build."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*self_command(), "farm-node", "build-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    @property
    def handed_out(self) -> bool:
        """Whether it got its command line (or was let go): its stdin is closed."""
        return self.proc.stdin is None or self.proc.stdin.closed

    def run(self, argv: Sequence[str]) -> subprocess.Popen[bytes] | None:
        """Hand it ``argv`` (the arguments after ``anyarch``); None if it is gone."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(list(argv)).encode() + b"\n")
            self.proc.stdin.close()
        except OSError:
            self.discard()
            return None
        return self.proc

    def discard(self) -> None:
        """Let it go: EOF on its stdin ends it; killed if it does not end."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


_waiting: list[BuildWorker] = []


def prestart() -> None:
    """Start this process's build worker now (once), if none is waiting."""
    if not _waiting:
        _waiting.append(BuildWorker())


def take() -> BuildWorker:
    """The waiting build worker (started now if there is none); it is the caller's."""
    prestart()
    return _waiting.pop()


__all__ = ["EXIT_MARK", "BuildWorker", "exit_status", "kill_group", "prestart", "take"]
