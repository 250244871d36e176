"""Image indexes (OCI index, Docker manifest list): one entry per platform.

The multi-architecture image anyarch exists to produce.  Like
:class:`~anyarch.oci.manifest.Manifest`, an :class:`Index` is built from its
exact bytes so its digest is the registry's; changing it (:meth:`Index.with_manifest`,
:meth:`Index.without`) yields a new index re-encoded canonically, keeping its
media type, annotations, subject and unknown top-level fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

from anyarch.errors import ImageNotFoundError, InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import _docbase, mediatype
from anyarch.oci._frozen import FrozenMap
from anyarch.oci._jsonread import Fields, load_object
from anyarch.oci.descriptor import Descriptor
from anyarch.oci.digest import Digest
from anyarch.oci.platform import Matcher, Platform, new_matcher

__all__ = ["Index", "PlatformQuery"]

_KNOWN = frozenset(
    {"schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"}
)

#: What :meth:`Index.find` accepts: a platform (matched as containerd does,
#: after normalisation), a :class:`~anyarch.oci.platform.Matcher`, or a predicate.
PlatformQuery = Platform | Matcher | Callable[[Platform], bool]


def _predicate(
    query: PlatformQuery,
) -> tuple[Callable[[Platform], bool], Callable[[Platform, Platform], bool] | None]:
    if isinstance(query, Platform):
        query = new_matcher(query)
    less = getattr(query, "less", None)
    match = getattr(query, "match", None)
    if callable(match):
        return match, less if callable(less) else None
    if callable(query):
        return query, None
    raise TypeError(f"cannot match platforms with {query!r}")


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """An image index: ``raw`` bytes and the fields parsed from them.

    Construct with :meth:`from_bytes` (or ``Index(raw, media_type)``) or
    :meth:`build`.  Two indexes are equal when their bytes are.
    """

    raw: bytes = field(repr=False)
    declared_media_type: InitVar[str | None] = None
    schema_version: int = field(init=False)
    media_type: str = field(init=False)
    manifests: tuple[Descriptor, ...] = field(init=False, repr=False)
    annotations: Mapping[str, str] = field(init=False, repr=False)
    subject: Descriptor | None = field(init=False, repr=False)
    artifact_type: str | None = field(init=False)
    extra: Mapping[str, Any] = field(init=False, repr=False)
    digest: Digest = field(init=False)

    def __post_init__(self, declared_media_type: str | None) -> None:
        raw = _docbase.as_bytes(self.raw, "index")
        f = Fields(load_object(raw, "index"), "index")
        if "manifests" not in f.obj and "config" in f.obj:
            raise UnsupportedMediaTypeError(
                "invalid index: this is an image manifest (it has 'config'), not an index",
                hint="parse it with Manifest.from_bytes or parse_document",
            )
        media_type = _docbase.media_type_of(f, declared_media_type, "index")
        manifests = f.opt_list("manifests")
        if manifests is None:
            f.missing("manifests")
        values: dict[str, Any] = {
            "raw": raw,
            "schema_version": 2,
            "media_type": media_type,
            "manifests": tuple(
                Descriptor.from_json(m, what="index", path=f"manifests[{i}]")
                for i, m in enumerate(manifests)
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
    def from_bytes(cls, raw: bytes, media_type: str | None = None) -> Index:
        """Parse and check ``raw``; ``media_type`` is what it was served as (e.g. Content-Type)."""
        return cls(raw, media_type)

    @classmethod
    def build(
        cls,
        manifests: Sequence[Descriptor],
        *,
        media_type: str = mediatype.OCI_INDEX,
        annotations: Mapping[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Index:
        """A new index in canonical JSON that image-spec's validator accepts.

        A Docker manifest list needs a platform on every entry (Docker's spec
        requires it); an OCI index does not.
        """
        media_type = _docbase.build_media_type(media_type, "index")
        if not all(isinstance(d, Descriptor) for d in manifests):
            raise InvalidDocumentError(
                "cannot build an index: its entries must be Descriptors",
                hint="use Manifest.descriptor(platform) for each image",
            )
        if media_type == mediatype.DOCKER_MANIFEST_LIST:
            bare = [str(d.digest) for d in manifests if d.platform is None]
            if bare:
                raise InvalidDocumentError(
                    f"cannot build a Docker manifest list: entry {bare[0]} has no platform",
                    hint="Docker manifest lists need a platform on every entry; "
                    "use an OCI index for entries without one",
                )
        _docbase.check_build_common(
            "an index", media_type, annotations, subject, artifact_type, extra, _KNOWN
        )
        doc = _docbase.document_json(
            media_type,
            {"manifests": [d.to_json() for d in manifests]},
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
            extra=extra,
        )
        return cls(_docbase.encode_built(doc, media_type, "index"), media_type)

    def _rebuild(self, manifests: Sequence[Descriptor]) -> Index:
        return Index.build(
            manifests,
            media_type=self.media_type,
            annotations=self.annotations,
            subject=self.subject,
            artifact_type=self.artifact_type,
            extra=self.extra,
        )

    @property
    def size(self) -> int:
        """Length of ``raw``: the size a descriptor of this index states."""
        return len(self.raw)

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """The platforms of the entries that have one, in index order."""
        return tuple(d.platform for d in self.manifests if d.platform is not None)

    def with_manifest(self, desc: Descriptor) -> Index:
        """This index with ``desc`` added; an entry with the same digest is replaced in place."""
        entries = list(self.manifests)
        for i, d in enumerate(entries):
            if d.digest == desc.digest:
                entries[i] = desc
                return self._rebuild(entries)
        return self._rebuild([*entries, desc])

    def without(self, digest: Digest | str) -> Index:
        """This index without the entries for ``digest``; raises if there are none."""
        target = digest if isinstance(digest, Digest) else Digest.parse(digest)
        kept = [d for d in self.manifests if d.digest != target]
        if len(kept) == len(self.manifests):
            raise ImageNotFoundError(
                f"index {self.digest.short} has no entry {target}",
                hint="its entries are: "
                + (", ".join(str(d.digest) for d in self.manifests) or "none"),
            )
        return self._rebuild(kept)

    def find_all(self, query: PlatformQuery) -> tuple[Descriptor, ...]:
        """Entries whose platform matches ``query``, best first when it ranks platforms."""
        match, less = _predicate(query)
        hits = [d for d in self.manifests if d.platform is not None and match(d.platform)]
        if less is not None:
            ranked: list[Descriptor] = []
            for d in hits:  # stable insertion: ties keep index order
                at = len(ranked)
                while at > 0 and less(d.platform, ranked[at - 1].platform):  # type: ignore[arg-type]
                    at -= 1
                ranked.insert(at, d)
            hits = ranked
        return tuple(hits)

    def find(self, query: PlatformQuery) -> Descriptor | None:
        """The entry for ``query`` (a Platform, Matcher or predicate), or ``None``."""
        hits = self.find_all(query)
        return hits[0] if hits else None

    def to_json(self) -> dict[str, Any]:
        """The parsed view as a JSON object (unknown top-level fields included)."""
        return _docbase.document_json(
            self.media_type,
            {"manifests": [d.to_json() for d in self.manifests]},
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
        """A descriptor pointing at this index (e.g. for ``index.json`` of a layout)."""
        return _docbase.descriptor_of(self, platform, annotations)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Index):
            return self.raw == other.raw
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.digest)
