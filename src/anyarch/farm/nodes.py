"""A node as the coordinator sees it: its transport, how to run anyarch there, what it can do.

:meth:`NodeSession.probe` connects (a short timeout: an unreachable node is
reported, not waited for), finds ``anyarch`` and ``python3`` on the node,
bootstraps the zipapp when needed, then asks ``anyarch farm-node info`` for
versions, the native platform, the emulated ones (binfmt_misc, as ``anyarch
doctor`` sees them) and free disk.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from anyarch.errors import NodeError
from anyarch.farm import bootstrap, protocol
from anyarch.farm.config import Endpoint, FarmConfig, NodeConfig
from anyarch.farm.scheduler import NodeCapabilities, canonical
from anyarch.farm.ssh import DEFAULT_CONNECT_TIMEOUT, SSHTransport
from anyarch.farm.transport import Completed, LocalTransport, Transport, reap, self_command

_PROBE = r"""
c="${XDG_CACHE_HOME:-$HOME/.cache}/anyarch/farm"
printf 'cache=%s\n' "$c"
if command -v anyarch >/dev/null 2>&1; then printf 'anyarch=%s\n' "$(command -v anyarch)"; fi
for p in python3 python; do
  if command -v "$p" >/dev/null 2>&1; then
    printf 'python=%s\n' "$(command -v "$p")"
    printf 'python_version=%s\n' "$("$p" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"
    break
  fi
done
if [ -n "$1" ] && [ -f "$c/zipapp/$1" ]; then echo zipapp=1; fi
"""

# The probe when anyarch is on the node's PATH: say where, then become
# ``anyarch farm-node info|serve`` — one SSH session and one command instead of
# the probe above followed by ``farm-node info``.  Without anyarch it exits 3
# and the full probe runs (python3, a shipped zipapp: the bootstrap path).
_FAST_PROBE = r"""
a=$(command -v anyarch 2>/dev/null) || exit 3
printf '%s%s\n' '@anyarch-farm-node@ ' "$a"
exec "$a" farm-node "$@"
"""
_MARK = b"@anyarch-farm-node@ "

_UPLOAD = r"""set -e
d="${XDG_CACHE_HOME:-$HOME/.cache}/anyarch/farm/zipapp"
mkdir -p "$d"
t="$d/.tmp-$$"
cat > "$t"
chmod 755 "$t"
mv -f "$t" "$d/$1"
printf '%s\n' "$d/$1"
"""


@dataclass(frozen=True, slots=True)
class ServedBuild:
    """A node's ``anyarch farm-node serve`` left waiting after the probe for its build.

    The node's Python that answered the probe runs the build too: the first
    ``farm-node build`` on the node sends its arguments to this process
    (:meth:`NodeSession.take_served`) instead of starting another one over SSH.
    ``err_tail`` holds the last lines of its stderr (``drain`` reads them).
    """

    proc: subprocess.Popen[bytes]
    err_tail: list[bytes]
    drain: threading.Thread


@dataclass(frozen=True, slots=True)
class PlatformSupport:
    platform: str
    how: str  # native | emulated | unavailable
    handler: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a probe learned about a node (``reachable=False``: ``error`` says why)."""

    name: str
    endpoint: str
    pinned: tuple[str, ...] = ()
    reachable: bool = False
    error: str = ""
    hint: str = ""
    anyarch_version: str | None = None
    python_version: str | None = None
    bootstrapped: bool = False
    bootstrap_reason: str | None = None
    host: str | None = None
    platforms: tuple[PlatformSupport, ...] = ()
    disk_free: int | None = None
    cache_dir: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    missing_anyarch: bool = False  # reachable, but anyarch must be shipped first (not allowed to)

    @property
    def status(self) -> str:
        if self.reachable:
            return "ready"
        if self.missing_anyarch:
            return "needs bootstrap"
        return "unreachable"

    @property
    def native(self) -> tuple[str, ...]:
        return tuple(p.platform for p in self.platforms if p.how == "native")

    @property
    def emulated(self) -> tuple[str, ...]:
        return tuple(p.platform for p in self.platforms if p.how == "emulated")

    def capabilities(self) -> NodeCapabilities:
        return NodeCapabilities(
            name=self.name,
            pinned=self.pinned,
            native=self.native,
            emulated=self.emulated,
            reachable=self.reachable,
            unreachable_reason=self.error,
            emulators={
                p.platform: p.handler for p in self.platforms if p.how == "emulated" and p.handler
            },
        )


def transport_for(
    node: NodeConfig,
    endpoint: Endpoint,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    local_env: Mapping[str, str] | None = None,
) -> Transport:
    """The transport for a node; ``local_env`` is extra environment for a local node
    (the coordinator's ``--store``, so this machine builds into the same store)."""
    if endpoint.is_local:
        return LocalTransport(node.name, endpoint.url, env=local_env)
    return SSHTransport(node.name, endpoint, connect_timeout=connect_timeout)


class NeedsBootstrap(NodeError):
    """The node answers but has no usable anyarch, and shipping one was not allowed."""

    def __init__(self, message: str, *, hint: str, reason: str) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class NodeSession:
    """One node during one anyarch command: transport, anyarch invocation, probe results."""

    def __init__(
        self, node: NodeConfig, transport: Transport, *, prefix: Sequence[str] | None = None
    ) -> None:
        self.config = node
        self.name = node.name
        self.transport = transport
        self.endpoint = transport.endpoint
        self.pinned = tuple(canonical(p) for p in node.platforms)
        self._prefix: list[str] | None = list(prefix) if prefix is not None else None
        self.info: NodeInfo | None = None
        self._served: ServedBuild | None = None

    #: Seconds the one-session probe may take (the full probe allows 60 + 120).
    fast_probe_timeout: float = 120.0

    @classmethod
    def open(
        cls,
        config: FarmConfig,
        node: NodeConfig,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        local_env: Mapping[str, str] | None = None,
    ) -> NodeSession:
        endpoint = config.endpoint_of(node)
        return cls(
            node,
            transport_for(node, endpoint, connect_timeout=connect_timeout, local_env=local_env),
        )

    def connect_soon(self) -> None:
        """Start the SSH handshake now, on a thread (:meth:`probe` waits for it); local: nothing."""
        if isinstance(self.transport, SSHTransport):
            self.transport.connect_soon()

    # -- running anyarch there --

    @property
    def prefix(self) -> list[str]:
        if self._prefix is None:
            raise NodeError(f"node {self.name} has not been probed", hint="a bug in anyarch")
        return self._prefix

    def start_anyarch(
        self, args: Sequence[str], *, stdin: int | None = subprocess.PIPE
    ) -> subprocess.Popen[bytes]:
        return self.transport.start([*self.prefix, *args], stdin=stdin)

    def run_anyarch(
        self, args: Sequence[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> Completed:
        return self.transport.run([*self.prefix, *args], input=input, timeout=timeout)

    def failure(self, what: str, res: Completed) -> NodeError:
        """An error for a failed node command: lost connection vs. the command's own complaint."""
        err = res.err_text
        if self.transport.remote and res.returncode == 255:
            return NodeError(
                f"node {self.name} ({self.endpoint}) {what}: connection lost ({_last(err)})",
                hint="is the node up? anyarch retries lost nodes' platforms on other nodes once",
            )
        return NodeError(
            f"node {self.name} ({self.endpoint}) {what}: {_last(err) or f'exit status {res.returncode}'}",
            hint=_hint_from(err) or "run 'anyarch builder inspect --bootstrap' to check the node",
        )

    # -- probing --

    def probe(
        self, platforms: Sequence[str] = (), *, bootstrap_ok: bool = True, serve: bool = False
    ) -> NodeInfo:
        """Connect and learn what the node can do; never raises for an unreachable node.

        ``serve``: a build follows; where the node's own anyarch answers, the
        process that answered stays waiting for it (:meth:`take_served`).
        """
        self.discard_served()
        try:
            info = self._probe(platforms, bootstrap_ok, serve)
        except NeedsBootstrap as e:
            info = NodeInfo(
                self.name,
                self.endpoint,
                self.pinned,
                reachable=False,
                error=e.message,
                hint=e.hint or "",
                bootstrap_reason=e.reason,
                missing_anyarch=True,
            )
        except NodeError as e:
            info = NodeInfo(
                self.name,
                self.endpoint,
                self.pinned,
                reachable=False,
                error=e.message,
                hint=e.hint or "",
            )
        self.info = info
        return info

    def _probe(self, platforms: Sequence[str], bootstrap_ok: bool, serve: bool) -> NodeInfo:
        self.transport.connect()
        wanted = list(dict.fromkeys([*self.pinned, *(canonical(p) for p in platforms)]))
        if not self.transport.remote:
            if self._prefix is None:
                self._prefix = self_command()
            return self._make_info(self._info(wanted), bootstrapped=False, reason=None)
        fast = self._fast_probe(wanted, serve)
        if fast is not None:
            path, answer = fast
            if (
                bootstrap.needs_bootstrap(
                    answer.get("anyarch"), answer.get("protocol"), protocol.PROTOCOL
                )
                is None
            ):
                self._prefix = [path]
                return self._make_info(answer, bootstrapped=False, reason=None)
            self.discard_served()  # the full probe below says why and ships anyarch
        zipapp_name = bootstrap.zipapp_name()
        res = self.transport.run(["sh", "-c", _PROBE, "sh", zipapp_name], timeout=60)
        if res.returncode != 0:
            raise self.failure("did not answer the probe", res)
        facts = dict(
            line.split("=", 1)
            for line in res.stdout.decode(errors="replace").splitlines()
            if "=" in line
        )
        reason: str | None = "anyarch is not installed there"
        doc: dict[str, Any] | None = None
        if facts.get("anyarch"):
            self._prefix = [facts["anyarch"]]
            try:
                doc = self._info(wanted)
                reason = bootstrap.needs_bootstrap(
                    doc.get("anyarch"), doc.get("protocol"), protocol.PROTOCOL
                )
            except NodeError as e:
                reason = f"its anyarch does not answer the farm protocol ({e.message})"
        if reason is None and doc is not None:
            return self._make_info(doc, bootstrapped=False, reason=None)
        python = facts.get("python")
        pyver = facts.get("python_version", "")
        shipped = facts.get("zipapp") == "1" and facts.get("cache")
        if not bootstrap_ok and not (shipped and python):
            raise NeedsBootstrap(
                f"node {self.name} ({self.endpoint}) cannot be used yet: {reason}",
                hint="install anyarch there, or let anyarch ship itself ('anyarch builder inspect --bootstrap')",
                reason=reason or "",
            )
        if not python:
            raise NodeError(
                f"node {self.name} ({self.endpoint}) has neither anyarch nor python3",
                hint="install Python ≥ 3.11 there (anyarch then ships itself) or install anyarch",
            )
        if bootstrap.version_tuple(pyver) < bootstrap.MIN_PYTHON:
            raise NodeError(
                f"node {self.name} ({self.endpoint}): its {python} is Python {pyver or '?'}; anyarch needs ≥ 3.11",
                hint="install a newer python3 there, or install anyarch in a Python ≥ 3.11 environment on it",
            )
        if shipped:
            remote_path = f"{facts['cache']}/zipapp/{zipapp_name}"
        else:
            remote_path = self._ship(bootstrap.build_zipapp())
        self._prefix = [python, remote_path]
        served = self._fast_probe(wanted, serve, prefix=self._prefix) if serve else None
        doc = served[1] if served is not None else self._info(wanted)
        return self._make_info(doc, bootstrapped=True, reason=reason)

    def _fast_probe(
        self, wanted: Sequence[str], serve: bool, *, prefix: Sequence[str] | None = None
    ) -> tuple[str, dict[str, Any]] | None:
        """Find the node's anyarch and ask it ``farm-node info`` (or ``serve``) in one session.

        Returns (its path, the info document), or None when the full probe must
        run: no anyarch on the node's PATH, or one that does not answer (an
        older version without ``farm-node serve``, a broken install) — the full
        probe then finds out why, with today's messages, and bootstraps.  A
        lost connection or a node that does not answer in time is an error here.
        With ``serve`` the answering process is kept for the build.

        ``prefix``: how to run anyarch there is already known (the shipped
        zipapp): it is asked directly instead of through the probe script, and
        None means the caller asks ``farm-node info`` the usual way.
        """
        args = ["serve" if serve else "info"]
        for p in wanted:
            args += ["--platform", p]
        if prefix is None:
            proc = self.transport.start(["sh", "-c", _FAST_PROBE, "sh", *args])
        else:
            proc = self.transport.start([*prefix, "farm-node", *args])
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        err_tail: list[bytes] = []
        drain = threading.Thread(target=drain_stderr, args=(proc.stderr, err_tail), daemon=True)
        drain.start()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            with contextlib.suppress(OSError):
                proc.kill()

        timer = threading.Timer(self.fast_probe_timeout, expire)
        timer.daemon = True
        timer.start()
        kept = False
        try:
            if not serve:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if prefix is None:
                head = proc.stdout.readline()
                if not head.startswith(_MARK) or not head.endswith(b"\n"):
                    rc = reap(proc, drain)
                    if expired.is_set() or rc == 255:
                        raise self.failure(
                            "did not answer the probe", self._ended(rc, expired, err_tail)
                        )
                    return None
                path = head[len(_MARK) : -1].decode(errors="surrogateescape")
            else:
                path = prefix[-1]
            if serve:
                try:
                    frame = protocol.read_frame(proc.stdout)
                except (protocol.StreamCut, protocol.ProtocolError, OSError):
                    frame = None
                if (
                    frame is None
                    or frame.kind != protocol.RESULT
                    or not isinstance(frame.obj, dict)
                ):
                    rc = reap(proc, drain)
                    if expired.is_set() or rc == 255:
                        raise self.failure(
                            "'anyarch farm-node info' failed",
                            self._ended(rc, expired, err_tail),
                        )
                    return None
                self._served = ServedBuild(proc, err_tail, drain)
                kept = True
                return path, frame.obj
            out = proc.stdout.read()
            rc = reap(proc, drain)
            if expired.is_set() or rc == 255:
                raise self.failure(
                    "'anyarch farm-node info' failed",
                    self._ended(rc, expired, err_tail, out),
                )
            if rc != 0:
                return None
            try:
                doc = json.loads(out)
            except ValueError:
                return None
            return (path, doc) if isinstance(doc, dict) else None
        finally:
            timer.cancel()
            if not kept:
                _discard(proc, drain)

    @staticmethod
    def _ended(
        rc: int, expired: threading.Event, err_tail: list[bytes], out: bytes = b""
    ) -> Completed:
        """A fast probe's end as :meth:`failure` reads it (a timeout as ``transport.run``'s)."""
        if expired.is_set():
            return Completed(124, out, b"".join(err_tail) + b"\ntimed out")
        return Completed(rc, out, b"".join(err_tail))

    def take_served(self) -> ServedBuild | None:
        """The probe's waiting ``farm-node serve`` (once), or None: start a ``farm-node build``."""
        served, self._served = self._served, None
        if served is not None and served.proc.poll() is not None:
            _discard(served.proc, served.drain)
            return None
        return served

    def discard_served(self) -> None:
        """End a waiting ``farm-node serve`` nobody needs (EOF on its stdin: it exits)."""
        served, self._served = self._served, None
        if served is not None:
            _discard(served.proc, served.drain)

    def _ship(self, zipapp: bootstrap.Zipapp) -> str:
        res = self.transport.run(
            ["sh", "-c", _UPLOAD, "sh", zipapp.name], input=zipapp.path.read_bytes(), timeout=300
        )
        if res.returncode != 0:
            raise self.failure("could not receive the anyarch zipapp", res)
        return res.stdout.decode().strip().splitlines()[-1]

    def _info(self, platforms: Sequence[str]) -> dict[str, Any]:
        args = ["farm-node", "info"]
        for p in platforms:
            args += ["--platform", p]
        res = self.run_anyarch(args, timeout=120)
        if res.returncode != 0:
            raise self.failure("'anyarch farm-node info' failed", res)
        try:
            doc = json.loads(res.stdout)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except ValueError:
            raise NodeError(
                f"node {self.name}: 'anyarch farm-node info' printed {res.stdout[:120]!r}",
                hint="is the node's anyarch a different version?",
            ) from None
        return doc

    def _make_info(
        self, doc: Mapping[str, Any], *, bootstrapped: bool, reason: str | None
    ) -> NodeInfo:
        plats = []
        for p in doc.get("platforms", []):
            try:
                plats.append(
                    PlatformSupport(
                        canonical(str(p["platform"])),
                        str(p["how"]),
                        p.get("handler"),
                        str(p.get("note", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        return NodeInfo(
            name=self.name,
            endpoint=self.endpoint,
            pinned=self.pinned,
            reachable=True,
            anyarch_version=doc.get("anyarch"),
            python_version=doc.get("python"),
            bootstrapped=bootstrapped,
            bootstrap_reason=reason,
            host=doc.get("host"),
            platforms=tuple(plats),
            disk_free=doc.get("disk_free"),
            cache_dir=doc.get("cache_dir"),
            raw=dict(doc),
        )

    def close(self) -> None:
        self.discard_served()
        self.transport.close()


def drain_stderr(stream: IO[bytes], tail: list[bytes]) -> None:
    """Read a node command's stderr to its end, keeping the last 20 lines in ``tail``."""
    with contextlib.suppress(OSError, ValueError):
        for line in iter(stream.readline, b""):
            tail.append(line)
            del tail[:-20]


def _discard(proc: subprocess.Popen[bytes], drain: threading.Thread) -> None:
    """Close a node command's stdin (it ends on EOF) and wait for it; kill it if it lingers."""
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
    drain.join(timeout=1)


def _last(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("Error: "):
            return ln[len("Error: ") :]
    return lines[-1] if lines else ""


def _hint_from(err: str) -> str | None:
    for ln in err.splitlines():
        if ln.startswith("Hint: "):
            return ln[len("Hint: ") :]
    return None


__all__ = [
    "NodeInfo",
    "NodeSession",
    "PlatformSupport",
    "ServedBuild",
    "drain_stderr",
    "transport_for",
]
