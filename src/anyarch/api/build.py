"""``anyarch build``: a Dockerfile into images, for any platform, into the store or out.

This is the job layer around the solver (:mod:`anyarch.build.solver`): it
opens the context (a directory, or a tar read from stdin), finds base images
(in the store for the target platform, else pulled with only that platform's
content), runs the solver, then stores and names the result -- one manifest
for one platform, an OCI index (or Docker manifest list) for several -- and
carries out ``--output``, ``--push``, ``--iidfile`` and ``--metadata-file``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from anyarch import transfer
from anyarch._util import canonjson
from anyarch._util.fs import atomic_write_bytes
from anyarch.api import fastpath, remote
from anyarch.api.local import export_image
from anyarch.build.cache import (
    CACHE_ARTIFACT_TYPE,
    CACHE_CONFIG_MEDIA_TYPE,
    BuildCache,
    CacheRecord,
    cache_dir,
    export_records,
    import_records,
)
from anyarch.build.context import SourceTree, StatCache, context_from_tar
from anyarch.build.executor import Session
from anyarch.build.image_writer import export_filesystem, write_index
from anyarch.build.solver import (
    BaseImage,
    BuildEvents,
    BuildRequest,
    NoEvents,
    PlatformOutcome,
    Solver,
    SolveResult,
    StepEvent,
    StepInfo,
)
from anyarch.build.steps_run import SecretSource
from anyarch.errors import (
    AnyarchError,
    BuildError,
    ImageNotFoundError,
    InvalidInputError,
    NotFoundError,
    PlatformNotFoundError,
    UsageError,
)
from anyarch.name import parse_reference
from anyarch.oci import (
    Descriptor,
    Digest,
    ImageConfig,
    Index,
    Manifest,
    mediatype,
    parse_document,
)
from anyarch.oci.platform import Platform, format_all, normalize, only
from anyarch.store import Layout, Store, StoredImage

__all__ = [
    "BuildOptions",
    "BuildResult",
    "OutputSpec",
    "build",
    "parse_output",
    "store_image_provider",
]


# --- options -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class OutputSpec:
    """One ``--output``: ``type`` is image, registry, oci, docker, local or tar.

    ``dest`` ``-`` means stdout; ``tar`` False writes an OCI layout directory.
    """

    type: str
    dest: str | None = None
    tar: bool = True
    push: bool = False


def parse_output(text: str) -> OutputSpec:
    """Parse a buildx ``--output`` value (``type=oci,dest=out.tar``; a bare path means local)."""
    if "=" not in text:
        return OutputSpec("tar" if text == "-" else "local", text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidInputError(
                f"invalid --output {text!r}: {part!r} is not key=value",
                hint="e.g. --output type=oci,dest=image.tar",
            )
        fields[key.strip().lower()] = value.strip()
    kind = fields.get("type", "local")
    if kind not in ("image", "registry", "oci", "docker", "local", "tar"):
        raise InvalidInputError(
            f"invalid --output {text!r}: unknown type {kind!r}",
            hint="use type=oci, docker, local, tar, image or registry",
        )
    dest = fields.get("dest")
    if kind in ("oci", "docker", "local", "tar") and not dest:
        raise InvalidInputError(
            f"invalid --output {text!r}: type={kind} needs dest=",
            hint=f"e.g. --output type={kind},dest={'out' if kind == 'local' else 'out.tar'}",
        )
    tar = fields.get("tar", "true").lower() not in ("false", "0", "no")
    push = kind == "registry" or fields.get("push", "false").lower() in ("true", "1", "yes")
    return OutputSpec(kind, dest, tar, push)


@dataclasses.dataclass(frozen=True, slots=True)
class BuildOptions:
    """Everything ``anyarch build`` was asked to do.

    ``dockerfile`` is the Dockerfile's text and ``dockerfile_name`` what
    errors call it; ``dockerfile_path`` its location (for
    ``<name>.dockerignore``).  ``context`` is the context directory, or
    ``context_tar`` a stream with the context as a tar; neither means a build
    with no context.
    """

    dockerfile: str
    dockerfile_name: str = "Dockerfile"
    dockerfile_path: Path | None = None
    context: Path | None = None
    context_tar: IO[bytes] | None = None
    tags: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()
    build_args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    network: str = "default"
    secrets: tuple[SecretSource, ...] = ()
    source_date_epoch: int | None = None
    jobs: int = 0
    keep_going: bool = False
    push: bool = False
    outputs: tuple[OutputSpec, ...] = ()
    index_format: str = "oci"
    compression: str | None = "gzip"
    iidfile: Path | None = None
    metadata_file: Path | None = None
    registry: remote.RegistryOptions = dataclasses.field(default_factory=remote.RegistryOptions)
    binfmt_dir: Path | None = None
    stdout: IO[bytes] | None = None
    all_platforms: bool = False
    build_contexts: tuple[NamedContext, ...] = ()
    cache_to: tuple[CacheSpec, ...] = ()
    cache_from: tuple[CacheSpec, ...] = ()
    fast: fastpath.FastRequest | None = None
    """The warm fast path's view of this request (the CLI makes it, and replays it before
    calling :func:`build`); when set, a successful build is recorded under it."""


@dataclasses.dataclass(slots=True)
class BuildResult:
    """What a build produced: the stored image (or index), names, and each platform's outcome."""

    descriptor: Descriptor | None
    names: tuple[str, ...]
    solve: SolveResult
    metadata: dict[str, Any]
    pushed: tuple[str, ...] = ()
    error: AnyarchError | None = None

    @property
    def outcomes(self) -> list[PlatformOutcome]:
        return self.solve.outcomes

    def raise_for_failure(self) -> None:
        if self.error is not None:
            raise self.error


# --- base images -----------------------------------------------------------------------


def _platforms_listed(doc: Index) -> list[Platform]:
    return [
        m.platform for m in doc.manifests if m.platform is not None and m.platform.os != "unknown"
    ]


def _lacks(ref: str, platform: Platform, have: Sequence[Platform]) -> PlatformNotFoundError:
    listed = ", ".join(format_all(p) for p in have) or "none"
    return PlatformNotFoundError(
        f"base image {ref} has no {format_all(platform)} variant (it has: {listed})",
        hint="build for one of the platforms it has (--platform), or use a base image "
        f"that supports {format_all(platform)}",
    )


def _complete(store: Store, manifest: Manifest) -> bool:
    return store.blobs.has(manifest.config.digest) and all(
        store.blobs.has(layer.digest) for layer in manifest.layers
    )


def _from_store(store: Store, ref: str, platform: Platform) -> BaseImage | None:
    """The base image for ``platform`` if the store holds all of it; None when a pull is needed."""
    try:
        entry = store.lookup(ref)
    except ImageNotFoundError:
        return None
    if not store.blobs.has(entry.descriptor.digest):
        return None
    doc = store.document(entry.descriptor)
    if isinstance(doc, Index):
        if not any(
            m.platform is not None and only(platform).match(m.platform) for m in doc.manifests
        ):
            raise _lacks(ref, platform, _platforms_listed(doc))
        try:
            resolved = store.resolve(ref, platform)
        except PlatformNotFoundError:
            return None  # listed but not held: pull it
    else:
        resolved = store.resolve(ref)
        if not only(platform).match(resolved.config.platform):
            raise _lacks(ref, platform, [resolved.config.platform])
    if not _complete(store, resolved.manifest):
        return None
    return BaseImage(ref, platform, resolved.descriptor, resolved.manifest, resolved.config)


def store_image_provider(
    store: Store, registry: remote.RegistryOptions, *, pull: bool, events: BuildEvents
) -> Any:
    """An :data:`~anyarch.build.solver.ImageProvider`: the store, else a pull of one platform."""

    def provide(ref: str, platform: Platform) -> BaseImage:
        if not pull:
            found = _from_store(store, ref, platform)
            if found is not None:
                return found
        parsed = parse_reference(ref)
        events.on_note(f"pulling {ref} for {format_all(platform)}")
        try:
            src = remote.open_source(remote.RegistryLocation(parsed), store, registry)
        except AnyarchError as err:
            if isinstance(err, NotFoundError):
                raise ImageNotFoundError(
                    f"base image {ref} is neither in the store nor in its registry: {err.message}",
                    hint="check the FROM line; 'anyarch images' lists the store, "
                    "'anyarch import' adds a local OCI layout",
                ) from None
            raise
        top = src.descriptor
        doc = parse_document(src.raw, top.media_type)
        if isinstance(doc, Index) and not any(
            m.platform is not None and only(platform).match(m.platform) for m in doc.manifests
        ):
            raise _lacks(ref, platform, _platforms_listed(doc))
        remote.pull(store, ref, registry, platforms=[platform])
        found = _from_store(store, ref, platform)
        if found is None:
            raise ImageNotFoundError(
                f"base image {ref} for {format_all(platform)} is incomplete after the pull",
                hint="retry with --pull; the registry may have served a partial image",
            )
        return found

    return provide


# --- named build contexts (--build-context NAME=...) ------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NamedContext:
    """``--build-context NAME=VALUE``: ``kind`` is image, oci-layout or local."""

    name: str
    kind: str
    value: str


def parse_build_context(text: str) -> NamedContext:
    """``NAME=docker-image://REF``, ``NAME=oci-layout://PATH[:TAG]`` or ``NAME=DIR``."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise UsageError(
            f"invalid --build-context {text!r}",
            hint="write --build-context NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://PATH",
        )
    if value.startswith("docker-image://"):
        return NamedContext(name, "image", value[len("docker-image://") :])
    if value.startswith("oci-layout://"):
        return NamedContext(name, "oci-layout", value[len("oci-layout://") :])
    if "://" in value:
        raise UsageError(
            f"--build-context {name}: {value!r} is not a source anyarch can read",
            hint="use a directory, docker-image://REF or oci-layout://PATH[:TAG]",
        )
    return NamedContext(name, "local", value)


def _context_key(name: str) -> str:
    try:
        return str(parse_reference(name))
    except AnyarchError:
        return name


def _resolve_document(store: Store, desc: Descriptor, ref: str, platform: Platform) -> BaseImage:
    """The image for ``platform`` under ``desc`` (an index or a manifest) in the store."""
    doc = store.document(desc)
    if isinstance(doc, Index):
        entries = [
            m for m in doc.manifests if m.platform is not None and only(platform).match(m.platform)
        ]
        if not entries:
            raise _lacks(ref, platform, _platforms_listed(doc))
        desc = entries[0]
        doc = store.document(desc)
    if not isinstance(doc, Manifest):
        raise ImageNotFoundError(f"{ref}: nested indexes are not supported", hint="name one image")
    config = store.config(doc)
    if not only(platform).match(config.platform):
        raise _lacks(ref, platform, [config.platform])
    return BaseImage(ref, platform, desc, doc, config)


def _layout_image(store: Store, ctx: NamedContext, platform: Platform) -> BaseImage:
    path, _, tag = ctx.value.partition(":")
    if "@" in path:
        path, _, tag = path.partition("@")
    try:
        layout = Layout(Path(path), create=False)
    except AnyarchError:
        raise NotFoundError(
            f"--build-context {ctx.name}: {path} is not an OCI layout directory",
            hint="point oci-layout:// at a directory with oci-layout and index.json",
        ) from None
    entries = layout.entries()
    chosen = None
    for e in entries:
        if (not tag and len(entries) == 1) or (
            tag and (e.name == tag or str(e.descriptor.digest) == tag)
        ):
            chosen = e
    if chosen is None:
        names = ", ".join(e.name or str(e.descriptor.digest) for e in entries) or "none"
        raise ImageNotFoundError(
            f"--build-context {ctx.name}: no image {tag or ''} in {path} (it has: {names})",
            hint=f"write oci-layout://{path}:TAG",
        )
    dst = transfer.LayoutEndpoint(store.layout)
    with transfer.transaction(dst):
        transfer.copy_image(
            transfer.LayoutEndpoint(layout), dst, chosen.descriptor, platforms=[platform]
        )
    return _resolve_document(store, chosen.descriptor, ctx.name, platform)


def _local_image(ctx: NamedContext, platform: Platform, cache: StatCache | None) -> BaseImage:
    path = Path(ctx.value)
    if not path.is_dir():
        raise NotFoundError(
            f"--build-context {ctx.name}: directory {str(path)!r} not found",
            hint="pass an existing directory, docker-image://REF or oci-layout://PATH",
        )
    tree = SourceTree(path, reset_owner=True, cache=cache, label=f"build context {ctx.name!r}")
    digest = tree.context_digest([e.path for e in tree.walk(include_build_files=False)])
    config = ImageConfig.build(
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant or None,
        diff_ids=[Digest.parse(digest)],
    )
    layer = Descriptor(mediatype.OCI_LAYER, Digest.parse(digest), 0)
    raw = canonjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatype.OCI_MANIFEST,
            "config": config.descriptor().to_json(),
            "layers": [layer.to_json()],
        }
    )
    manifest = Manifest.from_bytes(raw, mediatype.OCI_MANIFEST)
    desc = Descriptor(mediatype.OCI_MANIFEST, Digest.parse(digest), len(raw))
    return BaseImage(ctx.name, platform, desc, manifest, config, local_dir=tree.root)


def with_named_contexts(
    provide: Any, store: Store, contexts: Sequence[NamedContext], cache: StatCache | None
) -> Any:
    """Wrap an image provider so the names of ``--build-context`` resolve to their sources."""
    by_ref = {_context_key(c.name): c for c in contexts}
    by_name = {c.name: c for c in contexts}

    def resolve(ref: str, platform: Platform) -> BaseImage:
        ctx = by_ref.get(ref) or by_name.get(ref)
        if ctx is None:
            found: BaseImage = provide(ref, platform)
            return found
        if ctx.kind == "image":
            base: BaseImage = provide(str(parse_reference(ctx.value)), platform)
            return base
        if ctx.kind == "oci-layout":
            return _layout_image(store, ctx, platform)
        return _local_image(ctx, platform, cache)

    return resolve


# --- build cache export and import (--cache-to / --cache-from) ------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class CacheSpec:
    """``--cache-to``/``--cache-from``: ``type`` registry (``ref``) or local (``path``, ``tag``)."""

    type: str
    ref: str = ""
    path: str = ""
    tag: str = "cache"


def parse_cache(text: str, *, export: bool) -> CacheSpec:
    """``type=registry,ref=REF``, ``type=local,dest=DIR`` (export) / ``src=DIR`` (import), or a bare REF."""
    flag = "--cache-to" if export else "--cache-from"
    if "=" not in text:
        return CacheSpec("registry", ref=text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(
                f"invalid {flag} {text!r}: {part!r} is not key=value",
                hint=f"e.g. {flag} type=registry,ref=REG/app:cache",
            )
        fields[key.strip().lower()] = value.strip()
    kind = fields.get("type", "registry")
    if kind == "registry":
        if not fields.get("ref"):
            raise UsageError(
                f"{flag} type=registry needs ref=", hint=f"{flag} type=registry,ref=REG/app:cache"
            )
        return CacheSpec("registry", ref=fields["ref"])
    if kind == "local":
        path = fields.get("dest" if export else "src") or fields.get("src" if export else "dest")
        if not path:
            raise UsageError(
                f"{flag} type=local needs {'dest' if export else 'src'}=",
                hint=f"{flag} type=local,{'dest' if export else 'src'}=DIR",
            )
        return CacheSpec("local", path=path, tag=fields.get("tag", "cache"))
    raise UsageError(f"{flag}: unknown cache type {kind!r}", hint="use type=registry or type=local")


def _cache_endpoint(
    spec: CacheSpec, store: Store, registry: remote.RegistryOptions, *, create: bool
) -> tuple[Any, str]:
    """A transfer endpoint for the cache location and the tag the cache index has there."""
    if spec.type == "registry":
        ref = parse_reference(spec.ref)
        client = remote.connect(ref.registry, registry)
        return transfer.RegistryEndpoint(client, ref.repository), ref.tag or "latest"
    return transfer.LayoutEndpoint(Layout(Path(spec.path), create=create)), spec.tag


def _read_cache_index(endpoint: Any, tag: str) -> tuple[Index | None, bytes | None]:
    if isinstance(endpoint, transfer.RegistryEndpoint):
        info = endpoint.client.head_manifest(endpoint.repository, tag)
        if info is None:
            return None, None
        fetched = endpoint.client.get_manifest(endpoint.repository, tag)
        raw, media = fetched.raw, fetched.media_type
    else:
        found = [e for e in endpoint.layout.entries() if e.name == tag]
        if not found:
            return None, None
        raw = endpoint.layout.blobs.read(found[0].descriptor.digest)
        media = found[0].descriptor.media_type
    doc = parse_document(raw, media)
    return (doc if isinstance(doc, Index) else None), raw


def remote_cache(
    store: Store, specs: Sequence[CacheSpec], registry: remote.RegistryOptions, events: BuildEvents
) -> Any:
    """A :data:`~anyarch.build.solver.RemoteCache` over every ``--cache-from`` (records loaded now,
    layer blobs fetched when a step uses them)."""
    records: dict[str, tuple[CacheRecord, Any]] = {}
    for spec in specs:
        where = spec.ref or spec.path
        try:
            endpoint, tag = _cache_endpoint(spec, store, registry, create=False)
            index, _ = _read_cache_index(endpoint, tag)
            if index is None:
                events.on_note(f"no build cache at {where}")
                continue
            for entry in index.manifests:
                raw = endpoint.read_manifest(entry)
                manifest = Manifest.from_bytes(raw, entry.media_type)
                if manifest.config.media_type != CACHE_CONFIG_MEDIA_TYPE:
                    continue
                with endpoint.open_blob(manifest.config) as fh:
                    config_raw = fh.read()
                if Digest.of(config_raw) != manifest.config.digest:
                    continue
                for key, record in import_records(config_raw).items():
                    records.setdefault(key, (record, endpoint))
            events.on_note(f"imported build cache from {where} ({len(records)} records)")
        except AnyarchError as err:
            events.on_note(f"cannot read the build cache at {where}: {err.message}")

    def get(key: str) -> CacheRecord | None:
        found = records.get(key)
        if found is None:
            return None
        record, endpoint = found
        layer = record.layer
        if layer is not None and not store.blobs.has(layer.descriptor.digest):
            try:
                with endpoint.open_blob(layer.descriptor) as fh:
                    store.blobs.put_stream(fh, layer.descriptor.digest, layer.descriptor.size)
            except AnyarchError as err:
                events.on_note(f"cache layer {layer.descriptor.digest} unavailable: {err.message}")
                return None
        return record

    return get


def _platform_key(p: Platform | None) -> str:
    return format_all(p) if p is not None else ""


def export_cache(
    store: Store,
    specs: Sequence[CacheSpec],
    per_platform: Sequence[tuple[Platform, list[tuple[str, CacheRecord]]]],
    registry: remote.RegistryOptions,
    events: BuildEvents,
) -> None:
    """Write one cache manifest per platform and an index of them at every ``--cache-to``.

    An existing index there keeps its other platforms' entries, so platforms
    built on different machines do not overwrite each other's cache.
    """
    if not specs or not per_platform:
        return
    empty = store.blobs.put(b"{}")
    ours: list[Descriptor] = []
    for platform, records in per_platform:
        config_raw = export_records(records)
        config_digest = store.blobs.put(config_raw)
        layers: dict[Digest, Descriptor] = {}
        for _, record in records:
            if record.layer is not None:
                layers.setdefault(record.layer.descriptor.digest, record.layer.descriptor)
        layer_docs = [
            {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}
            for d in layers.values()
        ]
        if not layer_docs:
            layer_docs = [{"mediaType": mediatype.OCI_EMPTY, "digest": str(empty), "size": 2}]
        raw = canonjson.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mediatype.OCI_MANIFEST,
                "artifactType": CACHE_ARTIFACT_TYPE,
                "config": {
                    "mediaType": CACHE_CONFIG_MEDIA_TYPE,
                    "digest": str(config_digest),
                    "size": len(config_raw),
                },
                "layers": layer_docs,
            }
        )
        digest = store.blobs.put(raw)
        ours.append(Descriptor(mediatype.OCI_MANIFEST, digest, len(raw), platform=platform))
    source = transfer.LayoutEndpoint(store.layout)
    for spec in specs:
        where = spec.ref or spec.path
        endpoint, tag = _cache_endpoint(spec, store, registry, create=True)
        for desc in ours:
            transfer.copy_image(source, endpoint, desc)
        old, _ = _read_cache_index(endpoint, tag)
        mine = {_platform_key(d.platform) for d in ours}
        kept = [
            m
            for m in (old.manifests if old is not None else ())
            if _platform_key(m.platform) not in mine
        ]
        entries = []
        for d in [*kept, *ours]:
            entry: dict[str, Any] = {
                "mediaType": d.media_type,
                "digest": str(d.digest),
                "size": d.size,
            }
            if d.platform is not None:
                entry["platform"] = d.platform.to_json()
            entries.append(entry)
        raw = canonjson.dumps(
            {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": entries}
        )
        index = Descriptor(mediatype.OCI_INDEX, Digest.of(raw), len(raw))
        if isinstance(endpoint, transfer.RegistryEndpoint):
            endpoint.tag(tag, index, raw)
        else:
            endpoint.write_manifest(index, raw)
            endpoint.layout.update_entries(
                lambda es, t=tag, d=index: [e for e in es if e.name != t] + [StoredImage(t, d)]
            )
        events.on_note(f"exported build cache to {where} ({len(ours)} platform(s))")


def platform_lister(store: Store, registry: remote.RegistryOptions) -> Any:
    """``ref -> platforms``: what an image offers, from the store's copy or its registry."""

    def platforms(ref: str) -> list[Platform]:
        raw: bytes
        media: str
        try:
            entry = store.lookup(ref)
            desc = entry.descriptor
            raw, media = store.blobs.read(desc.digest), desc.media_type
        except ImageNotFoundError:
            src = remote.open_source(remote.RegistryLocation(parse_reference(ref)), store, registry)
            raw, media = src.raw, src.descriptor.media_type
        doc = parse_document(raw, media)
        if isinstance(doc, Index):
            return _platforms_listed(doc)
        return [ImageConfig.from_bytes(store.blobs.read(doc.config.digest)).platform]

    return platforms


# --- the job -----------------------------------------------------------------------------


@contextlib.contextmanager
def _context_dir(opts: BuildOptions, work: Path) -> Iterator[Path | None]:
    if opts.context_tar is not None:
        dest = work / "context"
        context_from_tar(opts.context_tar, dest)
        yield dest
        return
    if opts.context is None:
        yield None
        return
    path = opts.context
    if not path.exists():
        raise NotFoundError(
            f"build context {str(path)!r} not found",
            hint="pass the directory holding your files (or - to send a tar on stdin)",
        )
    if not path.is_dir():
        raise InvalidInputError(
            f"build context {str(path)!r} is not a directory",
            hint="pass a directory (or - to send a tar on stdin)",
        )
    yield path


def _epoch_default(opts: BuildOptions) -> int | None:
    if opts.source_date_epoch is not None:
        return opts.source_date_epoch
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds",
            hint="set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
        ) from None


def _name_result(store: Store, desc: Descriptor, tags: Sequence[str]) -> tuple[str, ...]:
    names = tuple(store.tag(t, desc) for t in tags)
    if not names:
        store.add_unnamed(desc)
    return names


def _write_stream(src: Path, out: IO[bytes]) -> None:
    with open(src, "rb") as fh:
        shutil.copyfileobj(fh, out, 1 << 20)
    out.flush()


def _export(
    store: Store,
    spec: OutputSpec,
    desc: Descriptor,
    names: Sequence[str],
    solve: SolveResult,
    opts: BuildOptions,
    work: Path,
) -> None:
    ref = names[0] if names else str(desc.digest)
    epoch = opts.source_date_epoch or 0
    to_stdout = spec.dest == "-"
    out = opts.stdout
    if to_stdout and out is None:
        raise UsageError("--output dest=- needs a stdout stream", hint="a bug in the caller")
    if spec.type in ("oci", "docker"):
        if spec.type == "docker" and mediatype.is_index(desc.media_type):
            raise UsageError(
                "--output type=docker holds one platform; this build made several",
                hint="use --output type=oci for a multi-platform image, or build one --platform",
            )
        fmt = "docker" if spec.type == "docker" else ("oci-archive" if spec.tar else "oci")
        if to_stdout:
            if not spec.tar:
                raise UsageError("--output tar=false cannot go to stdout", hint="give dest=DIR")
            tmp = work / f"out-{spec.type}.tar"
            export_image(store, ref, tmp, fmt=fmt, source_date_epoch=epoch)
            assert out is not None
            _write_stream(tmp, out)
        else:
            assert spec.dest is not None
            export_image(store, ref, Path(spec.dest), fmt=fmt, source_date_epoch=epoch)
        return
    if spec.type in ("local", "tar"):
        states = [(o.platform, o.state) for o in solve.succeeded if o.state is not None]
        export_filesystem(
            store,
            states,
            None if to_stdout else Path(spec.dest or "."),
            as_tar=spec.type == "tar",
            epoch=opts.source_date_epoch,
            stream=out if to_stdout else None,
            work=work,
        )


def _metadata(desc: Descriptor | None, names: Sequence[str], solve: SolveResult) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if desc is not None:
        meta["containerimage.digest"] = str(desc.digest)
        meta["containerimage.descriptor"] = {
            "mediaType": desc.media_type,
            "digest": str(desc.digest),
            "size": desc.size,
        }
        if len(solve.succeeded) == 1 and solve.succeeded[0].image is not None:
            meta["containerimage.config.digest"] = str(solve.succeeded[0].image.config.digest)
    if names:
        meta["image.name"] = ",".join(names)
    meta["anyarch.platforms"] = {
        format_all(o.platform): {
            "status": o.status,
            "digest": str(o.image.descriptor.digest) if o.image is not None else None,
            "how": o.how,
            "seconds": round(o.seconds, 3),
            **({"error": o.error.message} if o.error is not None else {}),
        }
        for o in solve.outcomes
    }
    meta["anyarch.steps"] = {"run": solve.steps_run, "cached": solve.steps_cached}
    meta["anyarch.context"] = {"files_read": solve.context_files_read}
    return meta


def _failure(solve: SolveResult, keep_going: bool) -> AnyarchError | None:
    failed = solve.failed
    if not failed:
        return None
    if not solve.succeeded or not keep_going:
        first = next(
            (o.error for o in failed if o.error is not None and o.status == "failed"), None
        )
        return (
            first or failed[0].error or BuildError("the build failed", hint="see the output above")
        )
    names = ", ".join(format_all(o.platform) for o in failed)
    first = failed[0].error
    return BuildError(
        f"{len(failed)} of {len(solve.outcomes)} platforms failed ({names}): "
        f"{first.message if first else 'unknown error'}",
        hint="the image holds the platforms that succeeded; fix the failure and rebuild",
    )


def build(store: Store, opts: BuildOptions, events: BuildEvents | None = None) -> BuildResult:
    """Run a build and deliver its result (see the module docstring).

    Returns a :class:`BuildResult` also when platforms failed (its
    ``error`` is set; call :meth:`BuildResult.raise_for_failure`), so the
    caller can show which; errors before any step runs are raised.
    """
    ev: BuildEvents = events or NoEvents()
    pushing = opts.push or any(o.push for o in opts.outputs)
    if pushing and not opts.tags:
        raise UsageError(
            "--push needs a name to push to",
            hint="add -t REGISTRY/REPOSITORY:TAG",
        )
    for tag in opts.tags:
        parse_reference(tag)  # a bad -t fails before the build, not after it
    epoch = _epoch_default(opts)
    if epoch is not None and epoch != opts.source_date_epoch:
        opts = dataclasses.replace(opts, source_date_epoch=epoch)
    fast = opts.fast
    if fast is not None and not _fast_eligible(opts):
        # e.g. --no-cache: its result replaces the cached one, so the old record must go
        fastpath.forget(store.root, fast)
        fast = None
    recorder: _Recorder | None = None
    if fast is not None:
        try:
            fast.context_fingerprint()  # before the build: an edit during it must not be recorded
            recorder = _Recorder(ev)
            ev = recorder
        except fastpath.Miss:
            fast = None
    with store.layout.writing():
        session = Session.create(
            store,
            context_dir=None,
            dockerfile=str(opts.dockerfile_path or "Dockerfile"),
            secrets={s.id: s for s in opts.secrets},
            network=opts.network,
            compression=opts.compression,
            epoch=epoch,
            binfmt_dir=opts.binfmt_dir,
            stat_cache=StatCache(cache_dir(store) / "stat.db"),
        )
        try:
            with _context_dir(opts, session.work) as context, BuildCache(store) as cache:
                session.context_dir = context
                session.cache = cache
                request = BuildRequest(
                    dockerfile=opts.dockerfile,
                    dockerfile_name=opts.dockerfile_name,
                    platforms=tuple(normalize(p) for p in opts.platforms),
                    build_args=opts.build_args,
                    target=opts.target,
                    labels=opts.labels,
                    no_cache=opts.no_cache,
                    keep_going=opts.keep_going,
                    jobs=opts.jobs,
                    docker_media_types=opts.index_format == "docker",
                    all_platforms=opts.all_platforms,
                )
                provider = store_image_provider(store, opts.registry, pull=opts.pull, events=ev)
                if recorder is not None:
                    provider = recorder.noting_bases(provider)
                if opts.build_contexts:
                    provider = with_named_contexts(
                        provider, store, opts.build_contexts, session.stat_cache
                    )
                solver = Solver(
                    session,
                    request,
                    provider,
                    events=ev,
                    cache=cache,
                    platform_lister=platform_lister(store, opts.registry),
                    remote_cache=remote_cache(store, opts.cache_from, opts.registry, ev)
                    if opts.cache_from
                    else None,
                )
                solve = solver.solve()
                solve.context_files_read = session.context_files_read
                if opts.cache_to and solve.plan is not None:
                    export_cache(
                        store,
                        opts.cache_to,
                        [
                            (
                                o.platform,
                                solver.platform_records(solve.plan.for_platform(o.platform)),
                            )
                            for o in solve.succeeded
                        ],
                        opts.registry,
                        ev,
                    )
                result = _deliver(store, opts, solve, session.work)
                if fast is not None and recorder is not None:
                    _remember(store, fast, opts, result, recorder)
                return result
        finally:
            session.close()


def _fast_eligible(opts: BuildOptions) -> bool:
    """Whether a record of this build could stand in for it (see :mod:`anyarch.api.fastpath`)."""
    return not (
        opts.no_cache
        or opts.pull
        or opts.push
        or opts.outputs
        or opts.secrets
        or opts.build_contexts
        or opts.cache_to
        or opts.cache_from
        or opts.context_tar is not None
    )


class _Recorder:
    """Passes build events on, keeping what a replay re-emits and the base images resolved."""

    def __init__(self, inner: BuildEvents) -> None:
        self.inner = inner
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.bases: set[str] = set()
        self._lock = threading.Lock()

    def on_step(self, event: StepEvent) -> None:
        if event.status == "done":
            info: StepInfo = event.info
            doc = {
                "plan_key": info.plan_key,
                "key": info.key,
                "text": info.text,
                "stage": info.stage,
                "kind": info.kind,
                "platform": format_all(info.platform),
                "targets": [format_all(p) for p in info.targets],
                "label": info.label,
            }
            with self._lock:
                self.events.append(("step", doc))
        self.inner.on_step(event)

    def on_log(self, info: StepInfo, line: str) -> None:
        self.inner.on_log(info, line)

    def on_platform(self, outcome: PlatformOutcome) -> None:
        if outcome.status == "ok" and outcome.image is not None:
            doc = {
                "platform": format_all(outcome.platform),
                "how": outcome.how,
                "digest": str(outcome.image.descriptor.digest),
            }
            with self._lock:
                self.events.append(("platform", doc))
        self.inner.on_platform(outcome)

    def on_note(self, text: str) -> None:
        self.inner.on_note(text)

    def noting_bases(self, provide: Any) -> Any:
        """Wrap an image provider so every base image it resolves is remembered."""

        def resolve(ref: str, platform: Platform) -> BaseImage:
            base: BaseImage = provide(ref, platform)
            with self._lock:
                self.bases.add(ref)
            return base

        return resolve


def _fetches_urls(events: Sequence[tuple[str, Mapping[str, Any]]]) -> bool:
    """Whether a step downloads (``ADD https://...``, ``ADD git@...``): what it reads is
    fetched anew by every build, so no record can stand in for one."""
    for kind, doc in events:
        text = str(doc.get("text", "")) if kind == "step" else ""
        if text[:3].upper() == "ADD" and ("://" in text or "git@" in text):
            return True
    return False


def _remember(
    store: Store,
    fast: fastpath.FastRequest,
    opts: BuildOptions,
    result: BuildResult,
    recorder: _Recorder,
) -> None:
    """Record a wholly successful build for the fast path; forget the old record otherwise."""
    desc = result.descriptor
    outcomes = result.outcomes
    if (
        fast.racy
        or _fetches_urls(recorder.events)
        or desc is None
        or result.error is not None
        or not outcomes
        or any(o.status != "ok" for o in outcomes)
        or len(result.names) != len(opts.tags)
    ):
        fastpath.forget(store.root, fast)
        return
    names = {e.name: str(e.descriptor.digest) for e in store.entries() if e.name is not None}
    bases: dict[str, str] = {}
    for ref in recorder.bases:
        try:
            name = str(parse_reference(ref))
        except AnyarchError:
            name = ref
        if name not in names:  # e.g. pinned by digest, not by name: cannot be checked cheaply
            fastpath.forget(store.root, fast)
            return
        bases[name] = names[name]
    fastpath.record(
        store.root,
        fast,
        result=desc.to_json(),
        blobs=[str(d.digest) for d in store.walk(desc)],
        bases=bases,
        tags=dict(zip(opts.tags, result.names, strict=True)),
        events=recorder.events,
        metadata=result.metadata,
    )


def _deliver(store: Store, opts: BuildOptions, solve: SolveResult, work: Path) -> BuildResult:
    ok = [o for o in solve.succeeded if o.image is not None]
    if solve.failed and not opts.keep_going:
        ok = []  # all or nothing, as buildx: only --keep-going delivers a partial index
    desc: Descriptor | None = None
    names: tuple[str, ...] = ()
    if ok:
        if len(solve.outcomes) == 1 and len(ok) == 1:
            assert ok[0].image is not None
            desc = ok[0].image.descriptor
        else:
            manifests = [o.image.descriptor for o in ok if o.image is not None]
            desc = write_index(store, manifests, docker=opts.index_format == "docker")
        names = _name_result(store, desc, opts.tags)
    error = _failure(solve, opts.keep_going)
    result = BuildResult(desc, names, solve, {}, error=error)
    if desc is not None:
        for spec in opts.outputs:
            if spec.type in ("image", "registry"):
                continue
            _export(store, spec, desc, names, solve, opts, work)
        if opts.push or any(o.push for o in opts.outputs):
            pushed = []
            for name in names:
                remote.push(store, name, opts.registry)
                pushed.append(name)
            result.pushed = tuple(pushed)
    result.metadata = _metadata(desc, names, solve)
    if opts.iidfile is not None and desc is not None:
        atomic_write_bytes(opts.iidfile, str(desc.digest).encode())
    if opts.metadata_file is not None:
        atomic_write_bytes(
            opts.metadata_file, (json.dumps(result.metadata, indent=2) + "\n").encode()
        )
    return result
