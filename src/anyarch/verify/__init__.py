"""``anyarch verify``: is a built image (or index) really what its platforms claim?

A multi-architecture index is a promise: "pull me on an arm64 host and you get
arm64 binaries".  Nothing in the OCI model checks that promise: a registry
will happily store an index whose arm64 entry is the amd64 image, a config
saying ``amd64`` under an ``arm64`` descriptor, or an x86-64 binary copied
into an arm64 image from the build host.  Users find out at run time with
``exec format error``.  This package checks the promise before that:

* index structure: duplicate or ambiguous platforms, attestation and
  platform-less entries, Docker/OCI media types mixed;
* each image: its config's platform against its descriptor's, and the ELF
  headers of its entrypoint and of every file in the bin directories
  (architecture, 32/64-bit, byte order; for 32-bit ARM the float ABI and the
  CPU version), plus the dynamic loader they need;
* optional deployment profiles (``lambda``, ``cloudrun``, ``docker-v2``).

Layers are streamed once and never unpacked (:mod:`anyarch.verify.reader`);
distinct layers are read in parallel, so verifying an index costs about one
decompression pass over its layers.  The API takes any
:class:`~anyarch.transfer.Source` (the store, an OCI layout, a registry
repository); :func:`verify_reference` resolves a user's reference the way the
CLI does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from anyarch import transfer
from anyarch.api.remote import (
    RegistryLocation,
    RegistryOptions,
    Resolved,
    open_source,
    parse_location,
)
from anyarch.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    InvalidInputError,
    NotFoundError,
    PlatformNotFoundError,
    RegistryError,
)
from anyarch.name import parse_reference
from anyarch.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatype, parse_document
from anyarch.oci.platform import Platform, format_all, normalize_arch
from anyarch.store import Store
from anyarch.verify.reader import LayerScan, Tree, scan_layer
from anyarch.verify.rules import (
    PROFILES,
    RULES,
    Entry,
    Finding,
    Severity,
    check_binaries,
    check_config_platform,
    check_index,
    check_media_types,
    check_profile,
    is_attestation,
)

__all__ = [
    "PROFILES",
    "RULES",
    "Entry",
    "Finding",
    "Report",
    "Severity",
    "open_target",
    "verify",
    "verify_reference",
]

_MAX_NESTING = 4


@dataclass(slots=True)
class Report:
    """What ``verify`` found: the target, every entry it looked at, and the findings."""

    name: str
    descriptor: Descriptor
    profile: str
    entries: list[Entry]
    findings: list[Finding] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def failed(self, strict: bool = False) -> bool:
        """Errors fail; with ``strict`` warnings do too (info never does)."""
        return self.count(Severity.ERROR) > 0 or (strict and self.count(Severity.WARNING) > 0)

    def exit_code(self, strict: bool = False) -> int:
        """0 when the image passes, 1 when it does not (as ``anyarch check`` uses 1)."""
        return 1 if self.failed(strict) else 0

    @property
    def images(self) -> list[Entry]:
        """The entries that are images (attestations and artifacts left out)."""
        return [e for e in self.entries if not is_attestation(e.descriptor)]

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        """The ``--format json`` document; its keys are a stable interface for CI scripts."""
        return {
            "reference": self.name,
            "digest": str(self.descriptor.digest),
            "mediaType": self.descriptor.media_type,
            "profile": self.profile,
            "entries": [
                {
                    "platform": e.label,
                    "digest": str(e.descriptor.digest),
                    "mediaType": e.descriptor.media_type,
                    "verified": e.verified,
                    "layers": e.layers,
                    "filesChecked": e.files_checked,
                }
                for e in self.images
            ],
            "findings": [f.to_json() for f in self.findings],
            "summary": {
                "errors": self.count(Severity.ERROR),
                "warnings": self.count(Severity.WARNING),
                "info": self.count(Severity.INFO),
            },
            "ok": not self.failed(strict),
        }


# --- reading ----------------------------------------------------------------------------


def _read_document(source: transfer.Source, desc: Descriptor) -> bytes:
    raw = source.read_manifest(desc)
    desc.digest.verify(raw, what=f"manifest {desc.digest}")
    return raw


def _read_config(source: transfer.Source, desc: Descriptor) -> ImageConfig:
    with source.open_blob(desc) as fh:
        raw = fh.read()
    desc.digest.verify(raw, what=f"config {desc.digest}")
    return ImageConfig.from_bytes(raw)


def _collect(
    source: transfer.Source,
    desc: Descriptor,
    raw: bytes,
    indexes: list[Index],
    entries: list[Entry],
    parent: Index | None,
    depth: int,
) -> None:
    """Flatten the target into image entries (nested indexes are followed a few levels)."""
    doc = parse_document(raw, desc.media_type)
    if isinstance(doc, Manifest):
        entries.append(Entry(desc, parent, manifest=doc))
        return
    indexes.append(doc)
    for d in doc.manifests:
        if mediatype.is_index(d.media_type) and depth < _MAX_NESTING:
            try:
                child = _read_document(source, d)
            except NotFoundError:
                entries.append(Entry(d, doc))
                continue
            _collect(source, d, child, indexes, entries, doc, depth + 1)
        else:
            entries.append(Entry(d, doc))


def _norm3(p: Platform) -> tuple[str, str, str]:
    arch, variant = normalize_arch(p.architecture, p.variant)
    return p.os.lower(), arch, variant


def _select(entries: list[Entry], platforms: Sequence[Platform] | None, name: str) -> list[Entry]:
    images = [e for e in entries if not is_attestation(e.descriptor)]
    if not platforms:
        return images
    wanted = {_norm3(p) for p in platforms}
    chosen = [e for e in images if e.platform is None or _norm3(e.platform) in wanted]
    found = {_norm3(e.platform) for e in chosen if e.platform is not None}
    missing = [p for p in platforms if _norm3(p) not in found]
    if missing and not any(e.platform is None for e in chosen):
        have = ", ".join(e.label for e in images if e.label) or "none"
        raise PlatformNotFoundError(
            f"'{name}' has no {', '.join(format_all(p) for p in missing)} image (it has: {have})",
            hint="drop --platform, or pass one of the platforms it has",
        )
    return chosen


def _load(source: transfer.Source, entry: Entry) -> list[Finding]:
    """Read an entry's manifest and config; a finding (AV014) when the content is not here."""
    try:
        if entry.manifest is None:
            if not mediatype.is_manifest(entry.descriptor.media_type):
                return []
            raw = _read_document(source, entry.descriptor)
            doc = parse_document(raw, entry.descriptor.media_type)
            if not isinstance(doc, Manifest):
                return []
            entry.manifest = doc
        if not mediatype.is_config(entry.manifest.config.media_type):
            return [
                Finding(
                    "AV012",
                    Severity.INFO,
                    f"entry {entry.descriptor.digest.short} is an artifact "
                    f"({entry.manifest.artifact_type or entry.manifest.config.media_type}), not an image; not checked",
                    "nothing to do",
                    entry.label,
                    entry.descriptor.digest,
                )
            ]
        entry.config = _read_config(source, entry.manifest.config)
    except (BlobNotFoundError, ImageNotFoundError):
        return [_unavailable(entry)]
    return []


def _unavailable(entry: Entry) -> Finding:
    return Finding(
        "AV014",
        Severity.WARNING,
        f"the content of entry {entry.descriptor.digest.short} is not available here, so it was not checked",
        "fetch every platform (anyarch pull --all-platforms REF), or verify docker://REF",
        entry.label,
        entry.descriptor.digest,
    )


def _scan_all(
    source: transfer.Source, layers: dict[Digest, Descriptor], jobs: int
) -> dict[Digest, LayerScan | None]:
    """Read each distinct layer once, several at a time (decompression releases the GIL)."""

    def one(desc: Descriptor) -> LayerScan | None:
        try:
            with source.open_blob(desc) as fh:
                return scan_layer(fh, f"layer {desc.digest}")
        except BlobNotFoundError:
            return None

    if not layers:
        return {}
    workers = max(1, min(jobs, len(layers), os.cpu_count() or 1))
    if workers == 1:
        return {d: one(desc) for d, desc in layers.items()}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        results = pool.map(one, layers.values())
        return dict(zip(layers.keys(), results, strict=True))


def verify(
    source: transfer.Source,
    descriptor: Descriptor,
    raw: bytes,
    *,
    name: str,
    platforms: Sequence[Platform] | None = None,
    profile: str = "default",
    all_files: bool = False,
    jobs: int = 4,
) -> Report:
    """Check an image or index read from ``source``; ``raw`` is the root document's bytes.

    Raises :class:`~anyarch.errors.PlatformNotFoundError` when ``platforms``
    names a platform the target lacks, :class:`InvalidInputError` for an
    unknown profile, and the usual integrity errors for corrupt content; every
    problem with the image itself is a :class:`Finding` in the report.
    """
    if profile not in PROFILES:
        raise InvalidInputError(
            f"unknown verify profile {profile!r}", hint=f"use one of: {', '.join(PROFILES)}"
        )
    descriptor.digest.verify(raw, what=f"'{name}'")
    indexes: list[Index] = []
    entries: list[Entry] = []
    _collect(source, descriptor, raw, indexes, entries, None, 0)
    findings: list[Finding] = []
    for index in indexes:
        findings += check_index(index)
    selected = _select(entries, platforms, name)
    for e in selected:
        findings += _load(source, e)
    if platforms and not indexes:
        # A lone manifest: its platform is known only now, from the config.
        _select(selected, platforms, name)
    images = [e for e in selected if e.config is not None and e.manifest is not None]
    for e in images:
        findings += check_config_platform(e)
    layers: dict[Digest, Descriptor] = {}
    for e in images:
        assert e.manifest is not None
        for layer in e.manifest.layers:
            if mediatype.is_layer(layer.media_type):
                layers.setdefault(layer.digest, layer)
    scans = _scan_all(source, layers, jobs)
    for e in images:
        assert e.manifest is not None
        own = [scans.get(layer.digest) for layer in e.manifest.layers if layer.digest in layers]
        if any(s is None for s in own):
            findings.append(_unavailable(e))
            continue
        tree = Tree(s for s in own if s is not None)
        e.layers = len(own)
        findings += check_binaries(e, tree, all_files=all_files)
        e.verified = True
    findings += check_media_types(descriptor, indexes, selected)
    # docker-v2 is about the content that is there to push: the entries checked
    # (and the attestations riding along); lambda and cloudrun judge the whole index.
    chosen = {id(e) for e in selected}
    scoped = [e for e in entries if id(e) in chosen or is_attestation(e.descriptor)]
    findings += check_profile(
        profile, descriptor, indexes, scoped if profile == "docker-v2" else entries
    )
    findings.sort(key=lambda f: f.severity.rank)
    return Report(name, descriptor, profile, selected, findings)


# --- references ---------------------------------------------------------------------------


def open_target(store: Store, ref: str, opts: RegistryOptions) -> Resolved:
    """Where ``ref`` is: ``docker://``, ``oci:`` and ``store:`` say; a bare reference is
    looked up in the store first and fetched from its registry when the store lacks it."""
    if ref.startswith(("docker://", "oci:", "store:")):
        return open_source(parse_location(ref), store, opts)
    try:
        return open_source(parse_location(f"store:{ref}"), store, opts)
    except ImageNotFoundError:
        parsed = parse_reference(ref)
    try:
        return open_source(RegistryLocation(parsed), store, opts)
    except (RegistryError, NotFoundError) as e:
        # Say both places were tried: a mistyped local name must not read as a network fault.
        cls = ImageNotFoundError if isinstance(e, NotFoundError) else RegistryError
        raise cls(
            f"'{ref}' is not in the store, and {parsed.registry} answered: {e.message}",
            hint="'anyarch images' lists the store; docker://REF reads only the registry",
        ) from e


def verify_reference(
    store: Store,
    ref: str,
    opts: RegistryOptions | None = None,
    *,
    platforms: Sequence[Platform] | None = None,
    profile: str = "default",
    all_files: bool = False,
) -> Report:
    """Resolve ``ref`` (see :func:`open_target`) and :func:`verify` it."""
    opts = opts or RegistryOptions()
    target = open_target(store, ref, opts)
    try:
        return verify(
            target.endpoint,
            target.descriptor,
            target.raw,
            name=target.name,
            platforms=platforms,
            profile=profile,
            all_files=all_files,
            jobs=opts.jobs,
        )
    finally:
        client = getattr(target.endpoint, "client", None)
        if client is not None:
            client.close()
