"""``anyarch check``'s I/O half: read the Dockerfile, find out what its images are published for.

:mod:`anyarch.lint` judges a Dockerfile without touching the disk or the
network; it needs to be told, for each image the build pulls, the platforms
that image is published for.  This module answers that the way a build
would find the image: the local store first (an index lists its platforms
even when the store holds only some of them; a single manifest has the one
of its config), then the image's registry, unless offline.  What cannot be
found out is ``unknown`` with a reason, and the rules about FROM images skip
it; the report lists those images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from anyarch.api.remote import RegistryOptions, connect
from anyarch.errors import AnyarchError, NotFoundError
from anyarch.lint import UNKNOWN, ImagePlatforms, LintOptions, Report, analyze, check
from anyarch.name import Reference, parse_reference
from anyarch.oci import ImageConfig, Index, Manifest, parse_document
from anyarch.oci.platform import Platform, host_platform
from anyarch.store import Store

if TYPE_CHECKING:  # the HTTP stack loads only when a base image is looked up remotely
    from anyarch.registry import RegistryClient

__all__ = [
    "DOCKERFILE_NAMES",
    "Resolution",
    "check_dockerfile",
    "find_dockerfile",
    "index_platforms",
    "resolve_platforms",
]

#: Names tried in the context directory when no ``-f`` is given, in order.
DOCKERFILE_NAMES = ("Dockerfile", "Containerfile", "dockerfile")


@dataclass(frozen=True, slots=True)
class Resolution:
    """The platforms of each image (or ``unknown``), why unknown, and where each was found."""

    platforms: dict[str, ImagePlatforms] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def index_platforms(index: Index) -> tuple[Platform, ...]:
    """The platforms an index offers: its entries' platforms, attestations (unknown) left out."""
    out: dict[Platform, None] = {}
    for entry in index.manifests:
        p = entry.platform
        if p is not None and p.os not in ("", "unknown") and p.architecture != "unknown":
            out[p] = None
    return tuple(out)


def _open_store(root: Path | None) -> Store | None:
    """The store at ``root`` (default location when None) if it exists; never creates one."""
    try:
        store = Store(root, create=False)
    except AnyarchError:
        return None
    return store


def _from_store(store: Store, ref: str) -> tuple[Platform, ...] | None:
    try:
        entry = store.lookup(ref)
    except NotFoundError:
        return None
    doc = store.document(entry.descriptor)
    if isinstance(doc, Index):
        return index_platforms(doc)
    return (store.config(doc).platform,)


def _from_registry(client: RegistryClient, ref: Reference) -> tuple[Platform, ...]:
    fetched = client.get_manifest(ref.repository, ref.digest or ref.tag or "latest")
    doc = parse_document(fetched.raw, fetched.media_type)
    if isinstance(doc, Index):
        return index_platforms(doc)
    assert isinstance(doc, Manifest)
    chunks: list[bytes] = []
    client.get_blob(ref.repository, doc.config.digest, chunks.append, size=doc.config.size)
    return (ImageConfig.from_bytes(b"".join(chunks)).platform,)


def resolve_platforms(
    refs: Iterable[str],
    *,
    store: Store | None,
    offline: bool = False,
    registry: RegistryOptions | None = None,
) -> Resolution:
    """Look up every reference in ``refs``: the store first, then (unless offline) its registry.

    Registry lookups run in parallel (``registry.jobs`` at a time, one
    connection per registry).  Failures do not raise: the image is
    ``unknown`` with the error's message as the reason.
    """
    out = Resolution()
    pending: list[tuple[str, Reference]] = []
    for ref in dict.fromkeys(refs):
        try:
            parsed = parse_reference(ref)
        except AnyarchError as err:
            out.platforms[ref] = UNKNOWN
            out.reasons[ref] = err.message
            continue
        if store is not None:
            try:
                found = _from_store(store, ref)
            except AnyarchError as err:
                found = None
                out.reasons[ref] = f"store: {err.message}"
            if found is not None:
                out.platforms[ref] = found
                out.sources[ref] = "store"
                continue
        if offline:
            out.platforms[ref] = UNKNOWN
            out.reasons.setdefault(ref, "offline, and not in the store")
            continue
        pending.append((ref, parsed))
    if not pending:
        return out
    opts = registry or RegistryOptions()
    clients: dict[str, RegistryClient] = {}
    try:
        for _, parsed in pending:
            if parsed.registry not in clients:
                clients[parsed.registry] = connect(parsed.registry, opts)

        def lookup(item: tuple[str, Reference]) -> tuple[str, ImagePlatforms, str]:
            ref, parsed = item
            try:
                return ref, _from_registry(clients[parsed.registry], parsed), ""
            except (AnyarchError, OSError) as err:
                message = err.message if isinstance(err, AnyarchError) else str(err)
                return ref, UNKNOWN, f"registry: {message}"

        with ThreadPoolExecutor(max_workers=max(1, min(opts.jobs, len(pending)))) as pool:
            for ref, answer, reason in pool.map(lookup, pending):
                out.platforms[ref] = answer
                if reason:
                    out.reasons[ref] = reason
                else:
                    out.reasons.pop(ref, None)
                    out.sources[ref] = "registry"
    finally:
        for client in clients.values():
            client.close()
    return out


def find_dockerfile(context: Path, dockerfile: Path | None = None) -> Path:
    """The Dockerfile to check: ``-f``'s path, else ``Dockerfile``/``Containerfile`` in ``context``."""
    if not context.is_dir():
        raise NotFoundError(
            f"build context '{context}' is not a directory",
            hint="pass the directory you build from, e.g. 'anyarch check .'",
        )
    if dockerfile is not None:
        if not dockerfile.is_file():
            raise NotFoundError(
                f"Dockerfile '{dockerfile}' does not exist",
                hint="-f takes the path of the Dockerfile (relative to the current directory)",
            )
        return dockerfile
    for name in DOCKERFILE_NAMES:
        candidate = context / name
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"no Dockerfile or Containerfile in '{context}'",
        hint="name the file with -f PATH",
    )


def check_dockerfile(
    context: Path,
    *,
    dockerfile: Path | None = None,
    options: LintOptions | None = None,
    store_root: Path | None = None,
    offline: bool = False,
    registry: RegistryOptions | None = None,
) -> Report:
    """Check the Dockerfile of ``context`` (or ``dockerfile``) for ``options``' platforms.

    The build platform defaults to this host's.  Raises
    :class:`~anyarch.errors.DockerfileError` for a file that does not parse
    or plan, :class:`~anyarch.errors.NotFoundError` when there is no file.
    """
    options = options or LintOptions()
    if options.build_platform is None:
        options = dataclasses.replace(options, build_platform=host_platform())
    path = find_dockerfile(context, dockerfile)
    text = path.read_bytes().decode("utf-8", "replace")
    analysis = analyze(text, filename=str(path), options=options)
    store = _open_store(store_root)
    resolution = resolve_platforms(analysis.images, store=store, offline=offline, registry=registry)
    return check(analysis, resolution.platforms, resolution.reasons)
