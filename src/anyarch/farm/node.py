"""The node's side of the farm protocol (``anyarch farm-node …``, hidden commands).

These run on a farm node, started by the coordinator over SSH (or as a local
subprocess for the ``default`` node), and talk over stdin/stdout:

``info``
    JSON: anyarch/Python versions, protocol, host platform, per-platform
    native/emulated/unavailable (the same probe as ``anyarch doctor``), free disk.
``context-need`` / ``context-put``
    The two halves of a context sync (see :mod:`anyarch.farm.context_sync`).
``build``
    Runs ``anyarch build`` for one platform on a synced context and streams
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
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import anyarch
from anyarch.errors import AnyarchError
from anyarch.farm import protocol
from anyarch.farm.context_sync import DIR, FILE, SYMLINK, ContextEntry, is_digest
from anyarch.farm.transport import self_command
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


def context_need(manifest_raw: bytes) -> dict[str, Any]:
    """Answer a manifest: the snapshot if present, else the digests this node lacks."""
    m = _parse_manifest(manifest_raw)
    sid = _snapshot_id(_canonical(m))
    snap = _contexts_root() / sid
    if (snap / "manifest.json").is_file():
        os.utime(snap / "manifest.json")
        return {"snapshot": str(snap), "need": []}
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


def context_put(stream: IO[bytes]) -> dict[str, Any]:
    """Receive a manifest and the missing files; assemble and return the snapshot."""
    first = protocol.read_frame(stream)
    if first.kind != protocol.MANIFEST:
        raise NodeFailure("context-put: expected a manifest first")
    m = _parse_manifest(first.obj)
    sid = _snapshot_id(_canonical(m))
    root = _contexts_root()
    root.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    received: dict[str, Path] = {}
    nbytes = 0
    try:
        while True:
            fr = protocol.read_frame(stream)
            if fr.kind == protocol.END:
                break
            if fr.kind != protocol.BLOB or fr.body is None:
                raise NodeFailure(f"context-put: unexpected frame {fr.kind!r}")
            digest = str(fr.obj["digest"])
            if not is_digest(digest):
                raise NodeFailure(f"context-put: bad digest {digest!r}")
            dest = incoming / digest[7:]
            h = hashlib.sha256()
            with open(dest, "wb") as out:
                while chunk := fr.body.read(protocol.CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if "sha256:" + h.hexdigest() != digest:
                raise NodeFailure(
                    f"a context file sent as {digest} hashes to sha256:{h.hexdigest()}",
                    "a file changed while it was being sent; run the build again",
                )
            received[digest] = dest
            nbytes += fr.obj["size"]
        snap = root / sid
        with _lock(root / ".lock"):
            if not (snap / "manifest.json").is_file():
                _assemble(m, snap, received, _known_files())
            else:
                os.utime(snap / "manifest.json")
            _prune(keep=snap)
        return {"snapshot": str(snap), "received": len(received), "bytes": nbytes}
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _assemble(
    m: dict[str, Any], snap: Path, received: dict[str, Path], known: dict[str, Path]
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=snap.parent))
    try:
        ctx = tmp / "ctx"
        ctx.mkdir()
        (tmp / "df").mkdir()

        uses = Counter(
            e["d"] for e in m["entries"] if e.get("t") == FILE and not e.get("h")
        ) + Counter([m["dockerfile"]["d"], *([m["ignore"]["d"]] if m.get("ignore") else [])])

        def place(digest: str, target: Path) -> None:
            """Put the content at ``target``: moved from what was received on its last
            use (no second copy of the bytes), else copied."""
            uses[digest] -= 1
            got = received.get(digest)
            if got is not None and uses[digest] == 0:
                os.rename(got, target)
                received.pop(digest)
                return
            src = got or known.get(digest)
            if src is None:
                raise NodeFailure(
                    f"context-put: content {digest} was neither sent nor cached",
                    "run the build again",
                )
            shutil.copyfile(src, target)

        entries = [ContextEntry.from_json(e) for e in m["entries"]]
        dirs: list[ContextEntry] = []
        for e in entries:
            target = ctx / e.path
            if not target.parent.is_dir() or target.parent.is_symlink():
                raise NodeFailure(f"context entry {e.path!r} comes before its parent directory")
            if e.kind == DIR:
                target.mkdir(0o700)
                dirs.append(e)
            elif e.kind == SYMLINK:
                os.symlink(e.link_target or "", target)
                with contextlib.suppress(OSError, NotImplementedError):
                    os.utime(target, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
            elif e.hardlink_to:
                first = ctx / e.hardlink_to
                if not first.is_file() or first.is_symlink():
                    raise NodeFailure(
                        f"context entry {e.path!r} links to {e.hardlink_to!r}, not a file before it"
                    )
                os.link(first, target)
            else:
                assert e.digest is not None
                place(e.digest, target)
                os.chmod(target, e.mode)
                os.utime(target, ns=(e.mtime_ns, e.mtime_ns))
        df = m["dockerfile"]
        place(df["d"], tmp / "df" / df["name"])
        if m.get("ignore"):
            place(m["ignore"]["d"], tmp / "df" / (df["name"] + ".dockerignore"))
        for e in reversed(dirs):
            os.chmod(ctx / e.path, e.mode)
            os.utime(ctx / e.path, ns=(e.mtime_ns, e.mtime_ns))
        root_meta = m.get("root") or {}
        os.chmod(ctx, int(root_meta.get("m", 0o755)) & 0o7777)
        if root_meta.get("mt"):
            os.utime(ctx, ns=(int(root_meta["mt"]), int(root_meta["mt"])))
        (tmp / "manifest.json").write_bytes(_canonical(m))
        os.rename(tmp, snap)
    except BaseException:
        _rmtree(tmp)
        raise


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
    """Reads the coordinator's one-line answer; EOF before it means the coordinator is gone."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.answers: queue.Queue[bytes | None] = queue.Queue()
        self._stream = stream
        self.gone = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                line = self._stream.readline()
            except (OSError, ValueError):
                line = b""
            if not line:
                self.gone.set()
                self.answers.put(None)
                return
            self.answers.put(line)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def _events(line: bytes) -> dict[str, Any]:
    text = line.decode(errors="replace").rstrip("\n")
    with contextlib.suppress(ValueError):
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    return {"type": "log", "message": text}


def run_build(
    snapshot: str,
    platforms: Sequence[str],
    build_args: Sequence[str],
    out: IO[bytes],
    inp: IO[bytes],
    *,
    push_to: Sequence[str] = (),
    keep_going: bool = False,
) -> int:
    """``farm-node build``: build this node's platforms in one ``anyarch build``, stream
    events, then ship the result (one image per platform that succeeded)."""
    snap = Path(snapshot)
    manifest = json.loads((snap / "manifest.json").read_bytes())
    df_name = manifest["dockerfile"]["name"]
    watch = _StdinWatch(inp)
    write_lock = threading.Lock()

    def send(kind: bytes, obj: Any) -> None:
        with write_lock:
            protocol.write_json(out, kind, obj)

    scratch_root = cache_dir() / "builds"
    scratch_root.mkdir(parents=True, exist_ok=True)
    with (
        _lock(snap.parent / f".{snap.name}.inuse", shared=True),
        tempfile.TemporaryDirectory(prefix="build-", dir=scratch_root) as tmpname,
    ):
        tmp = Path(tmpname)
        archive = tmp / "image.tar"
        meta = tmp / "metadata.json"
        argv = [
            *self_command(),
            "build",
            "--platform", ",".join(platforms),
            "-f", str(snap / "df" / df_name),
            "--output", f"type=oci,dest={archive}",
            "--metadata-file", str(meta),
            "--progress", "json",
            *(["--keep-going"] if keep_going else []),
            *build_args,
            str(snap / "ctx"),
        ]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        tail: list[str] = []

        def pump(stream: IO[bytes], name: str) -> None:
            for line in iter(stream.readline, b""):
                ev = _events(line)
                if ev.get("type") == "log":
                    tail.append(str(ev.get("message", "")))
                    del tail[:-40]
                ev.setdefault("stream", name)
                try:
                    send(protocol.EVENT, ev)
                except (BrokenPipeError, OSError):
                    watch.gone.set()
                    return

        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True),
        ]
        for t in pumps:
            t.start()
        while proc.poll() is None:
            if watch.gone.wait(0.2):
                _kill_group(proc)
                return 130
        for t in pumps:
            t.join(timeout=10)
        rc = proc.returncode
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
        if archive.is_file():
            try:
                described = _describe_archive(archive, platforms)
                result.update(described)
                if push_to and described["images"]:
                    result["pushed"] = _push(archive, tmp, described["images"], push_to)
            except NodeFailure as e:
                result.update(exit=1, images={}, error=e.message, hint=e.hint)
            except (OSError, tarfile.TarError, ValueError, AnyarchError) as e:
                result.update(exit=1, images={}, error=f"cannot read the build's output: {e}")
        elif rc == 0:
            result.update(exit=1, error="the build wrote no output archive")
        send(protocol.RESULT, result)
        if not result["images"]:
            protocol.write_end(out)
            return 0
        answer = watch.answers.get()
        if answer is None:
            return 130
        want = json.loads(answer).get("want", [])
        with tarfile.open(archive, "r:") as tf:
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
            for digest in want:
                alg, _, hexpart = str(digest).partition(":")
                m = members.get(f"blobs/{alg}/{hexpart}")
                if m is None:
                    raise NodeFailure(
                        f"the coordinator asked for {digest}, which the build did not produce"
                    )
                src = tf.extractfile(m)
                assert src is not None
                with write_lock, src:
                    protocol.write_blob(out, digest, m.size, src)
        protocol.write_end(out)
        return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except ValueError:
        return {"unreadable": True}


def _describe_archive(archive: Path, platforms: Sequence[str]) -> dict[str, Any]:
    """The image of each platform in an oci-archive, and every blob it holds."""
    with tarfile.open(archive, "r:") as tf:
        blobs: dict[str, int] = {}
        for m in tf.getmembers():
            if m.isfile() and m.name.startswith("blobs/"):
                parts = m.name.split("/")
                if len(parts) == 3:
                    blobs[f"{parts[1]}:{parts[2]}"] = m.size

        def read(name: str) -> bytes:
            f = tf.extractfile(name)
            if f is None:
                raise NodeFailure(f"{name} missing from the build output")
            with f:
                return f.read()

        def blob(d: Descriptor) -> bytes:
            return read(f"blobs/{d.digest.algorithm}/{d.digest.hex}")

        top = Index.from_bytes(read("index.json"))
        images = _find_images(top, platforms, blob)
    return {
        "images": {p: d.to_json() for p, d in images.items()},
        "blobs": [{"digest": d, "size": s} for d, s in sorted(blobs.items())],
    }


def _find_images(top: Index, platforms: Sequence[str], blob: Any) -> dict[str, Descriptor]:
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

    for d in top.manifests:
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
    archive: Path, tmp: Path, images: dict[str, Any], repositories: Sequence[str]
) -> dict[str, list[str]]:
    """Push each image by digest to each repository, from an OCI layout made of the archive."""
    layout = tmp / "layout"
    (layout / "blobs").mkdir(parents=True)
    with tarfile.open(archive, "r:") as tf:
        for m in tf.getmembers():
            parts = m.name.split("/")
            if not (m.isfile() and len(parts) == 3 and parts[0] == "blobs"):
                continue
            Digest.parse(f"{parts[1]}:{parts[2]}")  # refuses anything that is not a digest
            (layout / "blobs" / parts[1]).mkdir(exist_ok=True)
            src = tf.extractfile(m)
            assert src is not None
            with src, open(layout / "blobs" / parts[1] / parts[2], "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    (layout / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    pushed: dict[str, list[str]] = {}
    for platform, image in images.items():
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


__all__ = ["NodeFailure", "cache_dir", "context_need", "context_put", "fail", "info", "run_build"]
