"""Run one filesystem step of a plan and turn what it changed into a layer.

The solver decides *whether* a step runs (cache, dependencies, platforms);
this module runs it:

* a writable rootfs of the step's base (:func:`anyarch.build.steps_fs.open_rootfs`:
  overlay over cached snapshots, or a copy);
* RUN in crun through the sandbox (:mod:`anyarch.build.steps_run`), COPY/ADD
  through the copy planner (:mod:`anyarch.build.steps_copy`), WORKDIR's
  ``mkdir -p``;
* the diff -- the overlay upper dir, or the tree compared with a snapshot
  taken before the step -- written as a layer straight into the store
  (:func:`anyarch.archive.diff.write_diff_layer`: tar, diff ID, compression and
  digest in one pass).  A step that changed nothing adds no layer (BuildKit's
  exporter drops empty layers too; the history entry says ``empty_layer``).

Errors name the instruction: ``Dockerfile:4:1: RUN make [linux/arm64]: ...``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from anyarch._util.fs import mark_top_directory
from anyarch.archive.diff import Change, ChangeKind, write_diff_layer
from anyarch.build.cache import BuildCache, CacheRecord
from anyarch.build.context import SourceTree, StatCache, open_context
from anyarch.build.rootfs import remove_tree, unmount
from anyarch.build.steps_copy import Downloads, apply_copy, resolve_chown
from anyarch.build.steps_fs import FsState, LayerRef, open_rootfs
from anyarch.build.steps_run import SecretSource, make_directory, run_command
from anyarch.build.steps_snapshots import adopt
from anyarch.errors import AnyarchError, BuildError, NotFoundError
from anyarch.oci import Descriptor, Digest
from anyarch.oci.platform import Platform
from anyarch.oci.platform import format as format_platform
from anyarch.plan import CopySpec, MkdirSpec, RunSpec, Step, StepKind
from anyarch.store import Store

__all__ = ["Session", "StepFailedError", "execute_layer_step", "located", "write_layer"]

LineSink = Callable[[str], None]


class StepFailedError(BuildError):
    """A RUN step exited non-zero; ``tail`` holds the last lines of its output."""

    def __init__(self, message: str, *, hint: str | None, tail: tuple[str, ...], code: int) -> None:
        super().__init__(message, hint=hint)
        self.tail = tail
        self.process_exit_code = code


def _short(text: str, limit: int = 72) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


def located(step: Step, err: AnyarchError, platform: Platform | None = None) -> AnyarchError:
    """``err`` with its message prefixed by the instruction's ``file:line:column``, text and platform.

    The error keeps its class (so its exit code); applied once per error.
    """
    if getattr(err, "_anyarch_located", False):
        return err
    where = f"{step.location}: " if step.location is not None else ""
    plat = format_platform(platform or step.platform)
    err.message = f"{where}{_short(step.text)} [{plat}]: {err.message}"
    err.args = (err.message,)
    err._anyarch_located = True  # type: ignore[attr-defined]
    return err


@dataclasses.dataclass(slots=True)
class Session:
    """What every step of one build shares: the store, the context, secrets, layer options.

    ``work`` is a scratch directory of this build (removed by :meth:`close`).
    ``epoch`` (``SOURCE_DATE_EPOCH``) clamps layer mtimes when set.
    """

    store: Store
    work: Path
    context_dir: Path | None
    dockerfile: str = "Dockerfile"
    secrets: Mapping[str, SecretSource] = dataclasses.field(default_factory=dict)
    network: str = "default"
    compression: str | None = "gzip"
    epoch: int | None = None
    binfmt_dir: Path | None = None
    stat_cache: StatCache | None = None
    cache: BuildCache | None = None
    downloads: Downloads = dataclasses.field(init=False)
    clones: dict[str, str] = dataclasses.field(default_factory=dict, init=False)
    #: set when the build stops (a step failed, Ctrl-C): running RUNs are killed
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event, init=False)
    flights: _Flights = dataclasses.field(default_factory=lambda: _Flights(), init=False)
    _context: SourceTree | None = dataclasses.field(default=None, init=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.downloads = Downloads(self.work)

    @classmethod
    def create(cls, store: Store, **kwargs: object) -> Session:
        """A session with a fresh work directory under ``STORE/work``."""
        base = store.root / "work"
        base.mkdir(parents=True, exist_ok=True)
        mark_top_directory(base)  # each build's scratch trees start in a block group of their own
        work = Path(tempfile.mkdtemp(prefix=f"build-{os.getpid()}-", dir=base))
        return cls(store=store, work=work, **kwargs)  # type: ignore[arg-type]

    @property
    def variant(self) -> str:
        """How layers are written (enters the build cache's record key)."""
        return f"{self.compression or 'none'}" + (
            f"@{self.epoch}" if self.epoch is not None else ""
        )

    def context(self) -> SourceTree:
        """The build context as COPY sees it (``.dockerignore`` applied), opened once."""
        with self._lock:
            if self._context is None:
                if self.context_dir is None:
                    raise NotFoundError(
                        "this build has no context, but the Dockerfile copies from it",
                        hint="pass a context directory (or a tar on stdin) instead of a bare Dockerfile",
                    )
                self._context = open_context(
                    self.context_dir, dockerfile=self.dockerfile, cache=self.stat_cache
                )
            return self._context

    def context_root(self) -> Path:
        return self.context().root

    @property
    def context_files_read(self) -> int:
        """How many context files were read (hashed) so far: 0 on a warm rebuild."""
        return self._context.files_read if self._context is not None else 0

    def close(self) -> None:
        if self.stat_cache is not None:
            with contextlib.suppress(Exception):
                self.stat_cache.close()
        with contextlib.suppress(OSError, AnyarchError):
            remove_tree(self.work)


def write_layer(
    store: Store,
    changes: Iterable[Change],
    root: Path,
    *,
    compression: str | None,
    clamp: int | None,
) -> LayerRef | None:
    """Write ``changes`` (content under ``root``) as a layer blob in the store; None if empty."""
    listed = list(changes)
    if not listed:
        return None
    with store.blobs.writer() as sink:
        result = write_diff_layer(listed, root, sink, compression=compression, clamp_mtime=clamp)  # type: ignore[arg-type]
    digest = sink.digest
    if str(digest) != result.digest:  # the writer and the blob store hashed different bytes
        raise BuildError(
            f"layer digest mismatch: wrote {result.digest}, stored {digest}",
            hint="this is a bug in anyarch; rerun with --debug and report it",
        )
    return LayerRef(Descriptor(result.media_type, digest, sink.size), Digest.parse(result.diff_id))


def _stub_parents(rootfs: Path, spec: RunSpec) -> dict[str, os.stat_result]:
    """Existing directories the sandbox creates mount points in, with their metadata before the run.

    The runtime needs a file or directory at every mount destination
    (``/etc/hosts``, ``/etc/resolv.conf``, cache and secret targets); the
    sandbox creates the missing ones and removes them afterwards, but their
    parent directories were touched (and, on overlayfs, copied up).
    """
    targets = ["/etc/hosts", "/dev/pipes/x", *(m.target for m in spec.mounts if m.target)]
    out: dict[str, os.stat_result] = {}
    for target in targets:
        parts = [p for p in target.split("/") if p][:-1]
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            if rel in out:
                continue
            try:
                st = os.lstat(rootfs / rel)
            except OSError:
                break
            if not stat.S_ISDIR(st.st_mode):
                break
            out[rel] = st
    return out


def _drop_stub_parents(
    changes: list[Change], watched: Mapping[str, os.stat_result], rootfs: Path
) -> list[Change]:
    """``changes`` without directories that only held a mount point during the run.

    A watched directory is dropped when nothing below it changed and its
    type, mode and owner are what they were before: the step did not change
    it, the mount-point bookkeeping did (BuildKit's layers do not show it).
    """
    changed_below: set[str] = set()
    for ch in changes:
        parts = ch.path.strip("/").split("/")
        for i in range(1, len(parts)):
            changed_below.add("/".join(parts[:i]))
    out = []
    for ch in changes:
        rel = ch.path.strip("/")
        before = watched.get(rel)
        if before is not None and rel not in changed_below and ch.kind is not ChangeKind.DELETE:
            try:
                now = os.lstat(rootfs / rel)
            except OSError:
                now = None
            if now is not None and (now.st_mode, now.st_uid, now.st_gid) == (
                before.st_mode,
                before.st_uid,
                before.st_gid,
            ):
                continue
        out.append(ch)
    return out


def _run(
    session: Session,
    step: Step,
    spec: RunSpec,
    rootfs: Path,
    stage_roots: Mapping[str, Path],
    on_line: LineSink | None,
) -> None:
    result = run_command(
        spec,
        rootfs,
        platform=format_platform(step.platform),
        network=session.network,
        context_root=session.context_root,
        stage_roots=stage_roots,
        secrets=session.secrets,
        cache_root=session.store.root / "cache" / "mounts",
        work=session.work,
        on_line=on_line,
        binfmt_dir=session.binfmt_dir,
        cancel=session.cancel,
    )
    if result.exit_code != 0:
        last = [line for line in result.tail if line.strip()][-3:]
        hint = (
            "last output: " + " | ".join(_short(x, 120) for x in last)
            if last
            else "the step printed nothing; try the command with 'anyarch run' in the base image"
        )
        raise StepFailedError(
            f"process {json.dumps(' '.join(result.args))} did not complete successfully: "
            f"exit code: {result.exit_code}",
            hint=hint,
            tail=result.tail,
            code=result.exit_code,
        )


def _dest_probe(rootfs: Path, dest: str) -> list[tuple[object, ...]] | None:
    """What the base has on the way to a COPY destination, or None when a layer may differ.

    A COPY's layer is the same on two bases when the destination's parent
    directories look the same in both (type, mode, owner, mtime: copied-up
    parents enter the layer) and the destination itself is absent (or an
    empty directory), so nothing already there can conflict with or shape
    what is copied.  Symlinks on the way mean "no".
    """
    parts = [p for p in dest.split("/") if p]
    out: list[tuple[object, ...]] = []
    for i in range(1, len(parts) + 1):
        rel = "/".join(parts[:i])
        try:
            st = os.lstat(rootfs / rel)
        except FileNotFoundError:
            out.append((rel, "absent"))
            return out
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        if i == len(parts) and any(os.scandir(rootfs / rel)):
            return None
        out.append((rel, st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns))
    return out


def _copy_layer_key(
    session: Session, spec: CopySpec, rootfs: Path, content: str | None
) -> str | None:
    """A key for a COPY/ADD's layer alone (independent of the base), or None."""
    if content is None:
        return None
    probe = _dest_probe(rootfs, spec.dest)
    if probe is None:
        return None
    owner = resolve_chown(rootfs, spec.chown)
    doc = [
        "copy-layer-v1",
        repr(spec.key_data()),
        content,
        repr(probe),
        repr(owner),
        session.variant,
    ]
    return "sha256:" + hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def _note_clone(session: Session, base: FsState, found: CacheRecord) -> None:
    """Remember that this base plus the reused layer can be snapshotted by cloning the original."""
    if found.layer is None or found.chain_id is None:
        return
    chain = base.plus(found.layer, "").chain_id
    if chain is not None and str(chain) != found.chain_id:
        with session._lock:
            session.clones[str(chain)] = found.chain_id


class _Flights:
    """One execution per layer key at a time; the others wait for its record."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}
        self._done: dict[str, CacheRecord] = {}

    def begin(self, key: str) -> CacheRecord | None:
        """The record when another run made it; None when the caller must make it (then :meth:`end`)."""
        while True:
            with self._lock:
                if key in self._done:
                    return self._done[key]
                event = self._pending.get(key)
                if event is None:
                    self._pending[key] = threading.Event()
                    return None
            event.wait()
            with self._lock:
                if key in self._done:
                    return self._done[key]
            # the leader failed: try to be the one that makes it

    def end(self, key: str, record: CacheRecord | None) -> None:
        with self._lock:
            if record is not None:
                self._done[key] = record
            event = self._pending.pop(key, None)
        if event is not None:
            event.set()


def execute_layer_step(
    session: Session,
    step: Step,
    base: FsState,
    sources: Mapping[str, FsState],
    on_line: LineSink | None = None,
    *,
    content: str | None = None,
) -> LayerRef | None:
    """Run a RUN/COPY/ADD/WORKDIR step on ``base``; its layer (None if it changed nothing).

    ``sources`` are the filesystems named by ``COPY --from`` and ``RUN
    --mount from=`` (by plan key).  ``content`` is what a COPY reads (the
    digest in its cache key): a COPY whose layer another platform already
    made on an equivalent base reuses that layer.  Errors come back
    :func:`located`.
    """
    store = session.store
    layer_key: str | None = None
    record: CacheRecord | None = None
    try:
        if base.local_dir is not None:
            raise BuildError(
                f"build context {base.local_name!r} is a directory, not an image: "
                "it cannot be a stage's base",
                hint="use it with COPY --from or RUN --mount from=, or pass "
                "--build-context NAME=docker-image://REF for an image",
            )
        with contextlib.ExitStack() as stack:
            mounted = stack.enter_context(
                open_rootfs(store, base, step.platform, clones=session.clones)
            )
            spec = step.spec
            if step.kind in (StepKind.COPY, StepKind.ADD):
                assert isinstance(spec, CopySpec)
                layer_key = _copy_layer_key(session, spec, mounted.rootfs, content)
                if layer_key is not None:
                    found = session.flights.begin(layer_key)
                    if found is None and session.cache is not None:
                        found = session.cache.get(layer_key, "layer")
                        if found is not None:
                            session.flights.end(layer_key, found)
                    if found is not None:
                        layer_key = None  # nothing to publish
                        if found.layer is not None:
                            _note_clone(session, base, found)
                        return found.layer
            roots: dict[str, Path] = {}
            for key, state in sources.items():
                if state.local_dir is not None:
                    roots[key] = state.local_dir
                    continue
                roots[key] = stack.enter_context(
                    open_rootfs(store, state, step.platform, clones=session.clones)
                ).rootfs
            watched: dict[str, os.stat_result] = {}
            if step.kind is StepKind.RUN:
                assert isinstance(spec, RunSpec)
                watched = _stub_parents(mounted.rootfs, spec)
                _run(session, step, spec, mounted.rootfs, roots, on_line)
            elif step.kind in (StepKind.COPY, StepKind.ADD):
                assert isinstance(spec, CopySpec)
                source = None
                local = sources.get(spec.source_key) if spec.source_key is not None else None
                if local is not None and local.local_dir is not None:
                    source = SourceTree(
                        local.local_dir,
                        reset_owner=True,
                        label=f"build context {local.local_name!r}",
                    )
                elif spec.source_key is not None:
                    source = SourceTree(
                        roots[spec.source_key],
                        label=f"stage {spec.source_stage!r}"
                        if spec.source_stage
                        else "the source image",
                    )
                apply_copy(
                    spec,
                    mounted.rootfs,
                    context=session.context,
                    source=source,
                    downloads=session.downloads,
                    work=session.work,
                )
            elif step.kind is StepKind.MKDIR:
                assert isinstance(spec, MkdirSpec)
                make_directory(mounted.rootfs, spec.path, spec.user)
            else:
                raise ValueError(f"not a layer step: {step.kind}")
            diff_root = mounted.upper if mounted.upper is not None else mounted.rootfs
            changes = list(mounted.changes())
            dropped: list[str] = []
            if watched:
                kept = _drop_stub_parents(changes, watched, mounted.rootfs)
                dropped = [c.path for c in changes if c not in kept]
                changes = kept
            layer = write_layer(
                store, changes, diff_root, compression=session.compression, clamp=session.epoch
            )
            chain = None
            if layer is not None:
                chain = base.plus(layer, "").chain_id
                if mounted.upper is not None and chain is not None:
                    unmount(mounted.rootfs)
                    adopt(
                        store,
                        mounted.upper,
                        chain=chain,
                        parent=base.chain_id,
                        diff_id=layer.diff_id,
                        layer=layer.descriptor.digest,
                        epoch=session.epoch,
                        dropped=dropped,
                    )
            record = CacheRecord(layer, "", str(chain) if chain is not None else None)
            if layer_key is not None and session.cache is not None:
                session.cache.put(layer_key, "layer", record)
            return layer
    except AnyarchError as err:
        raise located(step, err) from None
    except OSError as err:
        raise located(
            step,
            BuildError(
                f"{err.strerror or err}" + (f": {err.filename}" if err.filename else ""),
                hint="check free space and permissions of the store directory",
            ),
        ) from None
    finally:
        if layer_key is not None:
            session.flights.end(layer_key, record)
