"""The store as users see it: named images, resolved by reference, digest or short ID.

Names are kept fully qualified (``docker.io/library/busybox:latest``); users
may type the familiar form (``busybox``) or a digest prefix, as with docker.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from anyarch.errors import ImageNotFoundError, InvalidReferenceError, PlatformNotFoundError
from anyarch.name import Reference, parse_reference
from anyarch.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatype, parse_document
from anyarch.oci.platform import (
    Platform,
    default_matcher,
    format_all,
    host_platform,
    only,
    select_best,
)
from anyarch.store.layout import REF_NAME, Layout, StoredImage, default_store_root

_HEX_PREFIX = re.compile(r"^(sha256:)?[0-9a-f]{4,64}$")


@dataclasses.dataclass(frozen=True, slots=True)
class ImageSummary:
    """One row of ``anyarch images``."""

    name: str | None
    descriptor: Descriptor
    platforms: tuple[Platform, ...]
    size: int
    created: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedImage:
    """A single-platform image: where it came from, its manifest and config."""

    name: str | None
    top: Descriptor  # what the name points to (an index or a manifest)
    descriptor: Descriptor  # the platform manifest
    manifest: Manifest
    config: ImageConfig


class Store:
    """The local image store (an OCI image layout)."""

    def __init__(self, root: Path | None = None, *, create: bool = True) -> None:
        self.layout = Layout(root or default_store_root(), create=create)
        self.blobs = self.layout.blobs

    @property
    def root(self) -> Path:
        return self.layout.root

    # -- documents ------------------------------------------------------------

    def document(self, desc: Descriptor) -> Manifest | Index:
        """The manifest or index a descriptor points to, digest-verified."""
        raw = self.blobs.read(desc.digest)
        return parse_document(raw, desc.media_type)

    def config(self, manifest: Manifest) -> ImageConfig:
        return ImageConfig.from_bytes(self.blobs.read(manifest.config.digest))

    def walk(self, desc: Descriptor) -> Iterator[Descriptor]:
        """``desc`` and every descriptor reachable from it that the store holds."""
        yield desc
        if not (mediatype.is_index(desc.media_type) or mediatype.is_manifest(desc.media_type)):
            return
        if not self.blobs.has(desc.digest):
            return
        doc = self.document(desc)
        if isinstance(doc, Index):
            for child in doc.manifests:
                yield from self.walk(child)
        else:
            yield doc.config
            yield from doc.layers
        if doc.subject is not None:
            yield doc.subject

    # -- names -------------------------------------------------------------------

    def entries(self) -> list[StoredImage]:
        return self.layout.entries()

    def lookup(self, ref: str) -> StoredImage:
        """Find a stored image by name, ``name@digest``, digest or unique ID prefix."""
        entries = self.entries()
        text = ref.strip()
        if _HEX_PREFIX.match(text):
            prefix = text.removeprefix("sha256:")
            hits = [e for e in entries if e.descriptor.digest.hex.startswith(prefix)]
            if not hits:
                hits = [e for e in entries if self._config_digest_of(e).hex.startswith(prefix)]
            uniq = {e.descriptor.digest for e in hits}
            if len(uniq) == 1:
                return hits[0]
            if len(uniq) > 1:
                raise InvalidReferenceError(
                    f"'{ref}' matches {len(uniq)} images",
                    hint="type more characters of the ID",
                )
            if len(prefix) < 64:
                raise ImageNotFoundError(
                    f"no image with ID '{ref}' in the store",
                    hint="'anyarch images' lists what the store holds",
                )
        parsed = parse_reference(text)
        return self._lookup_reference(parsed, ref)

    def _lookup_reference(self, parsed: Reference, original: str) -> StoredImage:
        entries = self.entries()
        full = str(parsed)
        for e in entries:
            if e.name == full:
                return e
        if parsed.digest:
            digest = Digest.parse(parsed.digest)
            for e in entries:
                if e.descriptor.digest == digest:
                    return StoredImage(full, e.descriptor)
            # a platform manifest inside a stored index
            for e in entries:
                for d in self.walk(e.descriptor):
                    if d.digest == digest and (
                        mediatype.is_manifest(d.media_type) or mediatype.is_index(d.media_type)
                    ):
                        return StoredImage(full, d)
        raise ImageNotFoundError(
            f"image '{original}' is not in the store",
            hint="'anyarch images' lists what the store holds; 'anyarch pull' fetches it",
        )

    def _config_digest_of(self, e: StoredImage) -> Digest:
        if mediatype.is_manifest(e.descriptor.media_type) and self.blobs.has(e.descriptor.digest):
            doc = self.document(e.descriptor)
            if isinstance(doc, Manifest):
                return doc.config.digest
        return e.descriptor.digest

    def tag(self, name: str, desc: Descriptor) -> str:
        """Point ``name`` (normalised) at ``desc``; returns the stored name."""
        full = str(parse_reference(name))
        entry = StoredImage(full, _strip_name(desc))

        def change(entries: list[StoredImage]) -> list[StoredImage]:
            out = [e for e in entries if e.name != full]
            # an unnamed entry for the same content is now redundant
            out = [e for e in out if not (e.name is None and e.descriptor.digest == desc.digest)]
            out.append(entry)
            return out

        self.layout.update_entries(change)
        return full

    def add_unnamed(self, desc: Descriptor) -> None:
        """Keep an image that has no name (a build without ``-t``)."""

        def change(entries: list[StoredImage]) -> list[StoredImage]:
            if any(e.descriptor.digest == desc.digest for e in entries):
                return entries
            return [*entries, StoredImage(None, _strip_name(desc))]

        self.layout.update_entries(change)

    def untag(self, ref: str) -> list[str]:
        """Remove a name (or every name of an ID); returns what was removed."""
        target = self.lookup(ref)
        by_id = _HEX_PREFIX.match(ref.strip()) is not None
        removed: list[str] = []

        def change(entries: list[StoredImage]) -> list[StoredImage]:
            out = []
            for e in entries:
                hit = (
                    e.descriptor.digest == target.descriptor.digest
                    if by_id or target.name is None
                    else e.name == target.name
                )
                if hit:
                    removed.append(e.name or str(e.descriptor.digest))
                else:
                    out.append(e)
            return out

        self.layout.update_entries(change)
        return removed

    # -- views -----------------------------------------------------------------

    def platforms(self, desc: Descriptor) -> tuple[Platform, ...]:
        """Platforms whose content the store holds (an index may be kept sparse)."""
        doc = self.document(desc)
        if isinstance(doc, Index):
            return tuple(
                m.platform
                for m in doc.manifests
                if m.platform is not None
                and m.platform.os != "unknown"
                and self.blobs.has(m.digest)
            )
        return (self.config(doc).platform,)

    def missing_platforms(self, desc: Descriptor) -> tuple[Platform, ...]:
        """Platforms an index lists whose manifests the store does not hold."""
        doc = self.document(desc)
        if not isinstance(doc, Index):
            return ()
        return tuple(
            m.platform or Platform("unknown", "unknown")
            for m in doc.manifests
            if not self.blobs.has(m.digest)
        )

    def summary(self, entry: StoredImage) -> ImageSummary:
        seen: set[Digest] = set()
        size = 0
        created: str | None = None
        for d in self.walk(entry.descriptor):
            if d.digest in seen:
                continue
            seen.add(d.digest)
            size += d.size
            if d.media_type in (mediatype.OCI_CONFIG, mediatype.DOCKER_CONFIG) and self.blobs.has(
                d.digest
            ):
                c = ImageConfig.from_bytes(self.blobs.read(d.digest))
                if c.created and (created is None or c.created > created):
                    created = c.created
        return ImageSummary(entry.name, entry.descriptor, self.platforms(entry.descriptor), size, created)

    def resolve(self, ref: str, platform: Platform | None = None) -> ResolvedImage:
        """The single-platform image ``ref`` names, choosing from an index by platform.

        Without ``platform`` the host's platform is used with containerd's
        fallbacks (an amd64 host takes 386, an arm64 host takes arm/v8…v5).
        """
        entry = self.lookup(ref)
        desc = entry.descriptor
        doc = self.document(desc)
        if isinstance(doc, Index):
            want = platform or host_platform()
            candidates = [
                m for m in doc.manifests if m.platform is not None and self.blobs.has(m.digest)
            ]
            matcher = default_matcher() if platform is None else only(want)
            idx = select_best([m.platform for m in candidates if m.platform], matcher)
            if idx is None:
                have = ", ".join(format_all(m.platform) for m in candidates if m.platform) or "none"
                listed = [m for m in doc.manifests if m.platform and only(want).match(m.platform)]
                raise PlatformNotFoundError(
                    f"image '{ref}' has no {format_all(want)} variant in the store (it has: {have})",
                    hint=(
                        f"anyarch pull --platform {format_all(want)} {ref}"
                        if listed
                        else "pass --platform with one of the platforms it has"
                    ),
                )
            desc = candidates[idx]
            doc = self.document(desc)
            if isinstance(doc, Index):
                raise ImageNotFoundError(
                    f"image '{ref}' nests an index for {format_all(want)}; nested indexes are not supported here",
                    hint="inspect it with 'anyarch manifest inspect'",
                )
        manifest = doc
        config = self.config(manifest)
        if platform is not None and not only(platform).match(config.platform):
            raise PlatformNotFoundError(
                f"image '{ref}' is {format_all(config.platform)}, not {format_all(platform)}",
                hint="drop --platform, or pick an image built for that platform",
            )
        return ResolvedImage(entry.name, entry.descriptor, desc, manifest, config)


def _strip_name(desc: Descriptor) -> Descriptor:
    if REF_NAME not in desc.annotations:
        return desc
    ann = {k: v for k, v in desc.annotations.items() if k != REF_NAME}
    return dataclasses.replace(desc, annotations=ann)
