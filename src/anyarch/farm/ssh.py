"""The SSH transport: the OpenSSH client, one multiplexed connection per node.

Going through the ``ssh`` binary means everything users already set up works
as with ``docker -H ssh://``: ``~/.ssh/config`` (Host aliases, ProxyJump,
IdentityFile), the agent, keys and ``known_hosts``.  anyarch only adds:

* ``BatchMode=yes`` — never prompt (an unknown host key or a missing key is
  an error naming the node, not a hang);
* ``ConnectTimeout=N`` — an unreachable node costs at most N seconds;
* ``ServerAliveInterval`` — a node that dies mid-build is noticed in seconds;
* one master connection per node (``ControlMaster``/``ControlPath`` in a
  private 0700 runtime directory), which every later command of this run
  multiplexes over: authentication happens once per node, not per command.

``ANYARCH_SSH_CONFIG`` names an ssh_config file to use instead of the user's
(``ssh -F``); it is how the test suite points at its own keys and known_hosts.

This is the only module of anyarch that starts ``ssh``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from anyarch.errors import NodeError, UsageError
from anyarch.farm.config import Endpoint
from anyarch.farm.transport import Completed, complete, popen_piped, shell_command

DEFAULT_CONNECT_TIMEOUT = 5.0
_PERSIST_SECONDS = 30
_SOCKET_MAX = 100  # sun_path is 108 bytes; keep room for ssh's temporary suffix


def node_timeout() -> float:
    """Seconds to wait for a node to answer (``ANYARCH_NODE_TIMEOUT``, default 5)."""
    raw = os.environ.get("ANYARCH_NODE_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else DEFAULT_CONNECT_TIMEOUT
    except ValueError:
        raise UsageError(
            f"ANYARCH_NODE_TIMEOUT={raw!r} is not a number of seconds",
            hint="e.g. ANYARCH_NODE_TIMEOUT=3",
        ) from None


def ssh_binary() -> str:
    found = shutil.which("ssh")
    if found is None:
        raise NodeError(
            "the OpenSSH client (ssh) is not installed",
            hint="install it (Debian: apt-get install openssh-client); anyarch reaches farm nodes through it",
        )
    return found


def control_dir() -> Path:
    """A private directory for control sockets: ``$XDG_RUNTIME_DIR/anyarch/ssh`` or under /tmp.

    It must belong to us and be mode 0700 (anyone who can reach a control
    socket can run commands on the node as us).  Long paths fall back to a
    short one under /tmp, because a socket path is limited to ~100 bytes.
    """
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / "anyarch" / "ssh"
        if runtime
        else Path(tempfile.gettempdir()) / f"anyarch-ssh-{uid}"
    )
    if len(str(base)) + 42 > _SOCKET_MAX:
        tag = hashlib.sha256(str(base).encode()).hexdigest()[:10]
        base = Path("/tmp") / f"anyarch-ssh-{uid}-{tag}"
    _private_dir(base)
    return base


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise NodeError(
            f"{path} is not a directory owned by you; refusing to put SSH control sockets there",
            hint="remove it, or set XDG_RUNTIME_DIR to a private directory",
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


class SSHTransport:
    """Runs node commands over ``ssh``, multiplexed over one master connection."""

    remote = True

    def __init__(
        self,
        node: str,
        endpoint: Endpoint,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        config_file: str | None = None,
    ) -> None:
        if endpoint.kind != "ssh":
            raise ValueError(f"not an ssh endpoint: {endpoint}")
        self.node = node
        self.endpoint = endpoint.url
        self._ep = endpoint
        self.connect_timeout = connect_timeout
        self.config_file = (
            config_file if config_file is not None else os.environ.get("ANYARCH_SSH_CONFIG") or None
        )
        self._control: Path | None = None
        self._master_started = False
        self._lock = threading.Lock()
        self._early: threading.Thread | None = None
        self._early_error: NodeError | None = None

    # -- argv --

    def _base(self) -> list[str]:
        args = [ssh_binary()]
        if self.config_file:
            args += ["-F", self.config_file]
        timeout = max(1, round(self.connect_timeout))
        args += [
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={timeout}",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        if self._control is not None:
            args += ["-o", f"ControlPath={self._control}/%C"]
        if self._ep.port is not None:
            args += ["-p", str(self._ep.port)]
        if self._ep.user:
            args += ["-l", self._ep.user]
        return args

    def _destination(self) -> str:
        return self._ep.host

    # -- connection --

    def connect_soon(self) -> None:
        """Start :meth:`connect` on a thread now; the next :meth:`connect` waits for it.

        The SSH handshake (~0.25 s on loopback) then overlaps what the caller
        does meanwhile (a farm build: its remaining imports); its error, if
        any, is raised by that :meth:`connect`.
        """
        if self._early is not None or self._master_started:
            return

        def run() -> None:
            try:
                self._connect()
            except NodeError as e:
                self._early_error = e

        self._early = threading.Thread(target=run, daemon=True)
        self._early.start()

    def connect(self) -> None:
        """Open (or reuse) the master connection; :class:`NodeError` if the node does not answer."""
        early, self._early = self._early, None
        if early is not None:
            early.join()
            err, self._early_error = self._early_error, None
            if err is not None:
                raise err
            return
        self._connect()

    def _connect(self) -> None:
        with self._lock:
            if self._control is None:
                self._control = control_dir()
            if self._check_master():
                return
            with tempfile.TemporaryFile() as errf:
                try:
                    master = [
                        *self._base(),
                        "-o", "ControlMaster=yes",
                        "-o", f"ControlPersist={_PERSIST_SECONDS}",
                        "-f", "-N",
                        self._destination(),
                    ]  # fmt: skip
                    proc = subprocess.run(
                        master,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=errf,
                        timeout=self.connect_timeout + 15,
                        check=False,
                    )
                    rc = proc.returncode
                except subprocess.TimeoutExpired:
                    rc = 255
                    errf.write(f"no answer within {self.connect_timeout:g}s".encode())
                errf.seek(0)
                err = errf.read().decode(errors="replace").strip()
            if rc != 0:
                raise self.unreachable(err)
            self._master_started = True

    def _control_op(self, op: str) -> int:
        """``ssh -O op`` on the master connection: its exit status (raises on a 10s timeout)."""
        return subprocess.run(
            [*self._base(), "-O", op, self._destination()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        ).returncode

    def _check_master(self) -> bool:
        assert self._control is not None
        try:
            with os.scandir(self._control) as entries:
                if not any(entries):
                    return False  # no control socket at all: no master to ask (saves an ssh start)
        except OSError:
            pass
        try:
            rc = self._control_op("check")
        except subprocess.TimeoutExpired:
            return False
        return rc == 0

    def unreachable(self, detail: str) -> NodeError:
        last = detail.strip().splitlines()[-1] if detail.strip() else "no answer"
        port = f" -p {self._ep.port}" if self._ep.port else ""
        user = f"{self._ep.user}@" if self._ep.user else ""
        return NodeError(
            f"node {self.node} ({self.endpoint}) is unreachable: {last}",
            hint=f"check that 'ssh{port} {user}{self._ep.host} true' works without a prompt "
            "(anyarch uses your ssh config, agent, keys and known_hosts, in batch mode)",
        )

    # -- commands --

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | None = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        if self._control is None:
            self.connect()
        return popen_piped(
            [
                *self._base(),
                "-o",
                "ControlMaster=no",
                "-T",
                self._destination(),
                shell_command(argv, env),
            ],
            stdin=stdin,
        )

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
        """Stop the master connection this transport started."""
        with self._lock:
            if not self._master_started or self._control is None:
                return
            self._master_started = False
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self._control_op("exit")


def is_connection_failure(result: Completed) -> bool:
    """ssh exits 255 when the connection (not the remote command) failed."""
    return result.returncode == 255


__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "SSHTransport",
    "control_dir",
    "is_connection_failure",
    "node_timeout",
]
