"""The filesystem of a build step: base-image layers plus the layers of earlier steps.

A build step starts from the filesystem its ``base`` step produced.  That
filesystem is a list of layers -- the base image's, then one per earlier
RUN/COPY/ADD/WORKDIR of the chain that changed something -- so it is
described here as an :class:`FsState` (layer descriptors and diff IDs), and
made concrete on demand with the snapshot cache
(:func:`anyarch.build.snapshots.prepare_rootfs`): every prefix of the list is
a chain ID, unpacked once per store and shared by every step, platform and
build that stacks the same layers.

:func:`open_rootfs` hands the snapshotter a synthetic single-platform image
(a manifest and a config that exist only in memory) for the state; the step's
layer blobs must already be in the store, which the executor guarantees by
writing each layer there before its state is used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from anyarch._util import canonjson
from anyarch.build.snapshots import Mounted, chain_ids, prepare_rootfs, resolve_mode
from anyarch.build.steps_snapshots import clone, exists
from anyarch.oci import Descriptor, Digest, ImageConfig, Manifest, mediatype
from anyarch.oci.platform import Platform
from anyarch.store import Store

__all__ = ["FsState", "LayerRef", "StepStamp", "open_rootfs"]


@dataclasses.dataclass(frozen=True, slots=True)
class LayerRef:
    """A layer blob in the store: its (compressed) descriptor and its diff ID."""

    descriptor: Descriptor
    diff_id: Digest


@dataclasses.dataclass(frozen=True, slots=True)
class StepStamp:
    """What one layer step of this build contributed: when it first ran, and whether it made a layer.

    ``created`` is an RFC 3339 time (the cache keeps it, so a cached step
    keeps the time it really ran and a warm rebuild gives the same image).
    """

    created: str
    layer: bool


@dataclasses.dataclass(frozen=True, slots=True)
class FsState:
    """A root filesystem as the list of layers that make it.

    ``base_layers`` is how many of ``layers`` come from the base image
    (the rest were written by this build); ``stamps`` has one entry per layer
    step of the chain after the base image (steps that changed nothing have
    ``layer=False`` and add no layer).  ``local_dir`` marks a named build
    context that is a host directory (``--build-context name=DIR``): it is
    read (``COPY --from``, ``RUN --mount from=``) in place, never a rootfs.
    """

    layers: tuple[LayerRef, ...] = ()
    base_layers: int = 0
    stamps: tuple[StepStamp, ...] = ()
    local_dir: Path | None = None
    local_name: str = ""

    def plus(self, layer: LayerRef | None, created: str) -> FsState:
        """The state after one more layer step (``layer`` None: the step changed nothing)."""
        layers = self.layers if layer is None else (*self.layers, layer)
        return FsState(
            layers, self.base_layers, (*self.stamps, StepStamp(created, layer is not None))
        )

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        """The diff IDs, bottom layer first (``rootfs.diff_ids`` of an image of this state)."""
        return tuple(layer.diff_id for layer in self.layers)

    @property
    def chain_id(self) -> Digest | None:
        """The chain ID of the whole stack (None when there are no layers)."""
        ids = chain_ids(self.diff_ids)
        return ids[-1] if ids else None


def synthetic_image(state: FsState, platform: Platform) -> tuple[Manifest, ImageConfig]:
    """An in-memory manifest and config whose layers are ``state``'s (for the snapshotter)."""
    config = ImageConfig.build(
        architecture=platform.architecture or "amd64",
        os=platform.os or "linux",
        variant=platform.variant or None,
        diff_ids=state.diff_ids,
    )
    raw = canonjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatype.OCI_MANIFEST,
            "config": config.descriptor().to_json(),
            "layers": [layer.descriptor.to_json() for layer in state.layers],
        }
    )
    return Manifest.from_bytes(raw, mediatype.OCI_MANIFEST), config


def _seed_clones(store: Store, state: FsState, clones: Mapping[str, str]) -> None:
    """Make missing snapshots that are hard-link clones of an equivalent one (overlay mode)."""
    if not clones or resolve_mode(store) != "overlay":
        return
    ids = chain_ids(state.diff_ids)
    for i, chain in enumerate(ids):
        source = clones.get(str(chain))
        if source is None or exists(store, chain):
            continue
        layer = state.layers[i]
        clone(
            store,
            Digest.parse(source),
            chain=chain,
            parent=ids[i - 1] if i else None,
            diff_id=layer.diff_id,
            layer=layer.descriptor.digest,
        )


def open_rootfs(
    store: Store,
    state: FsState,
    platform: Platform,
    dest: Path | None = None,
    *,
    clones: Mapping[str, str] | None = None,
) -> Mounted:
    """A writable rootfs of ``state`` whose :meth:`~Mounted.changes` is the step's diff.

    Overlay where it works (the upper dir is the diff), else a copy with a
    snapshot of the tree taken now.  ``clones`` maps chain IDs to equivalent
    ones whose snapshot can be hard-linked instead of extracting the layer
    (see :mod:`anyarch.build.steps_snapshots`).  Call ``cleanup()`` (or use ``with``).
    """
    if clones:
        _seed_clones(store, state, clones)
    manifest, config = synthetic_image(state, platform)
    return prepare_rootfs(store, manifest, config, dest, track_changes=True)
