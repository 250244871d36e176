"""Sending a build context to a node: once per node, and only what it lacks.

The coordinator describes the context as a *manifest*: every entry the build
would see (path, type, mode, size, mtime, sha256 or link target), the
Dockerfile, and the Dockerfile-specific ignore file if one applied.  Which
entries those are — ``.dockerignore`` semantics — is decided above the farm
(the CLI walks the context with the builder's own walker and hands a plain
list down), so the farm never imports the solver.

The node keeps recent contexts as immutable *snapshots* under its cache
directory, keyed by the manifest's digest.  A sync is two halves on one
framed stream (:func:`send_context`; on the node ``farm-node context-sync``,
or the start of ``farm-node build --context-on-stdin``):

1. the node reads the manifest and answers either "I have that snapshot" or
   the digests it has in no recent snapshot;
2. (only when something is missing) it receives just those files and
   assembles the new snapshot from them and the files of earlier snapshots.

(``farm-node context-need`` / ``context-put`` are the two halves as separate
commands, for coordinators of earlier versions.)

An unchanged context therefore costs one manifest round trip; a changed file
costs that file.  The node verifies every file against its digest.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from anyarch.errors import AnyarchError, FarmError, NodeError
from anyarch.farm import protocol
from anyarch.farm.transport import Completed, reap

FILE, DIR, SYMLINK = "f", "d", "l"
MANIFEST_VERSION = 1


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _check_path(path: object) -> str:
    """A relative, clean path inside the context (what a node accepts)."""
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\0" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise ValueError(f"bad path {path!r}")
    return path


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """One entry of a build context as the build sees it."""

    path: str
    kind: str  # FILE | DIR | SYMLINK
    mode: int
    mtime_ns: int
    size: int = 0
    digest: str | None = None  # sha256:… for files
    link_target: str | None = None  # for symlinks
    hardlink_to: str | None = None  # an earlier file path sharing its inode

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"p": self.path, "t": self.kind, "m": self.mode, "mt": self.mtime_ns}
        if self.kind == FILE:
            d["s"] = self.size
            d["d"] = self.digest
            if self.hardlink_to:
                d["h"] = self.hardlink_to
        elif self.kind == SYMLINK:
            d["l"] = self.link_target
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ContextEntry:
        kind = d["t"]
        if kind not in (FILE, DIR, SYMLINK):
            raise ValueError(f"unknown entry type {kind!r}")
        path = _check_path(d["p"])
        link = d.get("h")
        if link is not None:
            _check_path(link)
        digest = d.get("d")
        if kind == FILE and not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
            raise ValueError(f"bad digest {digest!r} for {path!r}")
        return cls(
            path=path,
            kind=kind,
            mode=int(d["m"]) & 0o7777,
            mtime_ns=int(d["mt"]),
            size=int(d.get("s", 0)),
            digest=d.get("d"),
            link_target=d.get("l"),
            hardlink_to=d.get("h"),
        )


@dataclass(frozen=True, slots=True)
class ContextSpec:
    """A context to send: entries, the Dockerfile and how to read file content."""

    entries: tuple[ContextEntry, ...]
    dockerfile_name: str
    dockerfile: bytes
    root_mode: int = 0o755
    root_mtime_ns: int = 0
    ignore_file: bytes | None = None  # <Dockerfile>.dockerignore, placed next to the Dockerfile
    opener: Callable[[str], IO[bytes]] | None = None  # relative path -> file content
    label: str = "build context"

    def manifest(self) -> dict[str, Any]:
        return {
            "v": MANIFEST_VERSION,
            "root": {"m": self.root_mode, "mt": self.root_mtime_ns},
            "dockerfile": {
                "name": self.dockerfile_name,
                "d": _sha(self.dockerfile),
                "s": len(self.dockerfile),
            },
            "ignore": None
            if self.ignore_file is None
            else {"d": _sha(self.ignore_file), "s": len(self.ignore_file)},
            "entries": [e.to_json() for e in self.entries],
        }

    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest(), separators=(",", ":"), sort_keys=True).encode()

    @property
    def snapshot_id(self) -> str:
        return hashlib.sha256(self.manifest_bytes()).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.kind == FILE and not e.hardlink_to)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class SyncResult:
    """Where the context is on the node and what it cost to get it there."""

    snapshot: str  # absolute directory on the node (holds ctx/ and df/)
    files_sent: int
    bytes_sent: int
    seconds: float

    @property
    def context_dir(self) -> str:
        return f"{self.snapshot}/ctx"


class Node(Protocol):
    """What a context sync needs of a node (a :class:`~anyarch.farm.nodes.NodeSession`)."""

    name: str

    def run_anyarch(
        self, args: Sequence[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> Completed: ...

    def start_anyarch(
        self, args: Sequence[str], *, stdin: int | None = ...
    ) -> subprocess.Popen[bytes]: ...

    def failure(self, what: str, res: Completed) -> NodeError: ...


def _blob_sources(
    spec: ContextSpec, need: set[str]
) -> dict[str, tuple[int, Callable[[], IO[bytes]]]]:
    """digest → (size, opener) for every content the node said it lacks."""
    blobs: dict[str, tuple[int, Callable[[], IO[bytes]]]] = {}

    def add(digest: str, size: int, opener: Callable[[], IO[bytes]]) -> None:
        if digest in need and digest not in blobs:
            blobs[digest] = (size, opener)

    for e in spec.entries:
        if e.kind == FILE and not e.hardlink_to and e.digest is not None:
            if spec.opener is None:
                raise FarmError(
                    "internal: a context spec without a way to read its files",
                    hint="a bug in anyarch",
                )
            add(e.digest, e.size, functools.partial(spec.opener, e.path))
    add(_sha(spec.dockerfile), len(spec.dockerfile), functools.partial(io.BytesIO, spec.dockerfile))
    if spec.ignore_file is not None:
        add(
            _sha(spec.ignore_file),
            len(spec.ignore_file),
            functools.partial(io.BytesIO, spec.ignore_file),
        )
    return blobs


class SyncCut(protocol.StreamCut):
    """The node's side of a context sync ended early; ``what`` says in which half."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def send_context(
    node_name: str, spec: ContextSpec, sink: IO[bytes], source: IO[bytes]
) -> tuple[str, int, int]:
    """The coordinator's half of a context sync on an open stream to the node.

    Sends the manifest, reads the node's answer, sends the files it lacks and
    reads where the snapshot is.  Returns (snapshot, files sent, bytes sent).
    Raises :class:`SyncCut` when the node's side ends early (its exit status
    and stderr say why), :class:`NodeError` for what the node reports, and
    :class:`FarmError` when a file here cannot be read.
    """
    try:
        # canonical bytes: a node that has this snapshot knows it by their digest alone
        protocol.write_json_bytes(sink, protocol.MANIFEST, spec.manifest_bytes())
        answer = _answer(node_name, source, "context-sync")
    except (BrokenPipeError, ConnectionResetError, protocol.StreamCut):
        raise SyncCut("could not check its build context cache") from None
    if answer.get("snapshot"):
        return str(answer["snapshot"]), 0, 0
    try:
        need = {str(d) for d in answer["need"]}
    except (KeyError, TypeError):
        raise NodeError(
            f"node {node_name}: unexpected answer to context-sync: {answer!r:.200}",
            hint="is the node's anyarch a different version? 'anyarch builder inspect --bootstrap' updates it",
        ) from None
    blobs = _blob_sources(spec, need)
    sent = 0
    try:
        for digest, (size, open_) in blobs.items():
            with open_() as src:
                protocol.write_blob(sink, digest, size, src)
            sent += size
        protocol.write_end(sink)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the node stopped reading: its answer (or exit status and stderr) says why
    except (OSError, AnyarchError) as e:
        raise FarmError(
            f"cannot read {spec.label} to send it to node {node_name}: {e}",
            hint="was a file removed or made unreadable during the build?",
        ) from None
    try:
        done = _answer(node_name, source, "context-sync")
    except protocol.StreamCut:
        raise SyncCut("could not receive the build context") from None
    if not isinstance(done.get("snapshot"), str):
        raise NodeError(
            f"node {node_name}: unexpected answer to context-sync: {done!r:.200}",
            hint="is the node's anyarch a different version?",
        )
    return done["snapshot"], len(blobs), sent


def sync_context(node: Node, spec: ContextSpec) -> SyncResult:
    """Make ``spec`` present on ``node``; sends only what no recent snapshot there has.

    One ``farm-node context-sync`` process on the node does both halves: it
    answers the manifest with the snapshot or the digests it lacks, then
    receives those on the same stream (one start-up of anyarch there, not two).
    (A farm build does this inside its ``farm-node build`` session instead.)
    """
    started = time.monotonic()
    proc = node.start_anyarch(["farm-node", "context-sync"])
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    err_tail: list[bytes] = []
    drain = threading.Thread(target=_drain, args=(proc.stderr, err_tail), daemon=True)
    drain.start()
    try:
        try:
            snapshot, files, sent = send_context(node.name, spec, proc.stdin, proc.stdout)
        except SyncCut as e:
            raise _failed(node, proc, drain, err_tail, e.what) from None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        if proc.wait() != 0:
            raise _failed(node, proc, drain, err_tail, "could not receive the build context")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    return SyncResult(snapshot, files, sent, time.monotonic() - started)


def _answer(node_name: str, stream: IO[bytes], what: str) -> dict[str, Any]:
    """The node's next result frame (an error frame is the node's complaint; anything
    else a version mismatch)."""
    try:
        fr = protocol.read_frame(stream)
    except protocol.ProtocolError as e:
        raise NodeError(
            f"node {node_name}: {what}: {e}",
            hint="is the node's anyarch a different version? 'anyarch builder inspect --bootstrap' updates it",
        ) from None
    if fr.kind == protocol.ERROR and isinstance(fr.obj, dict):
        raise NodeError(
            f"node {node_name} could not receive the build context: "
            f"{fr.obj.get('message', 'failed')}",
            hint=fr.obj.get("hint") or None,
        )
    if fr.kind != protocol.RESULT or not isinstance(fr.obj, dict):
        raise NodeError(
            f"node {node_name}: unexpected {fr.kind!r} frame from {what}",
            hint="is the node's anyarch a different version?",
        )
    return fr.obj


def _failed(
    node: Node,
    proc: subprocess.Popen[bytes],
    drain: threading.Thread,
    err_tail: list[bytes],
    what: str,
) -> NodeError:
    """The node's side ended early: its exit status and stderr say why."""
    rc = reap(proc, drain)
    return node.failure(what, Completed(rc, b"", b"".join(err_tail)))


def _drain(stream: IO[bytes], tail: list[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := stream.read(65536):
            tail.append(chunk)
            if len(tail) > 64:
                del tail[:-64]


__all__ = [
    "DIR",
    "FILE",
    "SYMLINK",
    "ContextEntry",
    "ContextSpec",
    "SyncCut",
    "SyncResult",
    "send_context",
    "sync_context",
]
