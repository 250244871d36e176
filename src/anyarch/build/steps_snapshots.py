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

Both use the snapshotter's own publishing (:func:`snapshots.adopt_upper`,
:func:`snapshots.clone_snapshot`: built under the snapshot's exclusive lock,
marked complete, renamed into place) and do nothing when the snapshot exists
already; this module adds only what is about build steps (the layer's mtime
clamp and dropped mount points).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from anyarch.build import snapshots
from anyarch.oci import Digest
from anyarch.store import Store

__all__ = ["adopt", "clone", "exists"]

log = logging.getLogger(__name__)


def exists(store: Store, chain: Digest) -> bool:
    """Whether the overlay-mode snapshot of ``chain`` is complete."""
    return snapshots.snapshot_exists(store, chain)


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

    def prepare(upper_dir: Path) -> None:
        if epoch is not None:
            _clamp(upper_dir, epoch)

    try:
        return snapshots.adopt_upper(store, chain, parent, diff_id, layer, upper, prepare=prepare)
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
    return snapshots.clone_snapshot(
        store, source, chain, parent=parent, diff_id=diff_id, layer_digest=layer
    )
