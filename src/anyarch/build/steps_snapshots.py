"""Seed the chain-ID snapshot cache with what a build step already has on disk.

The snapshotter (:mod:`anyarch.build.snapshots`) makes the snapshot of a
layer by extracting its blob.  A build step that just ran on overlayfs has
that snapshot already: its overlay *upper* directory is exactly the layer's
changes in overlay form (whiteouts as 0/0 character devices, opaque
directories marked), which is what an overlay-mode snapshot directory holds.
Extracting the freshly written layer again for the next step would write
every file a second time; on a filesystem where creating a file costs a few
hundred microseconds that doubles the cost of a big COPY.

* :func:`adopt` moves a step's upper directory into the cache as the
  snapshot of its chain ID (after making it match the layer: mtimes clamped
  to ``SOURCE_DATE_EPOCH`` like the layer's, mount-point directories the
  layer left out removed).
* :func:`clone` makes the snapshot of one chain from another's with hard
  links (``cp -al``): for a COPY layer that is the same on two bases (the
  solver checks that the destination looks the same in both), its overlay
  diff is the same too.

Both publish the way the snapshotter does -- built in ``.tmp`` under the
snapshot's exclusive lock, marked complete, renamed into place -- and do
nothing when the snapshot exists already.  This module reaches into the
snapshotter's private layout; ``snapshots.py`` should offer these two
operations itself (see the build report).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from anyarch._util.fs import atomic_write_bytes
from anyarch.build import rootfs as host
from anyarch.build import snapshots
from anyarch.oci import Digest
from anyarch.store import Store

__all__ = ["adopt", "clone", "exists"]

log = logging.getLogger(__name__)


def exists(store: Store, chain: Digest) -> bool:
    """Whether the overlay-mode snapshot of ``chain`` is complete."""
    cache = snapshots._Cache(store)
    return (cache.dir(chain, "diff") / snapshots.COMPLETE).is_file()


def _clamp(root: Path, epoch: int) -> None:
    limit = epoch * 1_000_000_000
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if st.st_mtime_ns > limit:
                os.utime(path, ns=(min(st.st_atime_ns, limit), limit), follow_symlinks=False)
    st = os.lstat(root)
    if st.st_mtime_ns > limit:
        os.utime(root, ns=(min(st.st_atime_ns, limit), limit))


def _publish(
    store: Store,
    chain: Digest,
    marker: dict[str, object],
    fill: object,
) -> bool:
    """Create the snapshot of ``chain`` with ``fill(fs_dir)`` unless it exists; True if made."""
    cache = snapshots._Cache(store)
    final = cache.dir(chain, "diff")
    lock = cache.lock(chain, "diff")
    if not lock.acquire(fcntl.LOCK_EX, wait=False):
        return False  # someone else is making or using it
    try:
        if (final / snapshots.COMPLETE).is_file():
            return False
        if os.path.lexists(final):
            host.remove_tree(final)
        tmp, tmp_lock = cache.new_tmp(f"{chain.hex[:16]}-")
        try:
            fs = tmp / "fs"
            fill(fs)  # type: ignore[operator]
            host.syncfs(fs)
            atomic_write_bytes(
                tmp / snapshots.COMPLETE, json.dumps(marker, sort_keys=True).encode()
            )
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, final)
        except BaseException:
            with contextlib.suppress(Exception):
                host.remove_tree(tmp)
            raise
        finally:
            tmp_lock.release(unlink=True)
        return True
    finally:
        lock.release()


def _marker(
    chain: Digest, diff_id: Digest, parent: Digest | None, layer: Digest
) -> dict[str, object]:
    return {
        "chainID": str(chain),
        "diffID": str(diff_id),
        "parent": str(parent) if parent else None,
        "layer": str(layer),
        "kind": "diff",
    }


def adopt(
    store: Store,
    upper: Path,
    *,
    chain: Digest,
    parent: Digest | None,
    diff_id: Digest,
    layer: Digest,
    epoch: int | None,
    dropped: Iterable[str] = (),
) -> bool:
    """Move ``upper`` (unmounted) into the cache as the snapshot of ``chain``; True if it was used.

    ``dropped`` are paths the layer left out (empty mount-point parents):
    they are removed from the upper dir when empty, so the snapshot shows
    the lower layers' versions, as an extracted layer would.
    """
    for rel in sorted(dropped, key=lambda p: -p.count("/")):
        with contextlib.suppress(OSError):
            os.rmdir(upper / rel)

    def fill(fs: Path) -> None:
        if epoch is not None:
            _clamp(upper, epoch)
        os.rename(upper, fs)

    try:
        return _publish(store, chain, _marker(chain, diff_id, parent, layer), fill)
    except OSError as exc:  # e.g. a store on another filesystem than the work dir
        log.debug("could not adopt %s as snapshot %s: %s", upper, chain, exc)
        return False


def clone(
    store: Store,
    source: Digest,
    *,
    chain: Digest,
    parent: Digest | None,
    diff_id: Digest,
    layer: Digest,
) -> bool:
    """Make the snapshot of ``chain`` as hard links to the one of ``source`` (same layer diff)."""
    cache = snapshots._Cache(store)
    src_lock = cache.lock(source, "diff")
    src_lock.acquire(fcntl.LOCK_SH)
    try:
        src = cache.dir(source, "diff")
        if not (src / snapshots.COMPLETE).is_file():
            return False

        def fill(fs: Path) -> None:
            host.copy_tree(src / "fs", fs, hardlink=True)

        return _publish(store, chain, _marker(chain, diff_id, parent, layer), fill)
    finally:
        src_lock.release()
