"""One copy routine for every source/destination pair.

Endpoints are the local store, an OCI layout directory, and a repository in a
registry.  :func:`copy_image` walks an image or index graph from its root,
copies only the blobs the destination lacks (several at a time, mounting
across repositories of the same registry instead of uploading), and writes
every manifest *after* the blobs it references, so a reader never sees a
dangling manifest.  Everything read is verified against its digest on the way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import IO, TYPE_CHECKING, Protocol

from anyarch._util.tasks import Task, TaskGroup
from anyarch.errors import DigestMismatchError, InvalidDocumentError, PlatformNotFoundError
from anyarch.oci import (
    MAX_MANIFEST_SIZE,
    Descriptor,
    Digest,
    Index,
    Manifest,
    mediatype,
    parse_document,
)
from anyarch.oci.platform import Platform, format_all, only

if TYPE_CHECKING:  # the HTTP stack and the store load only when a command needs them
    from anyarch.registry import RegistryClient
    from anyarch.store.layout import Layout

Opener = Callable[[], IO[bytes]]


class Source(Protocol):
    """Where content comes from.

    ``verifies_content`` is True when ``open_blob`` streams fail on a digest
    mismatch before their end (a registry download does): a sink may then
    skip hashing the bytes a second time.
    """

    verifies_content: bool

    def open_blob(self, desc: Descriptor) -> IO[bytes]: ...

    def read_manifest(self, desc: Descriptor) -> bytes: ...


class Sink(Protocol):
    """Where content goes."""

    def has_blob(self, desc: Descriptor) -> bool: ...

    def write_blob(self, desc: Descriptor, opener: Opener, *, verified: bool = False) -> None: ...

    def write_manifest(self, desc: Descriptor, raw: bytes) -> None: ...


class LayoutEndpoint:
    """An OCI image layout directory (the store is one) as a source and a sink.

    As a sink it remembers what it added, so a failed copy can be rolled back
    and leave the layout exactly as it was.
    """

    verifies_content = False  # files on disk may have been damaged: hash what is read

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.added: list[Digest] = []
        self._lock = threading.Lock()

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        return self.layout.blobs.open(desc.digest)

    def read_manifest(self, desc: Descriptor) -> bytes:
        with self.layout.blobs.open(desc.digest) as fh:
            return fh.read(MAX_MANIFEST_SIZE + 1)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.layout.blobs.has(desc.digest)

    def write_blob(self, desc: Descriptor, opener: Opener, *, verified: bool = False) -> None:
        existed = self.layout.blobs.has(desc.digest)
        with opener() as src:
            self.layout.blobs.put_stream(src, desc.digest, desc.size, verified=verified)
        if not existed:
            with self._lock:
                self.added.append(desc.digest)

    def write_manifest(self, desc: Descriptor, raw: bytes) -> None:
        self.write_blob(desc, lambda: io.BytesIO(raw))

    def rollback(self) -> None:
        for d in self.added:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.layout.blobs.path(d))
        self.added.clear()


class RegistryEndpoint:
    """One repository of a registry as a source and a sink."""

    verifies_content = True  # BlobReader checks the digest while streaming

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository

    @property
    def registry(self) -> str:
        return self.client.registry

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        return self.client.open_blob(self.repository, desc.digest, size=desc.size)  # type: ignore[return-value]

    def read_manifest(self, desc: Descriptor) -> bytes:
        return self.client.get_manifest(self.repository, desc.digest).raw

    def has_blob(self, desc: Descriptor) -> bool:
        if _is_document(desc):
            return self.client.head_manifest(self.repository, desc.digest) is not None
        return self.client.blob_exists(self.repository, desc.digest) is not None

    def write_blob(self, desc: Descriptor, opener: Opener, *, verified: bool = False) -> None:
        self.client.put_blob(self.repository, desc.digest, desc.size, opener)

    def mount_or_upload(self, desc: Descriptor, from_repository: str, opener: Opener) -> bool:
        """Mount from ``from_repository``; upload in the same session if refused. True if mounted."""
        if self.client.mount_blob(self.repository, desc.digest, from_repository):
            return True
        self.client.put_blob(self.repository, desc.digest, desc.size, opener)
        return False

    def try_mount(self, desc: Descriptor, from_repositories: Sequence[str]) -> bool:
        """Mount from the first of ``from_repositories`` that has the blob; False if none did."""
        return any(self.client.mount_blob(self.repository, desc.digest, r) for r in from_repositories)

    def write_manifest(self, desc: Descriptor, raw: bytes) -> None:
        self.client.put_manifest(self.repository, desc.digest, raw, desc.media_type)

    def tag(self, tag: str, desc: Descriptor, raw: bytes) -> None:
        self.client.put_manifest(self.repository, tag, raw, desc.media_type)


#: Repositories tried per blob before uploading it: each refusal costs a round trip.
_MAX_MOUNT_TRIES = 2


def _is_document(desc: Descriptor) -> bool:
    return mediatype.is_index(desc.media_type) or mediatype.is_manifest(desc.media_type)


@dataclasses.dataclass
class CopyStats:
    """What a copy did, for progress output and benchmarks."""

    blobs_copied: int = 0
    bytes_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    manifests: int = 0


class Progress(Protocol):
    """Receives transfer events (the CLI renders them as bars, lines or JSON)."""

    def blob_start(self, desc: Descriptor) -> None: ...

    def blob_bytes(self, desc: Descriptor, n: int) -> None: ...

    def blob_done(self, desc: Descriptor, how: str) -> None: ...  # copied|exists|mounted


class NoProgress:
    def blob_start(self, desc: Descriptor) -> None:
        return None

    def blob_bytes(self, desc: Descriptor, n: int) -> None:
        return None

    def blob_done(self, desc: Descriptor, how: str) -> None:
        return None


class _Counting(io.RawIOBase):
    """Wraps a reader to report bytes as they pass (for progress bars)."""

    def __init__(self, inner: IO[bytes], report: Callable[[int], None]) -> None:
        self._inner = inner
        self._report = report

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        data = self._inner.read(-1 if n is None else n)
        if data:
            self._report(len(data))
        return data

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def verify_document(raw: bytes, desc: Descriptor) -> Manifest | Index:
    """Check manifest bytes against their descriptor and parse them."""
    if len(raw) > MAX_MANIFEST_SIZE:
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


def read_document(src: Source, desc: Descriptor) -> Manifest | Index:
    """Fetch a manifest or index from ``src`` and verify it against ``desc``."""
    return verify_document(src.read_manifest(desc), desc)


def select_platforms(index: Index, platforms: Sequence[Platform], *, what: str) -> list[Descriptor]:
    """The entries of ``index`` best matching each of ``platforms``; error if one is absent."""
    keep: list[Descriptor] = []
    entries = [d for d in index.manifests if d.platform is not None]
    for p in platforms:
        m = only(p)
        hits = [d for d in entries if d.platform is not None and m.match(d.platform)]
        if not hits:
            have = ", ".join(format_all(d.platform) for d in entries if d.platform) or "none"
            raise PlatformNotFoundError(
                f"{what} has no {format_all(p)} image (it has: {have})",
                hint="choose one of the platforms it has, or --all-platforms",
            )
        hits.sort(key=lambda d: 0 if _exact(d.platform, p) else 1)
        if hits[0] not in keep:
            keep.append(hits[0])
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
    platforms: Sequence[Platform] | None = None,
    jobs: int = 4,
    progress: Progress | None = None,
    root_raw: bytes | None = None,
    skip_root: bool = False,
    mount_hints: Mapping[Digest, Sequence[str]] | None = None,
) -> CopyStats:
    """Copy ``root`` and everything it references from ``src`` to ``dst``.

    With ``platforms``, an index is copied whole (same digest) but only the
    entries for those platforms are fetched: the destination then holds a
    sparse index, as containerd keeps one.

    ``mount_hints`` names, per blob, other repositories of the destination
    registry believed to hold it (where a base image was pulled from): the
    blob is mounted from there instead of uploaded when the registry agrees.
    """
    stats = CopyStats()
    lock = threading.Lock()
    prog = progress or NoProgress()
    group = TaskGroup(jobs)
    blob_tasks: dict[Digest, Task[None]] = {}
    blobs: dict[Digest, Descriptor] = {}
    to_registry = isinstance(dst, RegistryEndpoint)
    mount_from = (
        src.repository
        if isinstance(src, RegistryEndpoint)
        and isinstance(dst, RegistryEndpoint)
        and src.registry == dst.registry
        and src.repository != dst.repository
        else None
    )
    # Manifests come from a registry slowly and from a layout at once.  From a
    # registry, each child manifest is a task of its own and its blobs start
    # as soon as it arrives; from a layout the whole graph is read first, so
    # the push token below can name every repository a blob may be mounted from.
    fetch_as_tasks = isinstance(src, RegistryEndpoint) and not mount_hints
    trusted = getattr(src, "verifies_content", False)
    hints: dict[Digest, tuple[str, ...]] = {}

    def copy_one(desc: Descriptor) -> None:
        prog.blob_start(desc)

        def opener() -> IO[bytes]:
            return _Counting(src.open_blob(desc), lambda n: prog.blob_bytes(desc, n))  # type: ignore[return-value]

        if mount_from is not None and isinstance(dst, RegistryEndpoint):
            # mount first: one request when it works (and when the blob is
            # already there), an upload in the same session when it does not
            mounted = dst.mount_or_upload(desc, mount_from, opener)
            with lock:
                if mounted:
                    stats.blobs_mounted += 1
                else:
                    stats.blobs_copied += 1
                    stats.bytes_copied += desc.size
            prog.blob_done(desc, "mounted" if mounted else "copied")
            return
        if desc.digest in hints and isinstance(dst, RegistryEndpoint) and dst.try_mount(desc, hints[desc.digest]):
            with lock:
                stats.blobs_mounted += 1
            prog.blob_done(desc, "mounted")
            return
        if dst.has_blob(desc):
            with lock:
                stats.blobs_skipped += 1
            prog.blob_done(desc, "exists")
            return
        dst.write_blob(desc, opener, verified=trusted)
        with lock:
            stats.blobs_copied += 1
            stats.bytes_copied += desc.size
        prog.blob_done(desc, "copied")

    def blob(desc: Descriptor) -> Task[None]:
        with lock:
            task = blob_tasks.get(desc.digest)
            if task is None:
                blobs[desc.digest] = desc
                # big blobs first: the small ones fill the gaps at the end
                task = blob_tasks[desc.digest] = group.submit(partial(copy_one, desc), priority=-desc.size)
            return task

    def write(desc: Descriptor, raw: bytes) -> None:
        # a registry takes a repeated manifest PUT cheaply: no HEAD round trip first
        if to_registry or not dst.has_blob(desc):
            dst.write_manifest(desc, raw)

    def visit(desc: Descriptor, raw: bytes, top: bool) -> Task[None] | None:
        """Schedule everything ``desc`` references, then ``desc`` itself (the root: not here)."""
        doc = verify_document(raw, desc)
        with lock:
            stats.manifests += 1
        deps: list[Task[None]] = []
        if isinstance(doc, Index):
            children = list(doc.manifests)
            if top and platforms is not None:
                children = select_platforms(doc, platforms, what=f"image {desc.digest}")
            for child in children:
                if not _is_document(child):
                    deps.append(blob(child))
                elif fetch_as_tasks:
                    deps.append(group.submit(partial(fetch_and_visit, child), priority=_FIRST))
                else:
                    child_written = visit(child, src.read_manifest(child), False)
                    if child_written is not None:
                        deps.append(child_written)
        else:
            deps.append(blob(doc.config))
            for layer in doc.layers:
                if layer.urls and mediatype.is_foreign(layer.media_type):
                    continue  # non-distributable: referenced, never copied
                deps.append(blob(layer))
        if top:
            root_deps.extend(deps)
            return None
        return group.submit(partial(write, desc, raw), after=deps, priority=_FIRST)

    def fetch_and_visit(desc: Descriptor) -> Task[None]:
        written = visit(desc, src.read_manifest(desc), False)
        assert written is not None  # only the root returns None
        return written

    root_deps: list[Task[None]] = []
    raw_root = root_raw if root_raw is not None else src.read_manifest(root)
    visit(root, raw_root, True)
    if isinstance(dst, RegistryEndpoint):
        if mount_from is None and mount_hints:
            for blob_digest in blobs:  # every blob is known: the graph was read first
                repos = tuple(r for r in mount_hints.get(blob_digest, ()) if r != dst.repository)
                if repos:
                    hints[blob_digest] = repos[:_MAX_MOUNT_TRIES]
        # one token with pull,push (and pull on each mount source) for the whole push
        sources = (mount_from,) if mount_from else tuple(dict.fromkeys(r for rs in hints.values() for r in rs))
        dst.client.prepare_push(dst.repository, mount_from=sources)
    if not skip_root:
        group.submit(partial(write, root, raw_root), after=root_deps)
    group.wait()
    return stats


#: Priority of manifest fetches and PUTs: ahead of every blob (they unlock more work).
_FIRST = float("-inf")


@contextlib.contextmanager
def transaction(dst: LayoutEndpoint) -> Iterator[LayoutEndpoint]:
    """Roll back every blob ``dst`` gained if the block fails."""
    with dst.layout.writing():
        try:
            yield dst
        except BaseException:
            dst.rollback()
            raise
