"""Unpacked layers cached by chain ID, and writable rootfs assembled from them.

Why a cache: every ``RUN`` step and every ``anyarch run`` needs the image's
filesystem, and unpacking a layer costs far more than mounting it.  So each
layer is unpacked once per *chain ID* (image-spec ``config.md``:
``chainID(L0) = diffID(L0)``, ``chainID(Ln) = sha256(chainID(Ln-1) + " " +
diffID(Ln))``), which names a layer *together with everything below it* —
the same layer on another base is another snapshot, as it must be, because
its whiteouts mean something else there.

Two kinds of snapshot, one per way of assembling a rootfs::

    STORE/snapshots/<chain-hex>/fs         overlay mode: only this layer's changes,
    STORE/snapshots/<chain-hex>/.complete  usable as an overlayfs lower dir
    STORE/snapshots/full/<chain-hex>/...   copy mode: the whole rootfs at this layer
    STORE/snapshots/.locks/                one lock file per snapshot
    STORE/snapshots/.tmp/                  snapshots being made, scratch rootfs dirs

**Overlay mode** (root, overlayfs works on the store's filesystem).  A layer
is applied the way containerd's overlay snapshotter applies it: through an
overlay mount whose lower dirs are the parent snapshots and whose upper dir is
the new snapshot.  The extractor then sees the merged tree, so an OCI
whiteout (``.wh.NAME``) deletes a real file, an opaque marker empties a real
directory, and the *kernel* writes the overlayfs form of those deletions
into the upper dir: a 0/0 character device per deleted path, and
``trusted.overlay.opaque=y`` on a directory that replaces a deleted one.
This also gives parent directories the layer does not list their real
metadata (overlay copies them up) instead of invented defaults.  (An OCI
opaque marker over an existing directory becomes one whiteout per hidden
entry rather than the opaque xattr: the merged view is the same.)

**Copy mode** (no overlayfs: rootless, exotic filesystems, or forced with
``ANYARCH_SNAPSHOTTER=copy``).  Each snapshot is a full rootfs: the parent's
tree hardlinked (cheap; the extractor replaces files by unlink-and-create and
never writes through an existing inode, so sharing is safe), then the layer
applied on top.  A writable rootfs is a real copy (``cp -a``, reflinked where
the filesystem can): a build step may append to a file in place, which
through a hardlink would corrupt the cache.

**Concurrency.**  A snapshot is made in ``.tmp/`` under an exclusive lock on
its lock file and published by ``rename`` after its ``.complete`` marker is
written, so a snapshot directory that exists is whole.  Users hold the lock
shared for as long as they mount or copy the snapshot (a *lease*); removal
takes it exclusive without waiting and skips snapshots in use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from anyarch._util.fs import atomic_write_bytes, mark_top_directory
from anyarch.archive.diff import Change, Snapshot, overlay_changes, tree_changes
from anyarch.archive.extract import extract_layer
from anyarch.build import rootfs as host
from anyarch.build.rootfs import OverlayUnavailableError
from anyarch.errors import InvalidDocumentError, InvalidInputError
from anyarch.oci import Descriptor, Digest, ImageConfig, Manifest, mediatype
from anyarch.store import Store

__all__ = [
    "ENV_SNAPSHOTTER",
    "Mounted",
    "OverlayUnavailableError",
    "SnapshotMode",
    "adopt_upper",
    "chain_ids",
    "clone_snapshot",
    "overlay_available",
    "prepare_rootfs",
    "remove_snapshots",
    "resolve_mode",
    "snapshot_exists",
    "snapshot_root",
    "sweep_leftovers",
    "unreferenced_snapshots",
]

log = logging.getLogger(__name__)

SnapshotMode = Literal["overlay", "copy"]

ENV_SNAPSHOTTER = "ANYARCH_SNAPSHOTTER"
"""``overlay``, ``copy`` or ``auto`` (default): how rootfs are assembled."""

SNAPSHOTS = "snapshots"
COMPLETE = ".complete"
_FULL = "full"
_LOCKS = ".locks"
_TMP = ".tmp"

_Kind = Literal["diff", "full"]

_PROBE_GRACE = 600.0
"""Seconds a lock-less overlay probe dir is left alone by the sweeper."""


# --- chain IDs ------------------------------------------------------------------


def chain_ids(diff_ids: Sequence[Digest | str]) -> tuple[Digest, ...]:
    """The chain ID of every layer prefix, per image-spec (``config.md``, "Layer ChainID")."""
    out: list[Digest] = []
    for i, d in enumerate(diff_ids):
        did = d if isinstance(d, Digest) else Digest.parse(d)
        if i == 0:
            out.append(did)
        else:
            text = f"{out[-1]} {did}".encode()
            out.append(Digest.parse(f"sha256:{hashlib.sha256(text).hexdigest()}"))
    return tuple(out)


@dataclasses.dataclass(frozen=True, slots=True)
class _Layer:
    """One layer of an image, with what the cache needs to find or make its snapshot."""

    blob: Descriptor
    diff_id: Digest
    chain_id: Digest


def _layers(manifest: Manifest, config: ImageConfig) -> list[_Layer]:
    diff_ids = config.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise InvalidDocumentError(
            f"manifest {manifest.digest} lists {len(manifest.layers)} layers but its config "
            f"has {len(diff_ids)} diff IDs",
            hint="the image is malformed; rebuild or re-pull it",
        )
    return [
        _Layer(blob, did, cid)
        for blob, did, cid in zip(manifest.layers, diff_ids, chain_ids(diff_ids), strict=True)
    ]


# --- locks --------------------------------------------------------------------------


class _Lock:
    """An flock on a lock file that removers may unlink: re-checked after locking.

    A remover unlinks a snapshot's lock file while holding it exclusively;
    someone who opened the old file before that would otherwise hold a lock
    nobody else can see.  So after every ``flock`` the path must still name
    the locked inode, else we try again with the new file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def acquire(self, how: int, *, wait: bool = True) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, how | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)

    def downgrade(self) -> None:
        """Exclusive to shared without a window (Linux converts flock locks atomically)."""
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def release(self, *, unlink: bool = False) -> None:
        if self.fd < 0:
            return
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(self.fd)  # closing drops the flock
        self.fd = -1


# --- the cache ------------------------------------------------------------------------


def snapshot_root(store: Store) -> Path:
    """``STORE/snapshots``: everything this module keeps lives below it."""
    return store.root / SNAPSHOTS


class _Cache:
    """The snapshot directories of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = snapshot_root(store)
        self.tmp = self.root / _TMP
        self.tmp.mkdir(parents=True, exist_ok=True)
        mark_top_directory(self.tmp)  # each unpacked layer is a tree of its own

    def dir(self, chain: Digest, kind: _Kind) -> Path:
        return self.root / chain.hex if kind == "diff" else self.root / _FULL / chain.hex

    def lock(self, chain: Digest, kind: _Kind) -> _Lock:
        name = chain.hex if kind == "diff" else f"{_FULL}-{chain.hex}"
        return _Lock(self.root / _LOCKS / name)

    def new_tmp(self, prefix: str) -> tuple[Path, _Lock]:
        """A fresh directory in ``.tmp/`` and its lock, held until the owner is done.

        The lock is taken *before* the directory exists, so :func:`sweep_leftovers`
        never sees a directory whose owner is alive but not yet locked.
        """
        while True:
            path = self.tmp / f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"
            lock = _Lock(path.with_name(path.name + ".lock"))
            lock.acquire(fcntl.LOCK_EX)
            try:
                path.mkdir()
            except FileExistsError:
                lock.release()
                continue
            except BaseException:
                lock.release(unlink=True)
                raise
            return path, lock

    def ensure(
        self, layers: Sequence[_Layer], kind: _Kind, leases: list[_Lock]
    ) -> tuple[list[Path], list[Digest]]:
        """The snapshot dir of every layer prefix, made if missing; each one leased into ``leases``.

        Returns the ``fs`` directories (bottom layer first) and the chain IDs
        that had to be extracted now.
        """
        dirs: list[Path] = []
        made: list[Digest] = []
        for i, layer in enumerate(layers):
            final = self.dir(layer.chain_id, kind)
            lock = self.lock(layer.chain_id, kind)
            lock.acquire(fcntl.LOCK_SH)
            try:
                if not (final / COMPLETE).is_file():
                    lock.release()
                    lock.acquire(fcntl.LOCK_EX)
                    if not (final / COMPLETE).is_file():
                        self._make(layer, layers[i - 1].chain_id if i else None, dirs, kind, final)
                        made.append(layer.chain_id)
                    lock.downgrade()
            except BaseException:
                lock.release()
                raise
            leases.append(lock)
            dirs.append(final / "fs")
        return dirs, made

    def _make(
        self, layer: _Layer, parent: Digest | None, below: list[Path], kind: _Kind, final: Path
    ) -> None:
        """Extract ``layer`` into a temp dir, mark it complete, rename it into place (lock held)."""

        def fill(tmp: Path) -> None:
            fs = tmp / "fs"
            if kind == "full":
                if below:
                    host.copy_tree(below[-1], fs, hardlink=True)
                else:
                    fs.mkdir()
                self._extract(layer, fs)
            elif not below:
                fs.mkdir()
                self._extract(layer, fs)
            else:
                fs.mkdir()
                (tmp / "work").mkdir()
                (tmp / "merged").mkdir()
                host.mount_overlay(
                    [self._rel(p) for p in reversed(below)],
                    tmp / "merged",
                    upper=fs,
                    work=tmp / "work",
                    cwd=self.root,
                )
                try:
                    self._extract(layer, tmp / "merged")
                finally:
                    host.unmount(tmp / "merged")
                host.remove_tree(tmp / "work")
                os.rmdir(tmp / "merged")

        marker = _marker(layer.chain_id, layer.diff_id, parent, layer.blob.digest, kind)
        self._write(layer.chain_id, final, marker, fill)

    def publish(
        self, chain: Digest, marker: dict[str, object], fill: Callable[[Path], None]
    ) -> bool:
        """Make the overlay-mode snapshot of ``chain`` with ``fill(fs_dir)`` unless it exists.

        Same protocol as :meth:`_make`: exclusive lock (not waited for: a
        holder is making or using it, so there is nothing to do), built in
        ``.tmp``, marked complete, renamed into place.  True if made now.
        """
        final = self.dir(chain, "diff")
        lock = self.lock(chain, "diff")
        if not lock.acquire(fcntl.LOCK_EX, wait=False):
            return False
        try:
            if (final / COMPLETE).is_file():
                return False
            self._write(chain, final, marker, lambda tmp: fill(tmp / "fs"))
            return True
        finally:
            lock.release()

    def _write(
        self,
        chain: Digest,
        final: Path,
        marker: dict[str, object],
        fill: Callable[[Path], None],
    ) -> None:
        """Build the snapshot ``final`` of ``chain`` in a fresh temp dir and rename it into place.

        The caller holds the snapshot's exclusive lock.  An incomplete leftover
        at ``final`` is removed first (never trusted); ``fill(tmp)`` makes
        ``tmp / "fs"``, which is synced before the ``COMPLETE`` marker is
        written; on any error the temp dir is removed.
        """
        if os.path.lexists(final):  # left by an older or interrupted writer: never trusted
            host.remove_tree(final)
        tmp, tmp_lock = self.new_tmp(f"{chain.hex[:16]}-")
        try:
            fill(tmp)
            host.syncfs(tmp / "fs")
            atomic_write_bytes(tmp / COMPLETE, json.dumps(marker, sort_keys=True).encode())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, final)
        except BaseException:
            with contextlib.suppress(Exception):
                host.remove_tree(tmp)
            raise
        finally:
            tmp_lock.release(unlink=True)

    def _rel(self, path: Path) -> str:
        """A lower dir relative to the snapshots root: short options fit more layers in a page."""
        return os.path.relpath(path, self.root)

    def _extract(self, layer: _Layer, target: Path) -> None:
        compression = mediatype.layer_compression(layer.blob.media_type)
        with self.store.blobs.open(layer.blob.digest) as fh:
            stats = extract_layer(
                fh,
                target,
                compression=compression,
                expected_diff_id=str(layer.diff_id),
                layer=str(layer.blob.digest),
            )
        for warning in stats.warnings:
            log.warning("%s", warning)


# --- snapshots a build step already has on disk ---------------------------------------


def _marker(
    chain: Digest, diff_id: Digest, parent: Digest | None, layer: Digest, kind: _Kind = "diff"
) -> dict[str, object]:
    """What a snapshot's ``COMPLETE`` file records about it."""
    return {
        "chainID": str(chain),
        "diffID": str(diff_id),
        "parent": str(parent) if parent else None,
        "layer": str(layer),
        "kind": kind,
    }


def snapshot_exists(store: Store, chain: Digest) -> bool:
    """Whether the overlay-mode snapshot of ``chain`` is complete."""
    return (_Cache(store).dir(chain, "diff") / COMPLETE).is_file()


def adopt_upper(
    store: Store,
    chain_id: Digest,
    parent: Digest | None,
    diff_id: Digest,
    layer_digest: Digest,
    upper_dir: Path,
    *,
    prepare: Callable[[Path], None] | None = None,
) -> bool:
    """Move an (unmounted) overlay upper dir into the cache as the snapshot of ``chain_id``.

    The upper dir of a step that ran on overlayfs holds exactly its layer's
    changes in overlay form, which is what an overlay-mode snapshot is, so
    the next step need not extract the layer it just wrote.  ``prepare``
    (called with ``upper_dir`` under the snapshot's lock, only when it is
    about to be adopted) may adjust it first, e.g. clamp mtimes as the layer
    did.  Does nothing when the snapshot exists or is being made; True if
    ``upper_dir`` became the snapshot (it is gone from its old place then).
    ``upper_dir`` must be on the store's filesystem (OSError otherwise).
    """

    def fill(fs: Path) -> None:
        if prepare is not None:
            prepare(upper_dir)
        os.rename(upper_dir, fs)

    return _Cache(store).publish(chain_id, _marker(chain_id, diff_id, parent, layer_digest), fill)


def clone_snapshot(
    store: Store,
    source_chain: Digest,
    chain: Digest,
    *,
    parent: Digest | None,
    diff_id: Digest,
    layer_digest: Digest,
) -> bool:
    """Make the snapshot of ``chain`` as hard links to the complete one of ``source_chain``.

    For a layer whose overlay diff is the same on two bases (the caller's
    promise).  Holds a shared lease on the source while linking; True if the
    snapshot was made now, False if the source is missing or ``chain`` exists.
    """
    cache = _Cache(store)
    src_lock = cache.lock(source_chain, "diff")
    src_lock.acquire(fcntl.LOCK_SH)
    try:
        src = cache.dir(source_chain, "diff")
        if not (src / COMPLETE).is_file():
            return False

        def fill(fs: Path) -> None:
            host.copy_tree(src / "fs", fs, hardlink=True)

        return cache.publish(chain, _marker(chain, diff_id, parent, layer_digest), fill)
    finally:
        src_lock.release()


# --- mode -------------------------------------------------------------------------


def overlay_available(store: Store) -> bool:
    """Whether overlay mounts work for this store (probed on its filesystem, once per process)."""
    return host.overlay_supported(snapshot_root(store) / _TMP)


def resolve_mode(store: Store, mode: SnapshotMode | Literal["auto"] | None = None) -> SnapshotMode:
    """The assembly mode: ``mode``, else ``$ANYARCH_SNAPSHOTTER``, else overlay where it works.

    Forcing ``overlay`` where it cannot be mounted is an error (exit 8)
    rather than a silent, much slower copy.
    """
    wanted = mode or os.environ.get(ENV_SNAPSHOTTER, "").strip().lower() or "auto"
    if wanted not in ("overlay", "copy", "auto"):
        raise InvalidInputError(
            f"{ENV_SNAPSHOTTER}={wanted!r} is not a snapshotter",
            hint=f"set {ENV_SNAPSHOTTER} to overlay, copy or auto",
        )
    if wanted == "copy":
        return "copy"
    ok = overlay_available(store)
    if wanted == "overlay" and not ok:
        raise OverlayUnavailableError(
            f"overlayfs cannot be mounted for the store at {store.root}",
            hint=f"run as root on ext4/xfs/btrfs/tmpfs, or set {ENV_SNAPSHOTTER}=copy",
        )
    return "overlay" if ok else "copy"


# --- writable rootfs -------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Mounted:
    """A writable rootfs made from an image's layers; call :meth:`cleanup` when done.

    ``rootfs`` is what a runtime runs in.  ``upper`` is the overlay upper dir,
    which *is* the diff of whatever ran (None in copy mode, where
    :meth:`changes` compares with a snapshot taken at prepare time).
    ``extracted`` names the chain IDs unpacked for this call (empty when the
    cache had them all).
    """

    rootfs: Path
    mode: SnapshotMode
    upper: Path | None
    dest: Path
    chain_ids: tuple[Digest, ...]
    extracted: tuple[Digest, ...]
    baseline: Snapshot | None = None
    _leases: list[_Lock] = dataclasses.field(default_factory=list, repr=False)
    _dest_lock: _Lock | None = dataclasses.field(default=None, repr=False)
    _remove_dest: bool = dataclasses.field(default=False, repr=False)
    _done: bool = dataclasses.field(default=False, repr=False)

    def changes(self) -> Iterator[Change]:
        """What changed in ``rootfs`` since it was prepared (for writing a layer)."""
        if self.upper is not None:
            return overlay_changes(self.upper)
        if self.baseline is None:
            raise ValueError("prepare_rootfs(..., track_changes=True) is needed for changes()")
        return tree_changes(self.baseline, self.rootfs)

    def cleanup(self) -> None:
        """Unmount, delete the rootfs (and upper/work), release the snapshot leases. Idempotent."""
        if self._done:
            return
        try:
            if self.mode == "overlay":
                host.unmount(self.rootfs)
            if self._remove_dest:
                host.remove_tree(self.dest)
            else:
                for name in ("rootfs", "upper", "work", "empty"):
                    host.remove_tree(self.dest / name)
        finally:
            self._done = True
            for lease in self._leases:
                lease.release()
            self._leases.clear()
            if self._dest_lock is not None:
                self._dest_lock.release(unlink=True)

    def __enter__(self) -> Mounted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def prepare_rootfs(
    store: Store,
    manifest: Manifest,
    config: ImageConfig,
    dest: Path | None = None,
    *,
    mode: SnapshotMode | Literal["auto"] | None = None,
    track_changes: bool = False,
) -> Mounted:
    """A writable rootfs of the image, from cached snapshots (unpacking what is missing).

    ``dest`` (created; must be empty if it exists) receives ``rootfs/`` and,
    in overlay mode, ``upper/`` and ``work/``; without it a scratch directory
    under the store is used and removed by :meth:`Mounted.cleanup`.
    ``mode`` overrides :func:`resolve_mode`.  ``track_changes`` records the
    tree in copy mode so :meth:`Mounted.changes` can diff it later.
    """
    layers = _layers(manifest, config)
    cache = _Cache(store)
    chosen = resolve_mode(store, mode)
    dest_lock: _Lock | None = None
    if dest is None:
        dest, dest_lock = cache.new_tmp("rootfs-")
        remove_dest = True
    else:
        remove_dest = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise InvalidInputError(
                f"cannot prepare a rootfs in {dest}: the directory is not empty",
                hint="pass a new or empty directory",
            )
    ids = tuple(layer.chain_id for layer in layers)
    try:
        try:
            if chosen == "overlay":
                return _prepare_overlay(cache, layers, dest, ids, dest_lock, remove_dest)
        except OverlayUnavailableError:
            if mode == "overlay" or os.environ.get(ENV_SNAPSHOTTER, "").lower() == "overlay":
                raise
            log.warning("overlayfs mount failed; assembling the rootfs by copying instead")
            for name in ("rootfs", "upper", "work", "empty"):
                host.remove_tree(dest / name)
        return _prepare_copy(cache, layers, dest, ids, dest_lock, remove_dest, track_changes)
    except BaseException:
        if remove_dest:
            with contextlib.suppress(Exception):
                host.remove_tree(dest)
        if dest_lock is not None:
            dest_lock.release(unlink=True)
        raise


def _prepare_overlay(
    cache: _Cache,
    layers: Sequence[_Layer],
    dest: Path,
    ids: tuple[Digest, ...],
    dest_lock: _Lock | None,
    remove_dest: bool,
) -> Mounted:
    leases: list[_Lock] = []
    try:
        dirs, made = cache.ensure(layers, "diff", leases)
        lowers = [cache._rel(p) for p in reversed(dirs)]
        if not lowers:  # an image without layers: overlay still needs one lower dir
            (dest / "empty").mkdir()
            lowers = [str(dest / "empty")]
        for name in ("rootfs", "upper", "work"):
            (dest / name).mkdir()
        host.mount_overlay(
            lowers, dest / "rootfs", upper=dest / "upper", work=dest / "work", cwd=cache.root
        )
    except BaseException:
        for lease in leases:
            lease.release()
        raise
    return Mounted(
        rootfs=dest / "rootfs",
        mode="overlay",
        upper=dest / "upper",
        dest=dest,
        chain_ids=ids,
        extracted=tuple(made),
        _leases=leases,
        _dest_lock=dest_lock,
        _remove_dest=remove_dest,
    )


def _prepare_copy(
    cache: _Cache,
    layers: Sequence[_Layer],
    dest: Path,
    ids: tuple[Digest, ...],
    dest_lock: _Lock | None,
    remove_dest: bool,
    track_changes: bool,
) -> Mounted:
    leases: list[_Lock] = []
    try:
        dirs, made = cache.ensure(layers, "full", leases)
        if dirs:
            host.copy_tree(dirs[-1], dest / "rootfs")
        else:
            (dest / "rootfs").mkdir()
    finally:  # the copy stands alone: the cache entries may go
        for lease in leases:
            lease.release()
    baseline = Snapshot.take(dest / "rootfs") if track_changes else None
    return Mounted(
        rootfs=dest / "rootfs",
        mode="copy",
        upper=None,
        dest=dest,
        chain_ids=ids,
        extracted=tuple(made),
        baseline=baseline,
        _dest_lock=dest_lock,
        _remove_dest=remove_dest,
    )


# --- gc -----------------------------------------------------------------------------


def referenced_chain_ids(store: Store) -> set[Digest]:
    """Chain IDs of every layer prefix of every image the store names."""
    live: set[Digest] = set()
    seen: set[Digest] = set()
    for entry in store.entries():
        for desc in store.walk(entry.descriptor):
            if desc.digest in seen or not mediatype.is_manifest(desc.media_type):
                continue
            seen.add(desc.digest)
            if not store.blobs.has(desc.digest):
                continue
            doc = store.document(desc)
            if not isinstance(doc, Manifest) or not store.blobs.has(doc.config.digest):
                continue
            try:
                config = store.config(doc)
            except InvalidDocumentError:  # an artifact whose config is not an image config
                continue
            live.update(chain_ids(config.diff_ids))
    return live


def _snapshot_dirs(root: Path) -> Iterator[Path]:
    for base in (root, root / _FULL):
        if not base.is_dir():
            continue
        for p in sorted(base.iterdir()):
            if len(p.name) == 64 and all(c in "0123456789abcdef" for c in p.name):
                yield p


def unreferenced_snapshots(store: Store, keep: Iterable[Digest | str] = ()) -> list[Path]:
    """Snapshot directories (both kinds) that no stored image (and nothing in ``keep``) needs.

    The gc hook: pass the result to :func:`remove_snapshots`, which skips
    the ones a running ``anyarch run`` or build still uses.  ``keep`` is for
    chain IDs the build cache wants to survive.
    """
    live = {d.hex for d in referenced_chain_ids(store)}
    live.update(k.hex if isinstance(k, Digest) else Digest.parse(k).hex for k in keep)
    return [p for p in _snapshot_dirs(snapshot_root(store)) if p.name not in live]


def remove_snapshots(store: Store, paths: Iterable[Path]) -> list[Path]:
    """Delete snapshot directories that nobody holds a lease on; returns those removed."""
    cache = _Cache(store)
    removed: list[Path] = []
    for path in paths:
        kind: _Kind = "full" if path.parent.name == _FULL else "diff"
        chain = Digest.parse(f"sha256:{path.name}")
        lock = cache.lock(chain, kind)
        if not lock.acquire(fcntl.LOCK_EX, wait=False):
            continue  # in use
        try:
            if not os.path.lexists(path):
                continue
            trash = Path(tempfile.mkdtemp(prefix="trash-", dir=cache.tmp))
            os.rename(path, trash / "x")
            host.remove_tree(trash)
            removed.append(path)
        finally:
            lock.release(unlink=True)
    return removed


def sweep_leftovers(store: Store) -> int:
    """Remove temp and scratch dirs of dead processes (unmounting what they left); returns a count.

    Each ``.tmp/X`` has a lock file ``.tmp/X.lock`` its owner holds until it
    is done; a lock we can take means the owner is gone.
    """
    tmp = snapshot_root(store) / _TMP
    if not tmp.is_dir():
        return 0
    count = 0
    for p in sorted(tmp.iterdir()):
        if p.name.endswith(".lock"):
            if not os.path.lexists(p.with_name(p.name[: -len(".lock")])):
                lock = _Lock(p)
                if lock.acquire(fcntl.LOCK_EX, wait=False):
                    lock.release(unlink=True)
            continue
        if p.name.startswith("probe-") and time.time() - p.lstat().st_mtime < _PROBE_GRACE:
            continue  # an overlay probe in progress (see rootfs.overlay_supported)
        lock = _Lock(p.with_name(p.name + ".lock"))
        if not lock.acquire(fcntl.LOCK_EX, wait=False):
            continue
        try:
            host.remove_tree(p)
            count += 1
        except OSError as e:
            if e.errno != errno.ENOENT:
                log.warning("cannot remove %s: %s", p, e)
        finally:
            lock.release(unlink=True)
    return count
