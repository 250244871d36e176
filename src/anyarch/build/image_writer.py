"""Write what a build made: image configs, manifests and indexes, and filesystem outputs.

The image config is the one docker writes for a BuildKit build: the plan's
runtime config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts,
Volumes, Labels, StopSignal, Healthcheck, Shell, OnBuild), the base image's
history followed by one entry per instruction (``empty_layer`` for those that
made no layer), ``rootfs.diff_ids`` of every layer, ``created``, and the
os/architecture/variant of the target platform.  Timestamps are
``SOURCE_DATE_EPOCH`` when it is set; otherwise each history entry gets the
time its step first ran (kept in the build cache), so rebuilding without
changes gives the same config, hence the same image digest.

Documents are canonical JSON (sorted keys, no whitespace), OCI media types by
default or Docker's (``--index-format docker``, ``type=docker`` output).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from anyarch._util import canonjson
from anyarch.archive.diff import Change, ChangeKind, write_diff_layer
from anyarch.archive.extract import extract_layer
from anyarch.build.steps_fs import FsState
from anyarch.errors import BuildError
from anyarch.oci import Descriptor, ImageConfig, Manifest, created_at, mediatype
from anyarch.oci.platform import Platform
from anyarch.plan import PlatformPlan
from anyarch.store import Store

__all__ = [
    "ImageDocuments",
    "export_filesystem",
    "image_config_json",
    "write_image",
    "write_index",
]

_TO_OCI = {
    mediatype.DOCKER_LAYER: mediatype.OCI_LAYER_GZIP,
    mediatype.DOCKER_LAYER_TAR: mediatype.OCI_LAYER,
    mediatype.DOCKER_LAYER_ZSTD: mediatype.OCI_LAYER_ZSTD,
}
_TO_DOCKER = {v: k for k, v in _TO_OCI.items()}


class ImageDocuments:
    """The config and manifest written for one platform (and the manifest's descriptor)."""

    def __init__(self, config: ImageConfig, manifest: Manifest, descriptor: Descriptor) -> None:
        self.config = config
        self.manifest = manifest
        self.descriptor = descriptor


def _history(
    plan: PlatformPlan,
    state: FsState,
    base_config: ImageConfig | None,
    epoch: int | None,
    now: str,
) -> tuple[list[dict[str, Any]], str]:
    """History entries (base image's first) and the config's ``created``."""
    base_hist: list[dict[str, Any]] = []
    if base_config is not None:
        raw = base_config.to_json().get("history") or []
        base_hist = [dict(h) for h in raw if isinstance(h, dict)]
    planned = plan.image_config.history
    new = list(planned[len(base_hist) :]) if len(planned) >= len(base_hist) else list(planned)
    stamps = list(state.stamps)
    fixed = created_at(epoch) if epoch is not None else None
    last = fixed or (stamps[0].created if stamps else now)
    out = []
    for entry in new:
        doc = entry.to_json()
        empty = entry.empty_layer
        if not entry.empty_layer and stamps:
            stamp = stamps.pop(0)
            last = fixed or stamp.created
            empty = not stamp.layer
        doc["created"] = fixed or last
        if empty:
            doc["empty_layer"] = True
        else:
            doc.pop("empty_layer", None)
        out.append(doc)
    created = fixed or (max((h["created"] for h in out), default=None) if out else None) or now
    return base_hist + out, created


def image_config_json(
    plan: PlatformPlan,
    state: FsState,
    base_config: ImageConfig | None,
    *,
    epoch: int | None,
    now: str,
) -> bytes:
    """The image config document for ``plan``'s target with the layers of ``state``."""
    platform = plan.platform
    history, created = _history(plan, state, base_config, epoch, now)
    doc: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": plan.image_config.to_json(),
        "created": created,
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": [str(d) for d in state.diff_ids]},
    }
    if platform.variant:
        doc["variant"] = platform.variant
    if platform.os_version:
        doc["os.version"] = platform.os_version
    if plan.image_config.author:
        doc["author"] = plan.image_config.author
    return canonjson.dumps(doc)


def _layer_descriptor(desc: Descriptor, docker: bool) -> dict[str, Any]:
    media = desc.media_type
    media = _TO_DOCKER.get(media, media) if docker else _TO_OCI.get(media, media)
    return {"mediaType": media, "digest": str(desc.digest), "size": desc.size}


def write_image(
    store: Store,
    plan: PlatformPlan,
    state: FsState,
    base_config: ImageConfig | None,
    *,
    epoch: int | None,
    now: str,
    docker: bool = False,
) -> ImageDocuments:
    """Store the config and manifest of one platform's image; returns them."""
    config_raw = image_config_json(plan, state, base_config, epoch=epoch, now=now)
    config = ImageConfig.from_bytes(config_raw)
    config_media = mediatype.DOCKER_CONFIG if docker else mediatype.OCI_CONFIG
    manifest_media = mediatype.DOCKER_MANIFEST if docker else mediatype.OCI_MANIFEST
    store.blobs.put(config_raw)
    doc = {
        "schemaVersion": 2,
        "mediaType": manifest_media,
        "config": {"mediaType": config_media, "digest": str(config.digest), "size": config.size},
        "layers": [_layer_descriptor(layer.descriptor, docker) for layer in state.layers],
    }
    raw = canonjson.dumps(doc)
    manifest = Manifest.from_bytes(raw, manifest_media)
    store.blobs.put(raw)
    descriptor = Descriptor(manifest_media, manifest.digest, manifest.size, platform=plan.platform)
    return ImageDocuments(config, manifest, descriptor)


def write_index(
    store: Store, manifests: Sequence[Descriptor], *, docker: bool = False
) -> Descriptor:
    """Store an index (or Docker manifest list) of per-platform manifests; returns its descriptor."""
    media = mediatype.DOCKER_MANIFEST_LIST if docker else mediatype.OCI_INDEX
    entries = []
    for d in manifests:
        entry: dict[str, Any] = {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}
        if d.platform is not None:
            entry["platform"] = d.platform.to_json()
        entries.append(entry)
    raw = canonjson.dumps({"schemaVersion": 2, "mediaType": media, "manifests": entries})
    digest = store.blobs.put(raw)
    return Descriptor(media, digest, len(raw))


# --- filesystem outputs (type=local, type=tar) ------------------------------------------


def _unpack_state(store: Store, state: FsState, dest: Path) -> None:
    for layer in state.layers:
        compression = mediatype.layer_compression(layer.descriptor.media_type)
        with store.blobs.open(layer.descriptor.digest) as fh:
            extract_layer(
                fh,
                dest,
                compression=compression,
                expected_diff_id=str(layer.diff_id),
                layer=str(layer.descriptor.digest),
            )


def _all_paths(root: Path) -> Iterator[Change]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            yield Change(rel, ChangeKind.ADD)


def export_filesystem(
    store: Store,
    states: Sequence[tuple[Platform, FsState]],
    dest: Path | None,
    *,
    as_tar: bool,
    epoch: int | None,
    stream: IO[bytes] | None = None,
    work: Path,
) -> None:
    """``--output type=local,dest=DIR`` / ``type=tar,dest=FILE``: the image's files, not layers.

    With several platforms each gets a subdirectory ``os_arch[_variant]``
    (as buildx names them).  ``stream`` (``dest=-``) receives the tar instead of a file.
    """
    multi = len(states) > 1
    with tempfile.TemporaryDirectory(prefix="export-", dir=work) as tmp:
        staging = Path(tmp) / "fs"
        staging.mkdir()
        for platform, state in states:
            sub = staging
            if multi:
                name = "_".join(
                    p for p in (platform.os, platform.architecture, platform.variant) if p
                )
                sub = staging / name
                sub.mkdir()
            _unpack_state(store, state, sub)
        if not as_tar:
            assert dest is not None
            dest.mkdir(parents=True, exist_ok=True)
            for entry in sorted(staging.iterdir()):
                target = dest / entry.name
                if target.exists() or target.is_symlink():
                    raise BuildError(
                        f"--output type=local: {target} already exists",
                        hint="write into an empty or new directory",
                    )
                os.rename(entry, target)
            return
        if stream is not None:
            write_diff_layer(
                _all_paths(staging), staging, stream, compression=None, clamp_mtime=epoch
            )
            stream.flush()
            return
        assert dest is not None
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write_diff_layer(
                    _all_paths(staging), staging, fh, compression=None, clamp_mtime=epoch
                )
            os.replace(partial, dest)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
