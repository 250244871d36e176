"""Run one process in a rootfs with crun (or runc), streaming its output.

This is the only place anyarch starts an OCI runtime.  Each run gets a fresh
bundle directory (``config.json``, generated /etc/hosts and /etc/resolv.conf)
and a private runtime state directory (``--root``), so concurrent builds never
see each other's containers, and a crash leaves nothing in ``/run/crun``.

Whatever happens (non-zero exit, timeout, Ctrl-C, a callback raising), the
container is killed and deleted, the mount points anyarch created in the
rootfs are removed again (so they do not show up in the layer diff) and the
bundle is deleted.

Two host quirks are handled here:

* crun is run with ``--cgroup-manager=disabled``: a build step sets no resource
  limits, and creating cgroups fails in nested containers and on hosts where
  the cgroup tree is not delegated to us.
* crun (at least up to 1.8) refuses to start on a *hybrid* cgroup host (v1
  controllers plus a v2 ``/sys/fs/cgroup/unified`` that holds a controller)
  even with cgroups disabled.  There it is started inside a private mount
  namespace (``unshare``) in which ``/sys/fs/cgroup/unified`` is unmounted;
  the host is not changed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from anyarch.errors import BuildError, HostCapabilityError, RuntimeMissingError
from anyarch.sandbox._rootpath import Stub, ensure_in_root, remove_stubs
from anyarch.sandbox.binfmt import BINFMT_DIR, EmulationStatus, require
from anyarch.sandbox.spec import RunSpec, oci_runtime_config, write_support_files
from anyarch.sandbox.users import resolve_user

LineCallback = Callable[[str], None]

#: Lines of output kept for the error message of a failed step.
DEFAULT_TAIL_LINES = 20

#: A line longer than this is passed on in pieces (a progress bar without
#: newlines must not grow a buffer without bound).
MAX_LINE = 64 * 1024

_HYBRID_UNIFIED = "/sys/fs/cgroup/unified"


ENV_BINFMT_DIR = "ANYARCH_BINFMT_DIR"
"""Where binfmt_misc entries are read (tests point it at a fake or empty dir)."""

_CANCEL_HINT = "the build stopped (another step failed, or it was interrupted)"


class RunCanceledError(BuildError):
    """The run was stopped through its ``cancel`` event (the container was killed)."""


class _Canceled:
    """The type of :data:`_CANCELED`, the wait result of a canceled run."""


_CANCELED = _Canceled()


def default_binfmt_dir() -> Path:
    """``$ANYARCH_BINFMT_DIR`` if set, else the kernel's ``/proc/sys/fs/binfmt_misc``."""
    value = os.environ.get(ENV_BINFMT_DIR, "").strip()
    return Path(value) if value else BINFMT_DIR


@dataclass(frozen=True, slots=True)
class Runtime:
    """An OCI runtime binary: ``name`` is ``crun`` or ``runc``."""

    name: str
    path: str


def find_runtime(preferred: str | None = None) -> Runtime:
    """crun if installed, else runc; ``preferred`` (name or path) overrides.

    ``ANYARCH_RUNTIME`` in the environment is the user's way to pick one.
    """
    choice = preferred or os.environ.get("ANYARCH_RUNTIME")
    candidates = [choice] if choice else ["crun", "runc"]
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            name = "runc" if os.path.basename(candidate).startswith("runc") else "crun"
            return Runtime(name, path)
    wanted = choice or "crun or runc"
    raise RuntimeMissingError(
        f"no OCI runtime to run RUN steps: {wanted} not found on PATH",
        hint="install one: apt-get install crun (or: apt-get install runc)",
    )


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended: the exit code and the last lines of output."""

    exit_code: int
    tail: tuple[str, ...]
    duration: float
    args: tuple[str, ...]

    def check(self) -> RunResult:
        """Self if the process exited 0, else BuildError in BuildKit's wording."""
        if self.exit_code == 0:
            return self
        last = self.tail[-1] if self.tail else ""
        hint = (
            f"see the step's output above (last line: {last!r})"
            if last
            else "the step printed nothing; run it by hand in the image to investigate"
        )
        raise BuildError(
            f"process {shlex.join(self.args)!r} did not complete successfully: "
            f"exit code: {self.exit_code}",
            hint=hint,
        )


@functools.lru_cache(maxsize=1)
def _hybrid_cgroup_host() -> bool:
    """Whether /sys/fs/cgroup is a v1 tmpfs with a v2 ``unified`` tree holding controllers."""
    fstypes: dict[str, str] = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) >= 5 and right:
                    fstypes[fields[4]] = right.split()[0]
    except OSError:
        return False
    if fstypes.get("/sys/fs/cgroup") != "tmpfs" or fstypes.get(_HYBRID_UNIFIED) != "cgroup2":
        return False
    try:
        return bool(Path(_HYBRID_UNIFIED, "cgroup.controllers").read_text().strip())
    except OSError:
        return False


def _runtime_command(rt: Runtime, state: Path, *args: str) -> list[str]:
    cmd = [rt.path, "--root", str(state)]
    if rt.name == "crun":
        cmd.append("--cgroup-manager=disabled")
    return [*cmd, *args]


def _wrap_for_hybrid(rt: Runtime, cmd: list[str]) -> list[str]:
    """Start crun where it cannot see the v2 half of a hybrid cgroup setup."""
    if rt.name != "crun" or not _hybrid_cgroup_host():
        return cmd
    unshare = shutil.which("unshare")
    if unshare is None:
        raise HostCapabilityError(
            f"crun cannot run on this hybrid cgroup v1/v2 host without unshare ({_HYBRID_UNIFIED})",
            hint="apt-get install util-linux, or install runc (ANYARCH_RUNTIME=runc)",
        )
    script = f'umount -l {_HYBRID_UNIFIED} && exec "$@"'
    return [unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "crun", *cmd]


class _LinePump:
    """Reads a pipe in a thread, hands whole lines to a callback, keeps a shared tail."""

    def __init__(
        self,
        stream: IO[bytes],
        callback: LineCallback | None,
        tail: deque[str],
        lock: threading.Lock,
    ) -> None:
        self.stream = stream
        self.callback = callback
        self.tail = tail
        self.lock = lock
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace")
        with self.lock:
            self.tail.append(line)
        if self.callback is not None and self.error is None:
            try:
                self.callback(line)
            except BaseException as exc:  # re-raised by run() after cleanup
                self.error = exc

    def _run(self) -> None:
        fd = self.stream.fileno()
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._emit(raw)
            while len(pending) > MAX_LINE:
                self._emit(pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
        if pending:
            self._emit(pending)

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)


def _mount_stub_plan(config: dict[str, Any]) -> list[tuple[str, bool]]:
    """Mount destinations that must exist in the rootfs, with "is a directory".

    A destination inside an earlier mount (``/dev/pts`` in the ``/dev`` tmpfs)
    is created by the runtime in that mount, not in the rootfs.
    """
    plan: list[tuple[str, bool]] = []
    earlier: list[str] = []
    for m in config["mounts"]:
        dest = os.path.normpath(m["destination"])
        nested = any(dest.startswith(p.rstrip("/") + "/") for p in earlier)
        earlier.append(dest)
        if nested:
            continue
        is_dir = m["type"] != "bind" or os.path.isdir(m["source"])
        plan.append((dest, is_dir))
    return plan


def execute(
    spec: RunSpec,
    *,
    stdout_cb: LineCallback | None = None,
    stderr_cb: LineCallback | None = None,
    timeout: float | None = None,
    runtime: Runtime | None = None,
    tail_lines: int = DEFAULT_TAIL_LINES,
    binfmt_dir: Path | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run ``spec`` to completion; the exit code and output tail, never an exit-code error.

    Raises EmulationUnavailableError (foreign platform, no QEMU),
    RuntimeMissingError, BuildError (unknown user, timeout) and
    HostCapabilityError before or around the run; a non-zero exit is a
    result (:meth:`RunResult.check` turns it into BuildError).

    ``cancel``: once set (another part of the build failed, Ctrl-C), the
    process is killed within a fraction of a second -- whether or not it
    prints anything -- and :class:`RunCanceledError` is raised.
    ``binfmt_dir`` defaults to ``$ANYARCH_BINFMT_DIR``, else the kernel's.
    """
    if spec.terminal:
        raise ValueError("RunSpec.terminal=True is not supported: output is streamed as lines")
    if os.geteuid() != 0:
        raise HostCapabilityError(
            f"running {shlex.join(spec.args)!r} needs root: rootless containers are not supported yet",
            hint="run anyarch as root (sudo), or build on a farm node where it runs as root",
        )
    rt = runtime or find_runtime()
    emulation: EmulationStatus | None = None
    if spec.platform:
        emulation = require(spec.platform, binfmt_dir=binfmt_dir or default_binfmt_dir())
    user = resolve_user(spec.rootfs, spec.user)

    bundle = Path(tempfile.mkdtemp(prefix="anyarch-run-"))
    state = bundle / "state"
    container_id = f"anyarch-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    stubs: list[Stub] = []
    proc: subprocess.Popen[bytes] | None = None
    pumps: list[_LinePump] = []
    tail: deque[str] = deque(maxlen=max(1, tail_lines))
    started = time.monotonic()
    try:
        state.mkdir()
        write_support_files(spec, bundle)
        config = oci_runtime_config(spec, user=user, support_dir=bundle, emulation=emulation)
        (bundle / "config.json").write_text(json.dumps(config, indent=1))
        # The working directory is part of the step's result (as in BuildKit):
        # created for the user, never removed.
        ensure_in_root(spec.rootfs, spec.cwd, is_dir=True, uid=user.uid, gid=user.gid)
        for dest, is_dir in _mount_stub_plan(config):
            stubs += ensure_in_root(spec.rootfs, dest, is_dir=is_dir)

        if cancel is not None and cancel.is_set():
            raise RunCanceledError(
                f"process {shlex.join(spec.args)!r} was canceled before it started",
                hint=_CANCEL_HINT,
            )
        cmd = _runtime_command(rt, state, "run", "--bundle", str(bundle), container_id)
        proc = subprocess.Popen(
            _wrap_for_hybrid(rt, cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=bundle,
            start_new_session=True,  # Ctrl-C reaches us, not crun: we clean up in order
        )
        lock = threading.Lock()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            _LinePump(proc.stdout, stdout_cb, tail, lock),
            _LinePump(proc.stderr, stderr_cb, tail, lock),
        ]
        code = _wait(proc, pumps, None if timeout is None else started + timeout, cancel)
        if isinstance(code, _Canceled):
            _kill(rt, state, container_id, proc)
            raise RunCanceledError(
                f"process {shlex.join(spec.args)!r} was canceled and killed",
                hint=_CANCEL_HINT,
            )
        if code is None:
            _kill(rt, state, container_id, proc)
            raise BuildError(
                f"process {shlex.join(spec.args)!r} timed out after {timeout:g}s and was killed",
                hint="raise the step timeout, or check the step for a command waiting on input",
            )
        for pump in pumps:
            pump.join()
        for pump in pumps:
            if pump.error is not None:
                raise pump.error
        return RunResult(code, tuple(tail), time.monotonic() - started, tuple(spec.args))
    except BaseException:
        if proc is not None and proc.poll() is None:
            _kill(rt, state, container_id, proc)
        raise
    finally:
        if proc is not None:
            for pump in pumps:
                pump.join(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if state.is_dir() and any(state.iterdir()):
                subprocess.run(
                    _runtime_command(rt, state, "delete", "--force", container_id),
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
        remove_stubs(stubs)
        shutil.rmtree(bundle, ignore_errors=True)


def _wait(
    proc: subprocess.Popen[bytes],
    pumps: list[_LinePump],
    deadline: float | None,
    cancel: threading.Event | None = None,
) -> int | _Canceled | None:
    """The exit code, None at the deadline, ``_CANCELED`` once ``cancel`` is set.

    A callback error stops the wait.  Polls in short steps so that a
    callback that raised (the caller wants out), the cancel event or the
    deadline is acted on within a fraction of a second.
    """
    while True:
        for pump in pumps:
            if pump.error is not None:
                raise pump.error
        if cancel is not None and cancel.is_set():
            return _CANCELED
        step = 0.1
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            step = min(step, left)
        try:
            return proc.wait(timeout=step)
        except subprocess.TimeoutExpired:
            continue


def _kill(rt: Runtime, state: Path, container_id: str, proc: subprocess.Popen[bytes]) -> None:
    """Stop the container and the runtime process, however far the start got."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            _runtime_command(rt, state, "kill", container_id, "KILL"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        # The container was not created yet (or the runtime hangs): kill the
        # runtime's whole session; `delete --force` in the caller does the rest.
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def run(
    spec: RunSpec,
    *,
    stdout_cb: LineCallback | None = None,
    stderr_cb: LineCallback | None = None,
    timeout: float | None = None,
    runtime: Runtime | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Run ``spec`` and return its exit code (see :func:`execute` for the details)."""
    return execute(
        spec,
        stdout_cb=stdout_cb,
        stderr_cb=stderr_cb,
        timeout=timeout,
        runtime=runtime,
        cancel=cancel,
    ).exit_code
