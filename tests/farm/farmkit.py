"""Real farm nodes for tests: ``sshd`` instances on loopback, and the CLI wired to use them.

Each :class:`SSHNode` is a real OpenSSH server (``sshd -D -f CONFIG``) on a
free 127.0.0.1 port with its own host key, accepting one client key that the
test generated, logging in as the current user (root here).  ``SetEnv`` in
its config gives the node its own ``PATH``, ``HOME``, cache and store, so
several "machines" share this one without sharing state: a node *without*
anyarch gets a ``PATH`` without it (only the system ``python3``), which is
how the bootstrap test sees a clean machine.

:class:`Farm` owns the coordinator side: ``XDG_CONFIG_HOME`` (contexts,
builders), ``XDG_CACHE_HOME``, a short private ``XDG_RUNTIME_DIR`` (control
sockets), the store, and an ``ssh_config`` (``ANYARCH_SSH_CONFIG``) naming the
client key and a ``known_hosts`` holding every node's host key.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.common import REPO, require_tool

SHIM = """#!{python}
# anyarch with every farm command registered, whether or not main.py wires them yet.
import sys

from anyarch.cli import main as _main


class _Collect:
    def __init__(self):
        self.names = []

    def add_command(self, cmd, name=None):
        self.names.append(name or cmd.name)


for _mod in ("build", "context", "builder", "farm_node"):
    try:
        _m = __import__("anyarch.cli." + _mod, fromlist=["register"])
    except ImportError:
        continue
    _c = _Collect()
    _m.register(_c)
    if not any(_main.cli.get_command(None, n) is not None for n in _c.names):
        _m.register(_main.cli)

# Until cli/build.py takes --builder itself: the wiring it needs, done from outside.
_b = _main.cli.get_command(None, "build")
if _b is not None and not any(p.name == "builder" for p in _b.params):
    import click
    from anyarch.cli import farm_build as _fb

    _fb.farm_options(_b)
    _orig = _b.callback

    def _cb(*args, builder=None, plan_only=False, require_native=False, node_push=False, **kw):
        ctx = click.get_current_context()
        farm = _fb.farm_builder(builder, force=plan_only or require_native or node_push)
        if farm is not None:
            return _fb.run_from_build_params(ctx, farm)
        return _orig(*args, **kw)

    _b.callback = _cb
sys.exit(_main.main())
"""


def write_shim(bindir: Path) -> Path:
    """An ``anyarch`` executable for this venv that makes sure every farm command is registered."""
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / "anyarch"
    path.write_text(SHIM.format(python=sys.executable))
    path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "anyarch-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class SSHNode:
    """One sshd on loopback acting as a farm node."""

    name: str
    root: Path
    client_pub: Path
    path_env: str
    store_template: Path | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    host_pub: str = ""

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def url(self) -> str:
        return f"ssh://{os.environ.get('USER', 'root')}@127.0.0.1:{self.port}"

    def prepare(self) -> None:
        require_tool("sshd")
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.cache.mkdir(exist_ok=True)
        if self.store_template is not None and not self.store.exists():
            shutil.copytree(self.store_template, self.store, symlinks=True)
        hk = self.root / "host_key"
        if not hk.exists():
            keygen(hk)
        self.host_pub = " ".join((self.root / "host_key.pub").read_text().split()[:2])
        shutil.copy(self.client_pub, self.root / "authorized_keys")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)

    def config_text(self) -> str:
        env = {
            "PATH": self.path_env,
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.cache),
            "ANYARCH_STORE": str(self.store),
        }
        return "\n".join(
            [
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.root / 'host_key'}",
                f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PidFile none",
                "MaxStartups 100",
                "MaxSessions 100",
                "LogLevel INFO",
                "SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()),
                "",
            ]
        )

    def start(self) -> SSHNode:
        self.prepare()
        last = ""
        for _ in range(5):
            self.port = free_port()
            cfg = self.root / "sshd_config"
            cfg.write_text(self.config_text())
            log = open(self.root / "sshd.log", "ab")  # noqa: SIM115 - handed to the child
            self.proc = subprocess.Popen(
                [require_tool("sshd"), "-D", "-e", "-f", str(cfg)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s,
                ):
                    if s.recv(4).startswith(b"SSH"):
                        return self
                time.sleep(0.05)
            last = (self.root / "sshd.log").read_text()[-2000:]
            self.kill()
        raise RuntimeError(f"sshd for {self.name} did not start: {last}")

    def logins(self) -> int:
        """How many SSH connections were authenticated so far (from the sshd log)."""
        log = self.root / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_pub}"

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def kill(self) -> None:
        """Kill the node outright: the listener and every session and build under it."""
        if self.proc is None:
            return
        for pid in reversed(self.pids()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        self.proc = None

    def stop_listener(self) -> None:
        """Stop accepting connections (sessions already open keep running)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
            self.proc = None


class Farm:
    """The coordinator's environment and a set of SSH nodes."""

    def __init__(
        self,
        root: Path,
        shim: Path,
        client_key: Path,
        store_template: Path | None = None,
        cache: Path | None = None,
    ) -> None:
        self.root = root
        self.cache = cache or root / "cache"
        self.shim = shim
        self.client_key = client_key
        self.store_template = store_template
        self.nodes: dict[str, SSHNode] = {}
        self.runtime = Path(tempfile.mkdtemp(prefix="aa-rt-", dir="/tmp"))
        os.chmod(self.runtime, 0o700)
        (root / "config").mkdir(parents=True, exist_ok=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text("")
        self.ssh_config = root / "ssh_config"
        self.ssh_config.write_text(
            "\n".join(
                [
                    "Host *",
                    f"  IdentityFile {client_key}",
                    "  IdentitiesOnly yes",
                    f"  UserKnownHostsFile {self.known_hosts}",
                    "  StrictHostKeyChecking yes",
                    "  GlobalKnownHostsFile /dev/null",
                    "",
                ]
            )
        )

    @property
    def store(self) -> Path:
        return self.root / "store"

    def env(self, **extra: str) -> dict[str, str]:
        e = dict(os.environ)
        for k in ("ANYARCH_DEBUG", "SOURCE_DATE_EPOCH"):
            e.pop(k, None)
        e.update(
            {
                "XDG_CONFIG_HOME": str(self.root / "config"),
                "XDG_CACHE_HOME": str(self.cache),
                "XDG_RUNTIME_DIR": str(self.runtime),
                "ANYARCH_STORE": str(self.store),
                "ANYARCH_SSH_CONFIG": str(self.ssh_config),
                "ANYARCH_NODE_TIMEOUT": "3",
                "PATH": f"{self.shim.parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            }
        )
        e.update(extra)
        return e

    def add_node(self, name: str, *, with_anyarch: bool = True, start: bool = True) -> SSHNode:
        path = (
            f"{self.shim.parent}:/usr/sbin:/usr/bin:/sbin:/bin"
            if with_anyarch
            else "/usr/sbin:/usr/bin:/sbin:/bin"
        )
        node = SSHNode(
            name,
            self.root / "nodes" / name,
            self.client_key.with_suffix(".pub"),
            path,
            self.store_template,
        )
        if start:
            node.start()
            with open(self.known_hosts, "a") as fh:
                fh.write(node.known_hosts_line() + "\n")
        else:
            node.prepare()
            node.port = free_port()  # nothing listens there
        self.nodes[name] = node
        return node

    def run(self, *args: str, timeout: float = 240, env: dict[str, str] | None = None) -> CLI:
        p = subprocess.run(
            [str(self.shim), *args],
            capture_output=True,
            env=env or self.env(),
            timeout=timeout,
            cwd=str(self.root),
        )
        return CLI(
            p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        )

    def close(self) -> None:
        for n in self.nodes.values():
            n.kill()
        unmount_under(self.root)
        # masters exit when their server side is gone; remove the socket dir
        shutil.rmtree(self.runtime, ignore_errors=True)


def unmount_under(root: Path) -> None:
    """Unmount what a killed node's build left mounted below ``root`` (deepest first)."""
    prefix = str(root.resolve()) + "/"
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@dataclass
class CLI:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"CLI(code={self.code}, out={self.out[-3000:]!r}, err={self.err[-3000:]!r})"


def build_available(shim: Path) -> str | None:
    """None when ``anyarch build`` works here; otherwise why not."""
    if not (REPO / "src" / "anyarch" / "cli" / "build.py").is_file():
        return "src/anyarch/cli/build.py does not exist yet"
    p = subprocess.run([str(shim), "build", "--help"], capture_output=True, timeout=60)
    if p.returncode != 0:
        return f"'anyarch build --help' fails: {p.stderr.decode(errors='replace')[-300:]}"
    return None
