"""Jobs that talk to registries: pull, push, copy, login, logout.

Locations a user can name (``copy`` takes any two):

* ``REF`` or ``docker://REF`` — a repository in a registry;
* ``oci:PATH[:TAG]`` — an OCI image layout directory;
* ``store:REF`` — the local store.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from anyarch import transfer
from anyarch.errors import (
    AnyarchError,
    ImageNotFoundError,
    InvalidInputError,
    NotFoundError,
    PlatformNotFoundError,
    RegistryError,
)
from anyarch.name import Reference, is_loopback_registry, parse_reference
from anyarch.oci import Descriptor, Digest, Index, mediatype, parse_document
from anyarch.oci.platform import Platform, default_matcher, format_all, select_best

if TYPE_CHECKING:
    # the HTTP stack is imported when a registry is contacted (store-only commands start
    # faster), the store code when a store or layout is (a copy between registries never is)
    from anyarch.registry import CredentialSource, RegistryClient
    from anyarch.store import Store, StoredImage

# -- connecting ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryOptions:
    """How to reach registries: TLS choices and where credentials come from."""

    insecure: bool = False
    cacert: str | None = None
    auth_file: str | None = None
    jobs: int = 4

    def insecure_for(self, registry: str) -> bool:
        """Plain HTTP only for loopback, ``--insecure``, or ``ANYARCH_INSECURE_REGISTRIES``."""
        if self.insecure or is_loopback_registry(registry):
            return True
        listed = os.environ.get("ANYARCH_INSECURE_REGISTRIES", "")
        return registry in {r.strip() for r in listed.split(",") if r.strip()}


def credentials(opts: RegistryOptions) -> CredentialSource:
    from anyarch.registry import DockerConfig

    return DockerConfig(opts.auth_file)


def connect(registry: str, opts: RegistryOptions, creds: CredentialSource | None = None) -> RegistryClient:
    from anyarch.registry import RegistryClient

    return RegistryClient(
        registry,
        insecure=opts.insecure_for(registry),
        cacert=opts.cacert,
        credentials=creds or credentials(opts),
        max_connections=max(8, opts.jobs * 2),
    )


# -- locations ----------------------------------------------------------------------
#
# Locations and Resolved are NamedTuples, not frozen dataclasses: as immutable and
# comparable, but each dataclass costs ~1 ms at import (its generated methods are
# compiled) and every registry command imports this module.


class RegistryLocation(NamedTuple):
    """``REF`` or ``docker://REF``: a repository in a registry."""

    ref: Reference


class LayoutLocation(NamedTuple):
    """``oci:PATH[:TAG]``: an OCI image layout directory."""

    path: Path
    tag: str | None


class StoreLocation(NamedTuple):
    """``store:REF``: an image in the local store."""

    ref: str


Location = RegistryLocation | LayoutLocation | StoreLocation


def parse_location(spec: str) -> Location:
    """Parse a copy endpoint (see the module docstring)."""
    if spec.startswith("oci:"):
        rest = spec[4:]
        path, _, tag = rest.partition(":")
        if not path:
            raise InvalidInputError(f"'{spec}': no directory after 'oci:'", hint="write oci:PATH[:TAG]")
        return LayoutLocation(Path(path), tag or None)
    if spec.startswith("store:"):
        return StoreLocation(spec[6:])
    if spec.startswith("docker://"):
        spec = spec[len("docker://") :]
    return RegistryLocation(parse_reference(spec))


class Resolved(NamedTuple):
    """A location opened for reading: an endpoint, the root descriptor and its bytes."""

    endpoint: transfer.Source
    descriptor: Descriptor
    raw: bytes
    name: str


def _fetch_root(client: RegistryClient, ref: Reference) -> tuple[Descriptor, bytes]:
    fetched = client.get_manifest(ref.repository, ref.digest or ref.tag or "latest")
    desc = Descriptor(media_type=fetched.media_type, digest=fetched.digest, size=len(fetched.raw))
    return desc, fetched.raw


def _opened(store: Store | Callable[[], Store]) -> Store:
    """The store itself, from a store or a function that opens it."""
    return store() if callable(store) else store


def open_source(loc: Location, store: Store | Callable[[], Store], opts: RegistryOptions) -> Resolved:
    """Open a location for reading; ``store`` may be a function that opens the store on demand."""
    if isinstance(loc, RegistryLocation):
        client = connect(loc.ref.registry, opts)
        desc, raw = _fetch_root(client, loc.ref)
        return Resolved(transfer.RegistryEndpoint(client, loc.ref.repository), desc, raw, str(loc.ref))
    from anyarch.store.layout import Layout

    if isinstance(loc, StoreLocation):
        store = _opened(store)
        entry = store.lookup(loc.ref)
        ep = transfer.LayoutEndpoint(store.layout)
        return Resolved(ep, entry.descriptor, ep.read_manifest(entry.descriptor), entry.name or loc.ref)
    layout = Layout(loc.path, create=False)
    entries = layout.entries()
    chosen = _layout_entry(entries, loc)
    ep = transfer.LayoutEndpoint(layout)
    return Resolved(ep, chosen.descriptor, ep.read_manifest(chosen.descriptor), chosen.name or str(loc.path))


def _layout_entry(entries: Sequence[StoredImage], loc: LayoutLocation) -> StoredImage:
    if loc.tag is None:
        if len(entries) == 1:
            return entries[0]
        raise InvalidInputError(
            f"oci:{loc.path} holds {len(entries)} images; name one with oci:{loc.path}:TAG",
            hint="tags: " + ", ".join(e.name or "<none>" for e in entries),
        )
    for e in entries:
        if e.name == loc.tag:
            return e
    raise ImageNotFoundError(
        f"oci:{loc.path} has no image tagged '{loc.tag}'",
        hint="tags: " + (", ".join(e.name or "<none>" for e in entries) or "none"),
    )


# -- copy ---------------------------------------------------------------------------


class CopyResult(NamedTuple):
    """What landed where (a NamedTuple for the reason given above the locations)."""

    name: str
    descriptor: Descriptor
    stats: transfer.CopyStats
    platforms: tuple[Platform, ...]


def _choose(src: Resolved, platforms: Sequence[Platform] | None, all_platforms: bool) -> tuple[Descriptor, bytes, Sequence[Platform] | None]:
    """Apply the platform choice: whole index, one platform manifest, or a sparse index."""
    doc = parse_document(src.raw, src.descriptor.media_type)
    if not isinstance(doc, Index) or all_platforms or platforms is None:
        return src.descriptor, src.raw, None
    if len(platforms) == 1:
        entry = transfer.select_platforms(doc, platforms, what=src.name)[0]
        raw = src.endpoint.read_manifest(entry)
        return entry, raw, None
    return src.descriptor, src.raw, platforms


def copy(
    src_spec: str,
    dst_spec: str,
    store: Store | Callable[[], Store],
    opts: RegistryOptions,
    *,
    platforms: Sequence[Platform] | None = None,
    all_platforms: bool = True,
    progress: transfer.Progress | None = None,
) -> CopyResult:
    """Copy an image or index between any two locations, keeping digests.

    With one ``--platform`` the single platform manifest is copied (as
    ``skopeo copy`` does); with several, the index is copied with only those
    platforms' content (a sparse index: the store and layouts accept it,
    registries do not).

    ``store`` may be a function that opens the store: a copy that involves no
    ``store:`` location or layout never calls it (no store directory is
    created, none of the store code is imported).
    """
    src = open_source(parse_location(src_spec), store, opts)
    desc, raw, sparse = _choose(src, platforms, all_platforms and not platforms)
    return _deliver(src, desc, raw, sparse, parse_location(dst_spec), store, opts, progress)


def _deliver(
    src: Resolved,
    desc: Descriptor,
    raw: bytes,
    sparse: Sequence[Platform] | None,
    dst_loc: Location,
    store: Store | Callable[[], Store],
    opts: RegistryOptions,
    progress: transfer.Progress | None,
) -> CopyResult:
    plats = _platforms_of(src, desc, raw, sparse)
    if isinstance(dst_loc, RegistryLocation):
        if sparse is not None:
            raise InvalidInputError(
                "a registry cannot hold an index with only some of its platforms",
                hint="copy --all, or a single --platform",
            )
        # one registry, one client: its connections and tokens serve both ends
        src_ep = src.endpoint
        if isinstance(src_ep, transfer.RegistryEndpoint) and src_ep.registry == dst_loc.ref.registry:
            client = src_ep.client
        else:
            client = connect(dst_loc.ref.registry, opts)
        dst = transfer.RegistryEndpoint(client, dst_loc.ref.repository)
        by_tag = dst_loc.ref.digest is None
        hints = None
        if isinstance(src.endpoint, transfer.LayoutEndpoint):
            store = _opened(store)
            if src.endpoint.layout.root == store.layout.root:
                hints = store_mount_hints(store, dst_loc.ref.registry, pushing=desc.digest)
        stats = transfer.copy_image(
            src.endpoint,
            dst,
            desc,
            jobs=opts.jobs,
            progress=progress,
            root_raw=raw,
            skip_root=by_tag,
            mount_hints=hints,
        )
        if by_tag:
            dst.tag(dst_loc.ref.tag or "latest", desc, raw)
        elif dst_loc.ref.digest != str(desc.digest):
            raise InvalidInputError(
                f"destination digest {dst_loc.ref.digest} differs from the image's {desc.digest}",
                hint="drop the digest from the destination",
            )
        return CopyResult(str(dst_loc.ref), desc, stats, plats)
    store = _opened(store)
    if isinstance(dst_loc, StoreLocation):
        name = str(parse_reference(dst_loc.ref))
        ep = transfer.LayoutEndpoint(store.layout)
        with transfer.transaction(ep):
            stats = transfer.copy_image(src.endpoint, ep, desc, platforms=sparse, jobs=opts.jobs, progress=progress, root_raw=raw)
            store.tag(name, desc)
        return CopyResult(name, desc, stats, plats)
    from anyarch.store.layout import Layout, StoredImage

    layout = Layout(dst_loc.path)
    ep = transfer.LayoutEndpoint(layout)
    tag = dst_loc.tag or "latest"
    with transfer.transaction(ep):
        stats = transfer.copy_image(src.endpoint, ep, desc, platforms=sparse, jobs=opts.jobs, progress=progress, root_raw=raw)
        layout.update_entries(lambda es: [e for e in es if e.name != tag] + [StoredImage(tag, desc)])
    if layout.root.resolve() != store.root.resolve():
        layout.tidy()
    return CopyResult(f"oci:{dst_loc.path}:{tag}", desc, stats, plats)


def store_mount_hints(store: Store, registry: str, *, pushing: Digest | None = None) -> dict[Digest, list[str]]:
    """Blobs of stored images named after ``registry``, and the repositories they came from.

    A base image pulled from ``REG/library/debian`` leaves its layers in the
    store under that name; pushing an image built on it to ``REG/app`` can then
    ask the registry to mount those layers from ``library/debian`` instead of
    uploading them again (``docker push`` does the same from its
    distribution metadata).  Only what the store holds is walked: no I/O
    beyond local manifests.  A wrong hint costs one refused mount, so the
    names of the image being pushed (``pushing``) give none: it was most
    likely built here, and its own new blobs are in no repository yet.
    """
    hints: dict[Digest, list[str]] = {}
    for entry in store.entries():
        if not entry.name or entry.descriptor.digest == pushing:
            continue
        try:
            ref = parse_reference(entry.name)
        except InvalidInputError:
            continue
        if ref.registry != registry:
            continue
        try:
            reachable = list(store.walk(entry.descriptor))
        except (OSError, AnyarchError):
            continue  # a damaged entry only loses its hints
        for d in reachable:
            if mediatype.is_index(d.media_type) or mediatype.is_manifest(d.media_type):
                continue
            repos = hints.setdefault(d.digest, [])
            if ref.repository not in repos:
                repos.append(ref.repository)
    return hints


def _platforms_of(src: Resolved, desc: Descriptor, raw: bytes, sparse: Sequence[Platform] | None) -> tuple[Platform, ...]:
    doc = parse_document(raw, desc.media_type)
    if isinstance(doc, Index):
        if sparse is not None:
            return tuple(d.platform for d in transfer.select_platforms(doc, sparse, what=src.name) if d.platform)
        return tuple(d.platform for d in doc.manifests if d.platform and d.platform.os != "unknown")
    if desc.platform is not None:
        return (desc.platform,)
    return ()


# -- pull / push ----------------------------------------------------------------------


def pull(
    store: Store,
    ref: str,
    opts: RegistryOptions,
    *,
    platforms: Sequence[Platform] | None = None,
    all_platforms: bool = False,
    progress: transfer.Progress | None = None,
) -> CopyResult:
    """Fetch an image into the store under its name.

    An index is kept whole (its digest unchanged) with the content of the
    chosen platforms only — the host's by default, like ``docker pull``.
    """
    parsed = parse_reference(ref)
    src = open_source(RegistryLocation(parsed), store, opts)
    doc = parse_document(src.raw, src.descriptor.media_type)
    sparse: Sequence[Platform] | None = None
    if isinstance(doc, Index) and not all_platforms:
        if platforms:
            sparse = platforms
        else:
            cands = [d for d in doc.manifests if d.platform is not None]
            idx = select_best([d.platform for d in cands if d.platform], default_matcher())
            if idx is None:
                have = ", ".join(format_all(d.platform) for d in cands if d.platform) or "none"
                raise PlatformNotFoundError(
                    f"image '{ref}' has no variant for this machine (it has: {have})",
                    hint="pass --platform with one of them, or --all-platforms",
                )
            plat = cands[idx].platform
            assert plat is not None
            sparse = [plat]
    return _deliver(src, src.descriptor, src.raw, sparse, StoreLocation(str(parsed)), store, opts, progress)


def push(
    store: Store,
    ref: str,
    opts: RegistryOptions,
    *,
    destination: str | None = None,
    progress: transfer.Progress | None = None,
) -> CopyResult:
    """Push a stored image (every platform it has) to its registry, or to ``destination``."""
    entry = store.lookup(ref)
    missing = store.missing_platforms(entry.descriptor)
    if missing:
        raise NotFoundError(
            f"cannot push '{ref}': the store lacks its {', '.join(format_all(p) for p in missing)} content",
            hint=f"anyarch pull --all-platforms {ref}",
        )
    ep = transfer.LayoutEndpoint(store.layout)
    src = Resolved(ep, entry.descriptor, ep.read_manifest(entry.descriptor), entry.name or ref)
    target = parse_reference(destination or entry.name or ref)
    return _deliver(src, entry.descriptor, src.raw, None, RegistryLocation(target), store, opts, progress)


# -- login / logout -------------------------------------------------------------------


def login(registry: str, username: str, password: str, opts: RegistryOptions) -> None:
    """Check the credentials against the registry, then store them in docker's config.json."""
    if not username or not password:
        raise InvalidInputError("username and password are both required", hint="use -u USER and --password-stdin")
    from anyarch.registry import Credential, DockerConfig, static_credentials

    cred = Credential(username, password)
    host = _registry_host(registry)
    with connect(host, opts, static_credentials(username, password)) as client:
        client.ping()
    DockerConfig(opts.auth_file).login(host, cred)


def logout(registry: str, opts: RegistryOptions) -> bool:
    from anyarch.registry import DockerConfig

    return DockerConfig(opts.auth_file).logout(_registry_host(registry))


def _registry_host(registry: str) -> str:
    r = registry.strip()
    for prefix in ("https://", "http://"):
        if r.startswith(prefix):
            r = r[len(prefix) :]
    r = r.split("/", 1)[0]
    if r in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    if not r:
        raise InvalidInputError(f"'{registry}' is not a registry address", hint="e.g. localhost:5000")
    return r


__all__ = [
    "CopyResult",
    "RegistryError",
    "RegistryOptions",
    "connect",
    "copy",
    "login",
    "logout",
    "parse_location",
    "pull",
    "push",
]
_ = mediatype
