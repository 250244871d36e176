"""Image manifests (OCI, and Docker schema 2): one platform's config and layers.

A manifest is addressed by the sha256 of its exact bytes, so :class:`Manifest`
is built *from* bytes: the parsed fields are derived from ``raw`` when the
object is created and can never drift from it (``dataclasses.replace`` cannot
touch them).  ``digest`` is therefore always the digest of what a registry
serves, never of a re-encoding.  New manifests come from :meth:`Manifest.build`,
which writes canonical JSON and checks it with :mod:`anyarch.oci.validate`, so
anyarch never produces a manifest that image-spec's validator rejects.

Reading is lenient where the ecosystem is (an empty ``layers`` list, as
BuildKit writes for ``FROM scratch``) and strict where safety needs it
(supported digests, sizes, no duplicate keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

from anyarch.errors import InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import _docbase, mediatype
from anyarch.oci._frozen import FrozenMap
from anyarch.oci._jsonread import Fields, load_object
from anyarch.oci.descriptor import Descriptor
from anyarch.oci.digest import Digest
from anyarch.oci.platform import Platform

__all__ = ["Manifest"]

_KNOWN = frozenset(
    {"schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations"}
)


@dataclass(frozen=True, slots=True, eq=False)
class Manifest:
    """An image manifest: ``raw`` bytes and the fields parsed from them.

    Construct with :meth:`from_bytes` (or ``Manifest(raw, media_type)``) or
    :meth:`build`.  Two manifests are equal when their bytes are.
    """

    raw: bytes = field(repr=False)
    declared_media_type: InitVar[str | None] = None
    schema_version: int = field(init=False)
    media_type: str = field(init=False)
    config: Descriptor = field(init=False, repr=False)
    layers: tuple[Descriptor, ...] = field(init=False, repr=False)
    annotations: Mapping[str, str] = field(init=False, repr=False)
    subject: Descriptor | None = field(init=False, repr=False)
    artifact_type: str | None = field(init=False)
    extra: Mapping[str, Any] = field(init=False, repr=False)
    digest: Digest = field(init=False)

    def __post_init__(self, declared_media_type: str | None) -> None:
        raw = _docbase.as_bytes(self.raw, "manifest")
        f = Fields(load_object(raw, "manifest"), "manifest")
        if "manifests" in f.obj and "config" not in f.obj:
            raise UnsupportedMediaTypeError(
                "invalid manifest: this is an image index (it has 'manifests'), not a manifest",
                hint="parse it with Index.from_bytes or parse_document",
            )
        media_type = _docbase.media_type_of(f, declared_media_type, "manifest")
        config = f.obj.get("config")
        if config is None:
            f.missing("config")
        if not isinstance(config, Mapping):
            f.wrong("config", "an object")
        layers = f.opt_list("layers")
        if layers is None:
            f.missing("layers")
        values: dict[str, Any] = {
            "raw": raw,
            "schema_version": 2,
            "media_type": media_type,
            "config": Descriptor.from_json(config, what="manifest", path="config"),
            "layers": tuple(
                Descriptor.from_json(layer, what="manifest", path=f"layers[{i}]")
                for i, layer in enumerate(layers)
            ),
            "annotations": FrozenMap(f.opt_str_map("annotations") or {}),
            "subject": _docbase.read_subject(f),
            "artifact_type": _docbase.read_artifact_type(f),
            "extra": _docbase.read_extra(f, _KNOWN),
            "digest": Digest.of(raw),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        """Parse and check ``raw``; ``media_type`` is what it was served as (e.g. Content-Type)."""
        return cls(raw, media_type)

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Sequence[Descriptor],
        *,
        media_type: str = mediatype.OCI_MANIFEST,
        annotations: Mapping[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """A new manifest in canonical JSON that image-spec's validator accepts.

        Raises :class:`InvalidDocumentError` when the result would not be
        valid: e.g. no layers (the image-spec schema needs at least one), or a
        descriptor URL that is not absolute.
        """
        media_type = _docbase.build_media_type(media_type, "manifest")
        if not isinstance(config, Descriptor) or not all(isinstance(d, Descriptor) for d in layers):
            raise InvalidDocumentError(
                "cannot build a manifest: config and layers must be Descriptors",
                hint="make them with Descriptor(...) or Descriptor.of(...)",
            )
        if not layers:
            raise InvalidDocumentError(
                "cannot build a manifest without layers: image-spec requires at least one",
                hint="for an image with no files add an empty tar layer; for an artifact "
                "use oci.EMPTY_JSON_DESCRIPTOR as the layer",
            )
        _docbase.check_build_common(
            "a manifest", media_type, annotations, subject, artifact_type, extra, _KNOWN
        )
        doc = _docbase.document_json(
            media_type,
            {"config": config.to_json(), "layers": [d.to_json() for d in layers]},
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
            extra=extra,
        )
        return cls(_docbase.encode_built(doc, media_type, "manifest"), media_type)

    @property
    def size(self) -> int:
        """Length of ``raw``: the size a descriptor of this manifest states."""
        return len(self.raw)

    def to_json(self) -> dict[str, Any]:
        """The parsed view as a JSON object (unknown top-level fields included)."""
        return _docbase.document_json(
            self.media_type,
            {"config": self.config.to_json(), "layers": [d.to_json() for d in self.layers]},
            annotations=self.annotations,
            subject=self.subject,
            artifact_type=self.artifact_type,
            extra=self.extra,
            schema_version=self.schema_version,
        )

    def descriptor(
        self,
        platform: Platform | None = None,
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> Descriptor:
        """A descriptor pointing at this manifest, e.g. for an index entry."""
        return _docbase.descriptor_of(self, platform, annotations)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Manifest):
            return self.raw == other.raw
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.digest)
