"""One copy routine for every source/destination pair.

A source can hand out blobs by descriptor; a sink can say whether it has a
blob and accept one.  :func:`copy_image` walks an image or index graph from
its root, copies only what the sink lacks (in parallel), and writes every
manifest *after* the blobs it references, so a reader never sees a dangling
manifest.  Everything read is verified against its digest on the way in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Protocol

from anyarch.errors import DigestMismatchError, InvalidDocumentError
from anyarch.oci import Descriptor, Digest, Index, Manifest, mediatype, parse_document
from anyarch.oci.platform import Platform, only
from anyarch.store.layout import Layout


class Source(Protocol):
    """Where content comes from."""

    def open_blob(self, desc: Descriptor) -> IO[bytes]: ...


class Sink(Protocol):
    """Where content goes."""

    def has_blob(self, desc: Descriptor) -> bool: ...

    def write_blob(self, desc: Descriptor, src: IO[bytes]) -> None: ...


class LayoutEndpoint:
    """An OCI image layout directory (the store is one) as a source and a sink.

    As a sink it remembers what it added, so a failed copy can be rolled back
    and leave the layout exactly as it was.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.added: list[Digest] = []
        self._lock = threading.Lock()

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        return self.layout.blobs.open(desc.digest)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.layout.blobs.has(desc.digest)

    def write_blob(self, desc: Descriptor, src: IO[bytes]) -> None:
        existed = self.layout.blobs.has(desc.digest)
        self.layout.blobs.put_stream(src, desc.digest, desc.size)
        if not existed:
            with self._lock:
                self.added.append(desc.digest)

    def rollback(self) -> None:
        for d in self.added:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.layout.blobs.path(d))
        self.added.clear()


@dataclasses.dataclass
class CopyStats:
    """What a copy did, for progress output and benchmarks."""

    blobs_copied: int = 0
    bytes_copied: int = 0
    blobs_skipped: int = 0


def read_document(src: Source, desc: Descriptor) -> Manifest | Index:
    """Fetch a manifest or index from ``src`` and verify it against ``desc``."""
    with src.open_blob(desc) as fh:
        raw = fh.read(4 * 1024 * 1024 + 1)
    if len(raw) > 4 * 1024 * 1024:
        raise InvalidDocumentError(
            f"manifest {desc.digest} is larger than 4 MiB", hint="registries refuse such manifests"
        )
    got = Digest.of(raw, desc.digest.algorithm)
    if got != desc.digest:
        raise DigestMismatchError(
            f"manifest {desc.digest} hashes to {got}; refusing it",
            hint="the source is corrupt or was modified",
        )
    return parse_document(raw, desc.media_type)


def filter_index(index: Index, platforms: Sequence[Platform]) -> list[Descriptor]:
    """Entries of ``index`` that match any of ``platforms`` (best match per platform)."""
    keep: list[Descriptor] = []
    for p in platforms:
        m = only(p)
        hits = [d for d in index.manifests if d.platform is not None and m.match(d.platform)]
        if hits:
            ordered = sorted(hits, key=lambda d: 0 if _exact(d.platform, p) else 1)
            if ordered[0] not in keep:
                keep.append(ordered[0])
    return keep


def _exact(have: Platform | None, want: Platform) -> bool:
    return have is not None and (have.os, have.architecture, have.variant) == (
        want.os,
        want.architecture,
        want.variant,
    )


def copy_image(
    src: Source,
    dst: Sink,
    root: Descriptor,
    *,
    jobs: int = 4,
    on_blob: Callable[[Descriptor, bool], None] | None = None,
) -> CopyStats:
    """Copy ``root`` and everything it references from ``src`` to ``dst``."""
    stats = CopyStats()
    lock = threading.Lock()
    docs: list[tuple[Descriptor, Manifest | Index]] = []
    blobs: dict[Digest, Descriptor] = {}

    def gather(desc: Descriptor) -> None:
        doc = read_document(src, desc)
        if isinstance(doc, Index):
            for child in doc.manifests:
                if mediatype.is_index(child.media_type) or mediatype.is_manifest(child.media_type):
                    gather(child)
                else:
                    blobs.setdefault(child.digest, child)
        else:
            blobs.setdefault(doc.config.digest, doc.config)
            for layer in doc.layers:
                if layer.urls and mediatype.is_foreign(layer.media_type):
                    continue  # non-distributable: referenced, never copied
                blobs.setdefault(layer.digest, layer)
        docs.append((desc, doc))

    gather(root)

    def copy_one(desc: Descriptor) -> None:
        if dst.has_blob(desc):
            with lock:
                stats.blobs_skipped += 1
            if on_blob:
                on_blob(desc, False)
            return
        with src.open_blob(desc) as fh:
            dst.write_blob(desc, fh)
        with lock:
            stats.blobs_copied += 1
            stats.bytes_copied += desc.size
        if on_blob:
            on_blob(desc, True)

    todo = list(blobs.values())
    if jobs > 1 and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for _ in pool.map(copy_one, todo):
                pass
    else:
        for d in todo:
            copy_one(d)
    # children were appended before parents: write in that order
    for desc, doc in docs:
        if not dst.has_blob(desc):
            dst.write_blob(desc, io.BytesIO(doc.raw))
            with lock:
                stats.blobs_copied += 1
                stats.bytes_copied += desc.size
    return stats


@contextlib.contextmanager
def transaction(dst: LayoutEndpoint) -> Iterator[LayoutEndpoint]:
    """Roll back every blob ``dst`` gained if the block fails."""
    with dst.layout.writing():
        try:
            yield dst
        except BaseException:
            dst.rollback()
            raise
