"""How the coordinator runs commands on a node: the same interface for every node.

A :class:`Transport` starts a command on its node with pipes for stdin,
stdout and stderr.  :class:`LocalTransport` (the ``default`` node, and
``unix://`` endpoints) runs it here as a subprocess; :class:`~anyarch.farm.ssh.SSHTransport`
runs it through the OpenSSH client.  Everything above speaks the same
protocol to both, so the local machine is just another node.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyarch


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def err_text(self) -> str:
        return self.stderr.decode(errors="replace").strip()


class Transport(Protocol):
    """Runs commands on one node."""

    node: str
    endpoint: str
    remote: bool

    def connect(self) -> None:
        """Make sure the node answers (raises :class:`~anyarch.errors.NodeError`)."""
        ...

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | None = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on the node with piped stdout/stderr (and stdin unless told)."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Completed:
        """Run ``argv`` to completion."""
        ...

    def close(self) -> None: ...


def shell_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """One POSIX shell command line for ``argv`` (what ssh hands the remote shell)."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    cmd = shlex.join(argv)
    return f"env {prefix} {cmd}" if prefix else cmd


#: Pipe capacity asked for on the streams that carry contexts and layers.
PIPE_SIZE = 1 << 20


def widen_pipe(fd: int) -> None:
    """Best effort: give the pipe behind ``fd`` 1 MiB of buffer instead of 64 KiB.

    Layers and context files cross these pipes (and ssh) in megabytes; with
    the default 64 KiB the writer stalls whenever the reader stops to fsync
    a blob, and every 64 KiB costs a pair of context switches.  Receiving a
    w3 build's 11 MB of layers over loopback SSH took 0.18-0.29 s with 64 KiB
    and 0.12-0.14 s with 1 MiB.  Not a pipe, not Linux, or over the user's
    pipe quota: nothing changes.
    """
    op = getattr(fcntl, "F_SETPIPE_SZ", None)
    if op is None:
        return
    with contextlib.suppress(OSError, ValueError):
        fcntl.fcntl(fd, op, PIPE_SIZE)


def popen_piped(
    argv: Sequence[str],
    *,
    stdin: int | None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` here in a new session, stdout/stderr piped (stdin ``None``: /dev/null).

    ``env`` ``None`` inherits this process's environment.  Every transport starts
    its local process (the command itself, or the ``ssh`` client) this way.
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            widen_pipe(stream.fileno())
    return proc


def complete(
    proc: subprocess.Popen[bytes], input: bytes | None, timeout: float | None
) -> Completed:
    """Feed ``input`` to ``proc`` and wait for it; past ``timeout`` it is killed (exit 124)."""
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Completed(124, out, err + b"\ntimed out")
    return Completed(proc.returncode, out, err)


def self_command() -> list[str]:
    """How to start the anyarch that is running now (the local node runs the same program).

    A zipapp or console script is re-run through this interpreter; ``python -m
    anyarch`` is re-run as such.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    package_root = Path(anyarch.__file__).resolve().parents[1]
    if argv0 and os.path.isfile(argv0) and not argv0.endswith("__main__.py"):
        path = os.path.abspath(argv0)
        if path.endswith(".pyz") or _is_python_script(path):
            return [sys.executable, path]
    if package_root.suffix == ".pyz" and package_root.is_file():
        return [sys.executable, str(package_root)]
    return [sys.executable, "-m", "anyarch"]


def _is_python_script(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    first = head.split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first and b"anyarch" in head


class LocalTransport:
    """Runs node commands on this machine, as subprocesses."""

    remote = False

    def __init__(
        self, node: str, endpoint: str = "local", *, env: Mapping[str, str] | None = None
    ) -> None:
        self.node = node
        self.endpoint = endpoint
        self.env = dict(env or {})

    def connect(self) -> None:
        return None

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | None = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        full_env = dict(os.environ)
        full_env.update(self.env)
        if env:
            full_env.update(env)
        return popen_piped(argv, stdin=stdin, env=full_env)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Completed:
        return complete(self.start(argv, env=env), input, timeout)

    def close(self) -> None:
        return None


def reap(proc: subprocess.Popen[bytes], drain: threading.Thread) -> int:
    """Wait for a node command that has stopped talking; its exit status, its stderr read.

    ``drain`` is the thread reading its stderr.  A command still running 30 s
    after its stream ended is killed.
    """
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    drain.join(timeout=5)
    return rc
