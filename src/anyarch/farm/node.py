"""The node's side of the farm protocol (``anyarch farm-node …``, hidden commands).

These run on a farm node, started by the coordinator over SSH (or as a local
subprocess for the ``default`` node), and talk over stdin/stdout:

``info``
    JSON: anyarch/Python versions, protocol, host platform, per-platform
    native/emulated/unavailable (the same probe as ``anyarch doctor``), free disk.
``context-need`` / ``context-put``
    The two halves of a context sync (see :mod:`anyarch.farm.context_sync`).
``context-sync``
    Both halves on one stream, in one process.
``build``
    Runs ``anyarch build`` for the node's platforms on a synced context (with
    ``--context-on-stdin``, after syncing it on the same stream) and streams
    framed progress events, then the result; the coordinator answers with
    the blobs it lacks, and they follow on the same stream.

The node never needs registry credentials: results go back to the
coordinator over the connection — unless the coordinator asked the node to
push by digest itself (``--push-to``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform as pyplatform
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import anyarch
from anyarch._util.fs import mark_top_directory
from anyarch.errors import AnyarchError
from anyarch.farm import protocol
from anyarch.farm import worker as build_worker
from anyarch.farm.context_sync import DIR, FILE, SYMLINK, ContextEntry, is_digest
from anyarch.farm.transport import self_command
from anyarch.farm.worker import kill_group
from anyarch.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatype
from anyarch.oci.platform import Platform, normalize
from anyarch.oci.platform import format as format_platform

KEEP_SNAPSHOTS = 4


def cache_dir() -> Path:
    """Where a node keeps contexts, bootstrap zipapps and build scratch space."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "anyarch" / "farm"


class NodeFailure(Exception):
    """A node-side helper failed in a way the coordinator should show the user."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# --- info -------------------------------------------------------------------------------


def info(platforms: Sequence[str] = (), *, store_root: Path | None = None) -> dict[str, Any]:
    """What this node is and can build (``anyarch farm-node info``)."""
    from anyarch.sandbox import doctor_report
    from anyarch.sandbox.binfmt import host_target

    statuses = doctor_report(list(platforms) if platforms else None)
    cache = cache_dir()
    return {
        "protocol": protocol.PROTOCOL,
        "anyarch": anyarch.__version__,
        "python": pyplatform.python_version(),
        "machine": os.uname().machine,
        "host": str(host_target()),
        "zipapp": Path(anyarch.__file__).resolve().parents[1].suffix == ".pyz",
        "platforms": [
            {"platform": s.platform, "how": s.how, "handler": s.handler, "note": s.reason}
            for s in statuses
        ],
        "cache_dir": str(cache),
        "store": str(store_root) if store_root else None,
        "disk_free": _free(store_root or cache),
        "cpus": os.cpu_count(),
    }


def _free(path: Path) -> int | None:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


# --- context snapshots ----------------------------------------------------------------------


def _contexts_root() -> Path:
    return cache_dir() / "contexts"


def _snapshots() -> list[Path]:
    root = _contexts_root()
    if not root.is_dir():
        return []
    snaps = [
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()
    ]
    return sorted(snaps, key=lambda p: (p / "manifest.json").stat().st_mtime_ns, reverse=True)


def _snapshot_id(manifest: bytes) -> str:
    return hashlib.sha256(manifest).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@contextlib.contextmanager
def _lock(path: Path, *, shared: bool = False, block: bool = True) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if block else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _known_files() -> dict[str, Path]:
    """digest → a file with that content, from the recent snapshots."""
    known: dict[str, Path] = {}
    for snap in _snapshots()[:KEEP_SNAPSHOTS]:
        try:
            m = json.loads((snap / "manifest.json").read_bytes())
        except (OSError, ValueError):
            continue
        for e in m.get("entries", []):
            if e.get("t") == FILE and e.get("d"):
                known.setdefault(e["d"], snap / "ctx" / e["p"])
        df = m.get("dockerfile") or {}
        if df.get("d"):
            known.setdefault(df["d"], snap / "df" / df["name"])
        ig = m.get("ignore") or {}
        if ig.get("d"):
            known.setdefault(
                ig["d"], snap / "df" / (df.get("name", "Dockerfile") + ".dockerignore")
            )
    return {d: p for d, p in known.items() if p.is_file() and not p.is_symlink()}


def _wanted_digests(m: dict[str, Any]) -> set[str]:
    out = {e["d"] for e in m["entries"] if e.get("t") == FILE and not e.get("h")}
    out.add(m["dockerfile"]["d"])
    if m.get("ignore"):
        out.add(m["ignore"]["d"])
    return out


def _known_snapshot(raw: bytes) -> str | None:
    """The snapshot whose id is the digest of ``raw``, if this node has it.

    Coordinators send the manifest in its canonical form, so an unchanged
    context is found by one digest of the bytes: no parsing, no checking of
    thousands of entries (the snapshot's manifest was checked when it was
    made, and equal digests mean equal manifests).  Anything else -- another
    spelling of the same manifest, a new one -- takes the full path.
    """
    return _held_snapshot(_snapshot_id(raw)) if raw else None


def _held_snapshot(sid: str) -> str | None:
    """The snapshot ``sid`` if this node holds it, marked as recently used (pruning keeps it)."""
    snap = _contexts_root() / sid
    if not (snap / "manifest.json").is_file():
        return None
    os.utime(snap / "manifest.json")
    return str(snap)


def context_need(manifest_raw: bytes | dict[str, Any]) -> dict[str, Any]:
    """Answer a manifest: the snapshot if present, else the digests this node lacks."""
    m = _parse_manifest(manifest_raw)
    held = _held_snapshot(_snapshot_id(_canonical(m)))
    if held is not None:
        return {"snapshot": held, "need": []}
    known = _known_files()
    return {"snapshot": None, "need": sorted(d for d in _wanted_digests(m) if d not in known)}


def _parse_manifest(raw: bytes | Any) -> dict[str, Any]:
    try:
        m = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
        if not isinstance(m, dict) or m.get("v") != 1:
            raise ValueError("unknown manifest version")
        for e in m["entries"]:
            ContextEntry.from_json(e)
        name = m["dockerfile"]["name"]
        if not isinstance(name, str) or "/" in name or "\0" in name or name in ("", ".", ".."):
            raise ValueError(f"bad Dockerfile name {name!r}")
        if not is_digest(m["dockerfile"]["d"]) or (
            m.get("ignore") and not is_digest(m["ignore"]["d"])
        ):
            raise ValueError("bad Dockerfile or ignore-file digest")
    except (ValueError, KeyError, TypeError) as e:
        raise NodeFailure(
            f"malformed context manifest: {e}", "a bug, or mismatched anyarch versions"
        ) from None
    return m


#: called with the new snapshot and (ctx-relative path, digest, stat) of each file placed
Placed = Callable[[Path, Sequence[tuple[str, str, os.stat_result]]], None]


def context_put(stream: IO[bytes], *, on_placed: Placed | None = None) -> dict[str, Any]:
    """Receive a manifest and the missing files; assemble and return the snapshot.

    Each received file is written once, straight to its place in the new
    snapshot (verified against its digest as it arrives), with its mode and
    mtime set through the open descriptor: on a context of thousands of small
    files, file creation is the cost, so nothing is staged and renamed.  With
    ``on_placed`` the caller learns every file's verified digest (the CLI seeds the
    node's stat cache with them, so the node's build does not hash the context again).
    """
    first = protocol.read_frame(stream)
    if first.kind != protocol.MANIFEST:
        raise NodeFailure("context-put: expected a manifest first")
    return _put(stream, _parse_manifest(first.obj), on_placed)


def context_sync(
    inp: IO[bytes], out: IO[bytes], *, on_placed: Placed | None = None, end: bool = True
) -> str:
    """``context-need`` and ``context-put`` in one process (one start-up on the node).

    Reads a manifest frame and answers with a result frame: ``{"snapshot": …}`` if
    the node has it (then the end frame), else ``{"snapshot": null, "need": […]}``;
    then reads the blob frames and the end frame, assembles the snapshot and
    answers ``{"snapshot", "received", "bytes"}`` and (with ``end``) the end frame.
    Returns the snapshot directory.
    """
    first = protocol.read_frame(inp)
    if first.kind != protocol.MANIFEST:
        raise NodeFailure("context-sync: expected a manifest first")
    known = _known_snapshot(first.raw)
    if known is not None:
        protocol.write_json(out, protocol.RESULT, {"snapshot": known, "need": []})
        if end:
            protocol.write_end(out)
        return known
    m = _parse_manifest(first.obj)
    answer = context_need(m)
    protocol.write_json(out, protocol.RESULT, answer)
    if not answer["snapshot"]:
        answer = _put(inp, m, on_placed)
        protocol.write_json(out, protocol.RESULT, answer)
    if end:
        protocol.write_end(out)
    return str(answer["snapshot"])


def _put(stream: IO[bytes], m: dict[str, Any], on_placed: Placed | None) -> dict[str, Any]:
    sid = _snapshot_id(_canonical(m))
    root = _contexts_root()
    root.mkdir(parents=True, exist_ok=True)
    mark_top_directory(root)  # each context snapshot is a tree of its own
    root = root.resolve()  # the path the node's build resolves the context to (stat cache key)
    snap = root / sid
    asm = _Assembly(m, Path(tempfile.mkdtemp(prefix=".tmp-", dir=root)))
    try:
        return _receive(stream, asm, root, snap, on_placed)
    except OSError as e:
        raise NodeFailure(
            f"context-put: cannot write the snapshot: {e}",
            "is the node's disk full, or its cache directory not writable?",
        ) from None
    finally:
        if asm.tmp.exists():
            _rmtree(asm.tmp)


def _receive(
    stream: IO[bytes], asm: _Assembly, root: Path, snap: Path, on_placed: Placed | None
) -> dict[str, Any]:
    asm.prepare()
    writer = _Writer(asm)
    try:
        while True:
            fr = protocol.read_frame(stream)
            if fr.kind == protocol.END:
                break
            if fr.kind != protocol.BLOB or fr.body is None:
                raise NodeFailure(f"context-put: unexpected frame {fr.kind!r}")
            asm.receive(str(fr.obj["digest"]), fr.body, writer)
    except BaseException:
        writer.close(raise_error=False)
        raise
    writer.close()
    with _lock(root / ".lock"):
        if not (snap / "manifest.json").is_file():
            asm.finish(_known_files())
            os.rename(asm.tmp, snap)
            if on_placed is not None:
                on_placed(snap, asm.placed)
        else:
            os.utime(snap / "manifest.json")
        _prune(keep=snap)
    return {"snapshot": str(snap), "received": len(asm.received), "bytes": asm.nbytes}


class _Assembly:
    """A snapshot being assembled in ``tmp`` (``ctx/``, ``df/``, ``manifest.json``).

    Directories are made first (owner-writable until :meth:`finish`), so every
    file can be written where it belongs the moment it arrives.
    """

    def __init__(self, m: dict[str, Any], tmp: Path) -> None:
        self.m = m
        self.tmp = tmp
        self.ctx = tmp / "ctx"
        self.entries = [ContextEntry.from_json(e) for e in m["entries"]]
        df = m["dockerfile"]
        self.df_rel = f"df/{df['name']}"
        self.ignore_rel = f"df/{df['name']}.dockerignore" if m.get("ignore") else None
        # digest -> where its content goes (snapshot-relative), in manifest order
        self.targets: dict[str, list[str]] = {}
        for e in self.entries:
            if e.kind == FILE and not e.hardlink_to:
                assert e.digest is not None
                self.targets.setdefault(e.digest, []).append(f"ctx/{e.path}")
        self.targets.setdefault(df["d"], []).append(self.df_rel)
        if self.ignore_rel is not None:
            self.targets.setdefault(m["ignore"]["d"], []).append(self.ignore_rel)
        self.meta = {f"ctx/{e.path}": e for e in self.entries if e.kind == FILE}
        self.received: dict[str, str] = {}  # digest -> the snapshot-relative file holding it
        self.placed: list[tuple[str, str, os.stat_result]] = []  # (ctx-relative, digest, stat)
        self.nbytes = 0

    def prepare(self) -> None:
        self.ctx.mkdir()
        (self.tmp / "df").mkdir()
        dirs = {""}
        for e in self.entries:
            parent = e.path.rsplit("/", 1)[0] if "/" in e.path else ""
            if parent not in dirs:
                raise NodeFailure(f"context entry {e.path!r} comes before its parent directory")
            if e.kind == DIR:
                (self.ctx / e.path).mkdir(0o700)
                dirs.add(e.path)

    def receive(self, digest: str, body: protocol._Bounded, writer: _Writer) -> None:
        """Take one sent content for the first place that needs it, verifying it.

        A small file is read and verified here and created by ``writer`` on its own
        thread (file creation is the slow part; reading the next one overlaps it);
        a big one is streamed to disk here.
        """
        if not is_digest(digest):
            raise NodeFailure(f"context-put: bad digest {digest!r}")
        places = self.targets.get(digest)
        if not places or digest in self.received:
            raise NodeFailure(
                f"context-put: {digest} was sent but is not (or no longer) wanted",
                "a bug, or mismatched anyarch versions",
            )
        rel = places[0]
        h = hashlib.sha256()
        size = 0
        if body.left <= _SMALL:
            parts = []
            while chunk := body.read(protocol.CHUNK):
                parts.append(chunk)
            data = b"".join(parts)
            h.update(data)
            self._check(digest, h)
            writer.put(rel, digest, data)
            size = len(data)
        else:
            fd = self._create(rel)
            try:
                while chunk := body.read(protocol.CHUNK):
                    h.update(chunk)
                    _write_all(fd, chunk)
                    size += len(chunk)
                self._check(digest, h)
                self._finish_file(fd, rel, digest)
            finally:
                os.close(fd)
        self.received[digest] = rel
        self.nbytes += size

    @staticmethod
    def _check(digest: str, h: Any) -> None:
        if "sha256:" + h.hexdigest() != digest:
            raise NodeFailure(
                f"a context file sent as {digest} hashes to sha256:{h.hexdigest()}",
                "a file changed while it was being sent; run the build again",
            )

    def _create(self, rel: str) -> int:
        return os.open(
            os.path.join(self.tmp, rel),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )

    def write_small(self, rel: str, digest: str, data: bytes) -> None:
        fd = self._create(rel)
        try:
            _write_all(fd, data)
            self._finish_file(fd, rel, digest)
        finally:
            os.close(fd)

    def _finish_file(self, fd: int, rel: str, digest: str) -> None:
        e = self.meta.get(rel)
        if e is None:  # the Dockerfile or its ignore file
            os.fchmod(fd, 0o644)
            return
        os.fchmod(fd, e.mode)
        os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
        self.placed.append((e.path, digest, os.fstat(fd)))

    def _copy(self, digest: str, rel: str, known: dict[str, Path]) -> None:
        got = self.received.get(digest)
        src = self.tmp / got if got is not None else known.get(digest)
        if src is None:
            raise NodeFailure(
                f"context-put: content {digest} was neither sent nor cached",
                "run the build again",
            )
        with open(src, "rb") as fin:
            fd = os.open(
                self.tmp / rel,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            try:
                with open(fd, "wb", closefd=False) as fout:
                    shutil.copyfileobj(fin, fout, protocol.CHUNK)
                self._finish_file(fd, rel, digest)
            finally:
                os.close(fd)

    def finish(self, known: dict[str, Path]) -> None:
        """Place what was not sent (copies of sent or cached files), links, metadata."""
        for digest, places in self.targets.items():
            first_sent = self.received.get(digest)
            for rel in places:
                if rel != first_sent:
                    self._copy(digest, rel, known)
        dirs: list[ContextEntry] = []
        for e in self.entries:
            target = self.ctx / e.path
            if e.kind == DIR:
                dirs.append(e)
            elif e.kind == SYMLINK:
                os.symlink(e.link_target or "", target)
                with contextlib.suppress(OSError, NotImplementedError):
                    os.utime(target, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
            elif e.hardlink_to:
                first = self.ctx / e.hardlink_to
                if not first.is_file() or first.is_symlink():
                    raise NodeFailure(
                        f"context entry {e.path!r} links to {e.hardlink_to!r}, not a file before it"
                    )
                os.link(first, target)
                assert e.digest is not None
                self.placed.append((e.path, e.digest, os.lstat(target)))
        for e in reversed(dirs):
            os.chmod(self.ctx / e.path, e.mode)
            os.utime(self.ctx / e.path, ns=(e.mtime_ns, e.mtime_ns))
        root_meta = self.m.get("root") or {}
        os.chmod(self.ctx, int(root_meta.get("m", 0o755)) & 0o7777)
        if root_meta.get("mt"):
            os.utime(self.ctx, ns=(int(root_meta["mt"]), int(root_meta["mt"])))
        (self.tmp / "manifest.json").write_bytes(_canonical(self.m))


#: contents up to this size are read whole and created on the writer thread
_SMALL = 1 << 20


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Writer:
    """Creates verified small files on a second thread, a bounded queue behind the reader."""

    def __init__(self, asm: _Assembly) -> None:
        self._asm = asm
        self._queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue(maxsize=64)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after an error, only drain (the reader must not block)
                try:
                    self._asm.write_small(*item)
                except BaseException as e:
                    self._error = e

    def put(self, rel: str, digest: str, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((rel, digest, data))

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until every queued file is written; re-raise the first failure."""
        self._queue.put(None)
        self._thread.join()
        if raise_error and self._error is not None:
            raise self._error


def _rmtree(path: Path) -> None:
    def onerror(func: Any, p: str, exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            func(p)

    shutil.rmtree(path, onerror=onerror)


def _prune(*, keep: Path) -> None:
    """Drop all but the newest snapshots, never one a build is using."""
    for old in _snapshots()[KEEP_SNAPSHOTS:]:
        if old == keep:
            continue
        with _lock(old.parent / f".{old.name}.inuse", block=False) as got:
            if got:
                _rmtree(old)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(old.parent / f".{old.name}.inuse")


# --- build ------------------------------------------------------------------------------------


class _StdinWatch:
    """Reads the coordinator's one-line answer; EOF before it means the coordinator is gone.

    It reads the raw descriptor, not ``sys.stdin.buffer``: a daemon thread blocked
    inside a buffered reader holds its lock, and at exit the interpreter waits a
    whole second for that lock before giving up — a second added to every farm build.
    """

    def __init__(self, stream: IO[bytes], *, wake: threading.Event | None = None) -> None:
        self.answers: queue.Queue[bytes | None] = queue.Queue()
        self._stream = stream
        self.gone = threading.Event()
        self._wake = wake  # also set when the coordinator is gone
        threading.Thread(target=self._run, daemon=True).start()

    def _lines(self) -> Iterator[bytes]:
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is None:  # not a real file (tests): its own readline
            while line := self._stream.readline():
                yield line
            return
        pending = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line + b"\n"

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self._lines():
                self.answers.put(line)
        self.gone.set()
        if self._wake is not None:
            self._wake.set()
        self.answers.put(None)


def _events(line: bytes) -> dict[str, Any]:
    text = line.decode(errors="replace").rstrip("\n")
    with contextlib.suppress(ValueError):
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    return {"type": "log", "message": text}


def run_build(
    snapshot: str | None,
    platforms: Sequence[str],
    build_args: Sequence[str],
    out: IO[bytes],
    inp: IO[bytes],
    *,
    push_to: Sequence[str] = (),
    keep_going: bool = False,
    store_root: Path | None = None,
    on_placed: Placed | None = None,
) -> int:
    """``farm-node build``: build this node's platforms in one ``anyarch build``, stream
    events, then ship the result (one image per platform that succeeded).

    The build leaves its images in the node's store (``store_root``, else the
    default store), and the blobs the coordinator asks for are sent from there:
    no image archive is written and read back (that was a second full write of
    every blob, base layers included).

    ``snapshot`` None: the session starts with a context sync on the same stream
    (see :func:`context_sync`; one anyarch start-up on the node for both).
    """
    worker = build_worker.take()
    try:
        return _run_build(
            worker,
            snapshot,
            platforms,
            build_args,
            out,
            inp,
            push_to=push_to,
            keep_going=keep_going,
            store_root=store_root,
            on_placed=on_placed,
        )
    finally:
        if not worker.handed_out:
            worker.discard()  # never given its build (the sync failed, the coordinator left)


def _run_build(
    worker: build_worker.BuildWorker,
    snapshot: str | None,
    platforms: Sequence[str],
    build_args: Sequence[str],
    out: IO[bytes],
    inp: IO[bytes],
    *,
    push_to: Sequence[str],
    keep_going: bool,
    store_root: Path | None,
    on_placed: Placed | None,
) -> int:
    from anyarch.store import Store

    if snapshot is None:
        snapshot = context_sync(inp, out, on_placed=on_placed, end=False)
    snap = Path(snapshot)
    manifest = json.loads((snap / "manifest.json").read_bytes())
    df_name = manifest["dockerfile"]["name"]
    wake = threading.Event()  # the build ended, or the coordinator is gone
    watch = _StdinWatch(inp, wake=wake)
    write_lock = threading.Lock()

    def send(kind: bytes, obj: Any) -> None:
        with write_lock:
            protocol.write_json(out, kind, obj)

    scratch_root = cache_dir() / "builds"
    scratch_root.mkdir(parents=True, exist_ok=True)
    mark_top_directory(scratch_root)
    with (
        _lock(snap.parent / f".{snap.name}.inuse", shared=True),
        tempfile.TemporaryDirectory(prefix="build-", dir=scratch_root) as tmpname,
    ):
        tmp = Path(tmpname)
        meta = tmp / "metadata.json"
        argv = [
            *(["--store", str(store_root)] if store_root is not None else []),
            "build",
            "--platform", ",".join(platforms),
            "-f", str(snap / "df" / df_name),
            "--metadata-file", str(meta),
            "--progress", "json",
            *(["--keep-going"] if keep_going else []),
            *build_args,
            str(snap / "ctx"),
        ]  # fmt: skip
        started = time.monotonic()
        proc = worker.run(argv)
        if proc is None:  # the waiting worker died: start the build as it is
            proc = subprocess.Popen(
                [*self_command(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        tail: list[str] = []

        exited: list[int] = []  # the worker's exit status, before it has exited

        def pump(stream: IO[bytes], name: str) -> None:
            for line in iter(stream.readline, b""):
                if name == "stdout" and (status := build_worker.exit_status(line)) is not None:
                    exited.append(status)
                    wake.set()
                    continue
                ev = _events(line)
                if ev.get("type") == "log":
                    tail.append(str(ev.get("message", "")))
                    del tail[:-40]
                ev.setdefault("stream", name)
                try:
                    send(protocol.EVENT, ev)
                except (BrokenPipeError, OSError):
                    watch.gone.set()
                    wake.set()
                    return

        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True),
        ]
        for t in pumps:
            t.start()

        # woken the moment the build reports its exit status or ends, or the coordinator
        # leaves (polling every 0.2 s cost 0.1 s a build)
        def reap() -> None:
            proc.wait()
            wake.set()

        threading.Thread(target=reap, daemon=True).start()
        wake.wait()
        if exited:
            rc = exited[0]  # its interpreter may still be shutting down: no need to wait
        elif proc.poll() is None:
            kill_group(proc)
            return 130
        else:
            rc = proc.returncode
        for t in pumps:
            t.join(timeout=10)
        if rc < 0:
            # Killed by a signal nobody here sent (the node going down, the OOM
            # killer): not the Dockerfile's failure.  No result, so the
            # coordinator counts the node as lost and rebuilds elsewhere once.
            sys.stderr.write(f"farm-node build: the build was killed by signal {-rc}\n")
            return 1
        metadata = _read_json(meta)
        result: dict[str, Any] = {
            "exit": rc,
            "seconds": round(time.monotonic() - started, 3),
            "platforms": list(platforms),
            "tail": tail[-20:],
            "metadata": metadata,
            "images": {},
            "blobs": [],
        }
        store: Store | None = None
        top = metadata.get("containerimage.descriptor") if isinstance(metadata, dict) else None
        if top:
            try:
                store = Store(store_root)
                described = _describe_stored(store, Descriptor.from_json(top), platforms)
                result.update(described)
                if push_to and described["images"]:
                    result["pushed"] = _push(store, tmp, described, push_to)
            except NodeFailure as e:
                result.update(exit=1, images={}, error=e.message, hint=e.hint)
            except (OSError, ValueError, KeyError, TypeError, AnyarchError) as e:
                result.update(exit=1, images={}, error=f"cannot read the build's result: {e}")
        elif rc == 0:
            result.update(
                exit=1, error="the build reported no image (no containerimage.descriptor)"
            )
        send(protocol.RESULT, result)
        if not result["images"] or store is None:
            protocol.write_end(out)
            return 0
        answer = watch.answers.get()
        if answer is None:
            return 130
        want = json.loads(answer).get("want", [])
        sizes = {b["digest"]: b["size"] for b in result["blobs"]}
        for digest in want:
            if digest not in sizes:
                raise NodeFailure(
                    f"the coordinator asked for {digest}, which the build did not produce"
                )
            try:
                src = store.blobs.open(Digest.parse(str(digest)))
            except AnyarchError as e:
                raise NodeFailure(f"cannot send {digest}: {e.message}") from None
            with write_lock, src:
                protocol.write_blob(out, digest, sizes[digest], src)
        protocol.write_end(out)
        return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except ValueError:
        return {"unreadable": True}


def _describe_stored(store: Any, top: Descriptor, platforms: Sequence[str]) -> dict[str, Any]:
    """The image of each platform under ``top`` in the node's store, and the blobs each
    needs (manifest, config, layers) with their sizes."""

    def blob(d: Descriptor) -> bytes:
        return bytes(store.blobs.read(d.digest))

    if mediatype.is_index(top.media_type):
        images = _find_images(
            Index.from_bytes(blob(top), top.media_type).manifests, platforms, blob
        )
    else:
        images = _find_images([top], platforms, blob)
    blobs: dict[str, int] = {}
    for d in images.values():
        blobs[str(d.digest)] = d.size
        m = Manifest.from_bytes(blob(d), d.media_type)
        for part in (m.config, *m.layers):
            if part.urls and mediatype.is_foreign(part.media_type):
                continue  # not distributed (the coordinator does not need it either)
            blobs[str(part.digest)] = store.blobs.size(part.digest)
    return {
        "images": {p: d.to_json() for p, d in images.items()},
        "blobs": [{"digest": d, "size": s} for d, s in sorted(blobs.items())],
    }


def _find_images(
    tops: Sequence[Descriptor], platforms: Sequence[str], blob: Any
) -> dict[str, Descriptor]:
    """The single-platform manifest of each of ``platforms`` present, carrying its platform."""
    found: list[Descriptor] = []

    def visit(d: Descriptor, depth: int) -> None:
        if mediatype.is_index(d.media_type) and depth < 3:
            for child in Index.from_bytes(blob(d), d.media_type).manifests:
                visit(child, depth + 1)
        elif mediatype.is_manifest(d.media_type):
            if d.platform is not None and d.platform.os == "unknown":
                return  # an attestation manifest
            found.append(d)

    for d in tops:
        visit(d, 0)
    out: dict[str, Descriptor] = {}
    for d in found:
        plat = d.platform or _platform_from_config(d, blob)
        name = format_platform(normalize(plat))
        if len(platforms) == 1 and len(found) == 1:
            name = platforms[0]
        if name in platforms and name not in out:
            out[name] = Descriptor(
                media_type=d.media_type, digest=d.digest, size=d.size, platform=plat
            )
    return out


def _platform_from_config(d: Descriptor, blob: Any) -> Platform:
    m = Manifest.from_bytes(blob(d), d.media_type)
    cfg = ImageConfig.from_bytes(blob(m.config))
    return cfg.platform


def _push(
    store: Any, tmp: Path, described: dict[str, Any], repositories: Sequence[str]
) -> dict[str, list[str]]:
    """Push each image by digest to each repository, from an OCI layout of the store's blobs
    (hard links where the file system allows, else copies)."""
    layout = tmp / "layout"
    for b in described["blobs"]:
        d = Digest.parse(str(b["digest"]))
        dest = layout / "blobs" / d.algorithm / d.hex
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = store.blobs.path(d)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
    (layout / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    pushed: dict[str, list[str]] = {}
    for platform, image in described["images"].items():
        desc = Descriptor.from_json(image)
        entry = desc.to_json()
        entry.pop("platform", None)
        (layout / "index.json").write_bytes(
            json.dumps(
                {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": [entry]}
            ).encode()
        )
        for repository in repositories:
            target = f"{repository}@{desc.digest}"
            res = subprocess.run(
                [*self_command(), "copy", f"oci:{layout}", target],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            if res.returncode != 0:
                err = res.stderr.decode(errors="replace").strip().splitlines()
                raise NodeFailure(
                    f"pushing {target} from the node failed: "
                    f"{err[0] if err else 'exit ' + str(res.returncode)}",
                    "the node needs a route to the registry and credentials for it "
                    "(or drop --node-push)",
                )
            pushed.setdefault(platform, []).append(target)
    return pushed


def fail(out: IO[bytes], e: NodeFailure) -> None:
    """Report a helper failure on the framed stream."""
    with contextlib.suppress(OSError):
        protocol.write_json(out, protocol.ERROR, {"message": e.message, "hint": e.hint})


__all__ = [
    "NodeFailure",
    "Placed",
    "cache_dir",
    "context_need",
    "context_put",
    "context_sync",
    "fail",
    "info",
    "run_build",
]
