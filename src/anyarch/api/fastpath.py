"""The warm fast path of ``anyarch build``: when nothing changed, re-apply the last result.

A warm rebuild's own work is a few hundredths of a second; finding out that
every step is cached used to cost half a second of imports (the Dockerfile
frontend, the planner, the solver, the OCI and store modules).  This module
decides the same question from a fingerprint, with the standard library only,
so ``anyarch build`` can answer before importing any of that.

After every successful full build the job layer (:func:`anyarch.api.build.build`)
calls :func:`record`; the next build of the same request calls :func:`replay`
first.  A record lives in ``STORE/cache/fastpath/<key>.json`` (written
atomically), where ``key`` is a digest of everything that determines the
result except the context's files and the base images:

* the Dockerfile text and path, the context path, platforms, build args,
  target, labels, network, compression, index format, ``SOURCE_DATE_EPOCH``,
  the binfmt directory, the host's machine type, anyarch's version and a stat
  fingerprint of the source files that decide a build's result (a changed
  anyarch never replays an old result).

The record holds what the key leaves out, checked on every replay:

* the context's stat fingerprint (every entry's relative path, type and mode,
  size, mtime, ctime, inode; symlink targets; the bytes of both candidate
  ignore files) -- taken *before* the build ran, so a file edited during the
  build makes the next build a full one;
* every base image the build resolved, by name, with the digest the store's
  ``index.json`` gave that name;
* the result (index or manifest descriptor) and every blob it reaches, each
  of which must still be in the store.

Anything unexpected -- a missing or malformed record, an unreadable file, a
changed stat, a re-tagged base, a collected blob -- means "no replay": the
caller runs the full build, which is always correct.  Options whose effect a
record cannot capture (``--no-cache``, ``--pull``, ``--push``, ``--output``,
``--cache-from``/``--cache-to``, named build contexts, secrets, a context or
Dockerfile on stdin) never take the fast path, and a build that downloads
(``ADD`` of a URL or git repository) is never recorded.
``ANYARCH_BUILD_FASTPATH=0`` turns it off.

A replay emits what a fully cached build emits: every step ``done`` and
cached, in the order the full build finished them, each platform's outcome,
the same names, ``--iidfile`` and ``--metadata-file``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from anyarch import __version__

__all__ = ["FastRequest", "Replayed", "enabled", "prune", "record", "replay"]

FORMAT = 1
"""Bumped whenever the key or the record changes meaning."""

_SUBDIR = ("cache", "fastpath")

RACY_WINDOW_NS = 2_000_000_000
"""A context entry changed less than this before its fingerprint was taken might change
again without a new timestamp (file times have a clock tick's granularity): such a
fingerprint is not recorded, as :class:`anyarch.build.context.StatCache` does."""


def enabled() -> bool:
    """False when ``ANYARCH_BUILD_FASTPATH=0`` (always run the full build)."""
    return os.environ.get("ANYARCH_BUILD_FASTPATH", "1").strip() not in ("0", "false", "no")


class Events(Protocol):
    """The part of :class:`anyarch.build.solver.BuildEvents` a replay uses."""

    def on_step(self, event: Any) -> None: ...

    def on_platform(self, outcome: Any) -> None: ...


class FastRequest:
    """What a build was asked for, as plain text (no OCI parsing needed to build one).

    ``platforms`` are the ``--platform`` values as typed (split at commas), so
    two spellings of one platform are two keys: a miss, never a wrong hit.
    ``tags`` are not part of the key: a different ``-t`` re-tags the same result.
    """

    __slots__ = (
        "_context_fp",
        "_racy",
        "all_platforms",
        "binfmt_dir",
        "build_args",
        "compression",
        "context",
        "dockerfile",
        "dockerfile_path",
        "epoch",
        "index_format",
        "labels",
        "network",
        "platforms",
        "tags",
        "target",
    )

    def __init__(
        self,
        *,
        dockerfile: str,
        dockerfile_path: str | None,
        context: str | None,
        platforms: Sequence[str],
        build_args: Mapping[str, str],
        target: str | None,
        labels: Mapping[str, str],
        network: str,
        compression: str | None,
        index_format: str,
        epoch: int | None,
        binfmt_dir: str | None,
        all_platforms: bool,
        tags: Sequence[str],
    ) -> None:
        self.dockerfile = dockerfile
        self.dockerfile_path = dockerfile_path
        self.context = os.path.realpath(context) if context is not None else None
        self.platforms = tuple(platforms)
        self.build_args = dict(build_args)
        self.target = target
        self.labels = dict(labels)
        self.network = network
        self.compression = compression
        self.index_format = index_format
        self.epoch = epoch
        self.binfmt_dir = binfmt_dir
        self.all_platforms = all_platforms
        self.tags = tuple(tags)
        self._context_fp: str | None = None
        self._racy = True

    def key(self) -> str:
        """The record's name: a digest of everything but the context's files and the bases."""
        doc = {
            "format": FORMAT,
            "version": __version__,
            "code": _code_fingerprint(),
            "machine": os.uname().machine,
            "dockerfile": hashlib.sha256(
                self.dockerfile.encode("utf-8", "surrogateescape")
            ).hexdigest(),
            "dockerfile_path": self.dockerfile_path,
            "context": self.context,
            "platforms": list(self.platforms),
            "all_platforms": self.all_platforms,
            "build_args": sorted(self.build_args.items()),
            "target": self.target,
            "labels": sorted(self.labels.items()),
            "network": self.network,
            "compression": self.compression,
            "index_format": self.index_format,
            "epoch": self.epoch,
            "binfmt_dir": self.binfmt_dir,
        }
        raw = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogateescape")
        return hashlib.sha256(raw).hexdigest()

    def context_fingerprint(self) -> str:
        """The context's stat fingerprint, computed once per request (see the module docstring)."""
        if self._context_fp is None:
            taken = time.time_ns()
            self._context_fp, newest = _context_fingerprint(self.context, self.dockerfile_path)
            self._racy = newest > taken - RACY_WINDOW_NS
        return self._context_fp

    @property
    def racy(self) -> bool:
        """Whether something in the context changed within :data:`RACY_WINDOW_NS` of the
        fingerprint (then it is not recorded: the build may have read a later version)."""
        self.context_fingerprint()
        return self._racy


class Miss(Exception):
    """Internal: the fast path does not apply; the reason is the message."""


# --- fingerprints -------------------------------------------------------------------------


_code_fp: str | None = None

_NOT_IN_RESULT = frozenset({"cli", "farm", "lint", "registry", "verify", "__pycache__"})
"""Subpackages whose code cannot change what a build of the same inputs produces (output,
the farm, ``anyarch check``/``verify``, and the registry client: base images are checked
by digest)."""


def _code_fingerprint() -> str:
    """Path, size and mtime of every module of the installed anyarch that decides a
    build's result (about 100 stats): a changed anyarch never replays an old result."""
    global _code_fp
    if _code_fp is None:
        pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        lines: list[str] = []
        stack = [pkg]
        while stack:
            d = stack.pop()
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        if not (d == pkg and e.name in _NOT_IN_RESULT) and e.name != "__pycache__":
                            stack.append(e.path)
                    elif e.name.endswith(".py"):
                        st = e.stat(follow_symlinks=False)
                        lines.append(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}")
        lines.sort()
        _code_fp = hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
    return _code_fp


def _context_fingerprint(context: str | None, dockerfile_path: str | None) -> tuple[str, int]:
    """A digest of the context tree's metadata (no file is read but the ignore files),
    and the newest mtime or ctime in it."""
    h = hashlib.sha256()
    if context is None:
        return "none", 0
    newest = 0
    df = dockerfile_path or os.path.join(context, "Dockerfile")
    for candidate in (df + ".dockerignore", os.path.join(context, ".dockerignore")):
        try:
            with open(candidate, "rb") as fh:
                cst = os.fstat(fh.fileno())
                data = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            h.update(f"absent {candidate}\n".encode("utf-8", "surrogateescape"))
            continue
        except OSError as exc:
            raise Miss(f"cannot read {candidate}: {exc.strerror}") from None
        newest = max(newest, cst.st_mtime_ns, cst.st_ctime_ns)
        h.update(f"ignore {candidate} {len(data)}\n".encode("utf-8", "surrogateescape"))
        h.update(data)
    try:
        st = os.stat(context)
    except OSError:
        raise Miss("the context directory is gone") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Miss("the context is not a directory")
    # Tuples hashed through repr: about 5 us an entry, most of it the lstat.  Entries keep
    # scandir's order (stable while a directory is unchanged; a change of order only
    # makes a miss, never a wrong hit), which saves sorting.
    rows: list[tuple[object, ...]] = [
        (".", st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    ]
    newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    stack = [("", context)]
    try:
        while stack:
            rel, path = stack.pop()
            with os.scandir(path) as it:
                for e in it:
                    r = f"{rel}/{e.name}" if rel else e.name
                    s = e.stat(follow_symlinks=False)
                    mode, mtime, ctime = s.st_mode, s.st_mtime_ns, s.st_ctime_ns
                    rows.append((r, mode, s.st_size, mtime, ctime, s.st_ino))
                    if ctime > newest or mtime > newest:
                        newest = max(newest, mtime, ctime)
                    if stat.S_ISDIR(mode):
                        stack.append((r, e.path))
                    elif stat.S_ISLNK(mode):
                        rows.append(("->", os.readlink(e.path)))
    except OSError as exc:
        raise Miss(f"cannot walk the context: {exc}") from None
    h.update(repr(rows).encode("utf-8", "surrogateescape"))
    return h.hexdigest(), newest


# --- the store, read without the store module -------------------------------------------------


def _index_names(root: Path) -> tuple[dict[str, str], set[str]]:
    """``index.json``: name -> digest of every named entry, and every entry's digest."""
    try:
        doc = json.loads((root / "index.json").read_bytes())
        names: dict[str, str] = {}
        digests: set[str] = set()
        for m in doc["manifests"]:
            digest = str(m["digest"])
            digests.add(digest)
            name = (m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            if isinstance(name, str):
                names[name] = digest
        return names, digests
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Miss(f"cannot read the store's index.json: {exc}") from None


def _blob_path(root: Path, digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    if not hexpart or "/" in hexpart or "/" in algorithm:
        raise Miss(f"malformed digest {digest!r} in the record")
    return os.path.join(root, "blobs", algorithm, hexpart)


def _record_path(root: Path, key: str) -> Path:
    return root.joinpath(*_SUBDIR, f"{key}.json")


# --- replay -----------------------------------------------------------------------------------


class _Info:
    """A step as progress shows it (the fields of :class:`anyarch.build.solver.StepInfo`;
    platforms as their text)."""

    __slots__ = ("key", "kind", "label", "plan_key", "platform", "stage", "targets", "text")

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.plan_key = str(doc["plan_key"])
        self.key = str(doc["key"])
        self.text = str(doc["text"])
        self.stage = str(doc["stage"])
        self.kind = str(doc["kind"])
        self.platform = str(doc["platform"])
        self.targets = tuple(str(t) for t in doc["targets"])
        self.label = str(doc["label"])


class _StepEvent:
    """A cached ``done`` step event (as :class:`anyarch.build.solver.StepEvent`)."""

    __slots__ = ("cached", "error", "info", "seconds", "status")

    def __init__(self, info: _Info) -> None:
        self.info = info
        self.status = "done"
        self.cached = True
        self.seconds = 0.0
        self.error: str | None = None


class Descriptor:
    """The result's descriptor: what the CLI prints and writes (``digest`` as text).

    ``doc`` is its OCI JSON, as the full build tagged it.
    """

    __slots__ = ("digest", "doc", "media_type", "size")

    def __init__(
        self, media_type: str, digest: str, size: int, doc: Mapping[str, Any] | None = None
    ) -> None:
        self.media_type = media_type
        self.digest = digest
        self.size = size
        self.doc = dict(doc or {"mediaType": media_type, "digest": digest, "size": size})


class _Image:
    __slots__ = ("descriptor",)

    def __init__(self, digest: str) -> None:
        self.descriptor = Descriptor("", digest, 0)


class Outcome:
    """One platform's outcome (as :class:`anyarch.build.solver.PlatformOutcome`; text platform)."""

    __slots__ = ("error", "how", "image", "platform", "seconds", "status")

    def __init__(self, platform: str, how: str, digest: str, seconds: float) -> None:
        self.platform = platform
        self.status = "ok"
        self.how = how
        self.seconds = seconds
        self.image = _Image(digest)
        self.error: Any = None


class Replayed:
    """What a replay produced; quacks like :class:`anyarch.api.build.BuildResult` for the CLI."""

    __slots__ = ("descriptor", "metadata", "names", "outcomes", "pushed")

    def __init__(
        self,
        descriptor: Descriptor,
        names: tuple[str, ...],
        outcomes: list[Outcome],
        metadata: dict[str, Any],
    ) -> None:
        self.descriptor = descriptor
        self.names = names
        self.outcomes = outcomes
        self.metadata = metadata
        self.pushed: tuple[str, ...] = ()

    def raise_for_failure(self) -> None:
        return None


def replay(
    root: Path,
    req: FastRequest,
    events: Events,
    *,
    iidfile: Path | None = None,
    metadata_file: Path | None = None,
) -> tuple[Replayed | None, str]:
    """Re-apply the recorded result of ``req`` if nothing it depends on changed.

    Returns the result and ``"hit"``, or None and why not (for ``--debug``).
    Names the result in the store (as the full build would), writes
    ``iidfile``/``metadata_file`` and emits the cached build's events.
    """
    started = time.monotonic()
    try:
        rec = _load(root, req)
        from anyarch._util.lock import file_lock

        # shared, as a build holds it: gc cannot sweep the blobs checked below meanwhile
        with file_lock(root / ".gc.lock", shared=True):
            result = _apply(root, req, rec)
    except Miss as miss:
        return None, str(miss)
    except OSError as exc:  # e.g. the store removed meanwhile: the full build reports it
        return None, f"cannot use the store: {exc}"
    desc, names = result
    elapsed = time.monotonic() - started
    cached = 0
    outcomes: list[Outcome] = []
    for kind, doc in rec["events"]:
        if kind == "step":
            info = _Info(doc)
            if info.kind not in ("image", "scratch"):
                cached += 1
            events.on_step(_StepEvent(info))
        else:
            outcome = Outcome(str(doc["platform"]), str(doc["how"]), str(doc["digest"]), elapsed)
            outcomes.append(outcome)
            events.on_platform(outcome)
    metadata = _replayed_metadata(rec["metadata"], names, cached, elapsed)
    if iidfile is not None or metadata_file is not None:
        from anyarch._util.fs import atomic_write_bytes

        if iidfile is not None:
            atomic_write_bytes(iidfile, desc.digest.encode())
        if metadata_file is not None:
            atomic_write_bytes(metadata_file, (json.dumps(metadata, indent=2) + "\n").encode())
    return Replayed(desc, names, outcomes, metadata), "hit"


def _load(root: Path, req: FastRequest) -> dict[str, Any]:
    key = req.key()
    try:
        raw = _record_path(root, key).read_bytes()
    except FileNotFoundError:
        raise Miss("no record of this request (first build, or its options changed)") from None
    except OSError as exc:
        raise Miss(f"cannot read the record: {exc.strerror}") from None
    try:
        rec = json.loads(raw)
        ok = (
            isinstance(rec, dict)
            and rec.get("format") == FORMAT
            and rec.get("key") == key
            and isinstance(rec.get("result"), dict)
            and isinstance(rec.get("events"), list)
            and isinstance(rec.get("bases"), dict)
            and isinstance(rec.get("blobs"), list)
            and isinstance(rec.get("metadata"), dict)
            and isinstance(rec.get("tags"), dict)
        )
    except ValueError:
        ok = False
    if not ok:
        raise Miss("the record is malformed")
    return rec  # type: ignore[no-any-return]


def _apply(root: Path, req: FastRequest, rec: dict[str, Any]) -> tuple[Descriptor, tuple[str, ...]]:
    if req.context_fingerprint() != rec.get("context"):
        raise Miss("the context changed")
    names, digests = _index_names(root)
    for name, digest in rec["bases"].items():
        if names.get(name) != digest:
            raise Miss(f"base image {name} is not in the store as it was")
    for digest in rec["blobs"]:
        if not os.path.isfile(_blob_path(root, str(digest))):
            raise Miss(f"blob {digest} of the result is no longer in the store")
    try:
        res = rec["result"]
        desc = Descriptor(str(res["mediaType"]), str(res["digest"]), int(res["size"]), res)
        known = {str(k): str(v) for k, v in rec["tags"].items()}
        # every step and platform must be well-formed before anything is emitted
        for kind, doc in rec["events"]:
            if kind == "step":
                _Info(doc)
            elif kind == "platform":
                str(doc["platform"]), str(doc["how"]), str(doc["digest"])
            else:
                raise ValueError(kind)
    except (KeyError, TypeError, ValueError) as exc:
        raise Miss(f"the record is malformed: {exc}") from None
    if all(names.get(known.get(t, "")) == desc.digest for t in req.tags) and (
        req.tags or desc.digest in digests
    ):
        return desc, tuple(known[t] for t in req.tags)
    return desc, _name(root, desc, req.tags)


def _name(root: Path, desc: Descriptor, tags: Sequence[str]) -> tuple[str, ...]:
    """Tag the result as the full build does (only when ``index.json`` does not already)."""
    from anyarch.errors import AnyarchError
    from anyarch.oci import Descriptor as OciDescriptor
    from anyarch.store import Store

    store = Store(root)
    try:
        oci = OciDescriptor.from_json(desc.doc)
    except AnyarchError as err:
        raise Miss(f"the record's result descriptor is malformed: {err.message}") from None
    if str(oci.digest) != desc.digest:
        raise Miss("the record's result descriptor is inconsistent")
    names = tuple(store.tag(t, oci) for t in tags)
    if not names:
        store.add_unnamed(oci)
    return names


def _replayed_metadata(
    recorded: Mapping[str, Any], names: Sequence[str], cached: int, seconds: float
) -> dict[str, Any]:
    """The metadata a fully cached build writes, from the full build's."""
    meta = dict(recorded)
    meta.pop("image.name", None)
    if names:
        meta["image.name"] = ",".join(names)
    platforms = meta.get("anyarch.platforms")
    if isinstance(platforms, dict):
        meta["anyarch.platforms"] = {
            p: {**v, "seconds": round(seconds, 3)} if isinstance(v, dict) else v
            for p, v in platforms.items()
        }
    meta["anyarch.steps"] = {"run": 0, "cached": cached}
    meta["anyarch.context"] = {"files_read": 0}
    return meta


# --- record -----------------------------------------------------------------------------------


def record(
    root: Path,
    req: FastRequest,
    *,
    result: Mapping[str, Any],
    blobs: Sequence[str],
    bases: Mapping[str, str],
    tags: Mapping[str, str],
    events: Sequence[tuple[str, Mapping[str, Any]]],
    metadata: Mapping[str, Any],
) -> None:
    """Remember a successful full build of ``req`` (see the module docstring).

    ``req``'s context fingerprint must have been taken before the build ran;
    ``events`` are the build's finished steps and platform outcomes, in order.
    """
    from anyarch._util.fs import atomic_write_bytes

    key = req.key()
    doc = {
        "format": FORMAT,
        "key": key,
        "context": req.context_fingerprint(),
        "bases": dict(bases),
        "result": dict(result),
        "blobs": list(blobs),
        "tags": dict(tags),
        "events": [[kind, dict(doc)] for kind, doc in events],
        "metadata": dict(metadata),
    }
    path = _record_path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogateescape"))


def prune(root: Path) -> int:
    """Drop the records whose result is no longer whole in the store; how many were dropped.

    ``gc`` calls it after sweeping: a record that could never be replayed again
    (a blob of its result was collected, or the file is unreadable) is only
    clutter.  Replays check the blobs anyway, so this is tidiness, not safety.
    """
    folder = root.joinpath(*_SUBDIR)
    dropped = 0
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return 0
    for name in names:
        if not name.endswith(".json"):
            continue
        path = folder / name
        try:
            doc = json.loads(path.read_bytes())
            blobs = doc["blobs"]
            whole = isinstance(blobs, list) and all(
                isinstance(d, str) and os.path.isfile(_blob_path(root, d)) for d in blobs
            )
        except (OSError, ValueError, KeyError, TypeError, Miss):
            whole = False
        if not whole:
            try:
                path.unlink()
                dropped += 1
            except FileNotFoundError:
                pass
    return dropped


def forget(root: Path, req: FastRequest) -> None:
    """Drop the record of ``req`` (a failed or partial build must not leave the old one)."""
    try:
        _record_path(root, req.key()).unlink()
    except FileNotFoundError:
        pass
