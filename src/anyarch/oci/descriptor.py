"""Content descriptors: what a manifest or index says about a blob it points to.

A descriptor is the only thing standing between a reference and the bytes it
names, so it is checked when built: a well-formed media type, a supported
digest, a non-negative size, and — when the content is embedded in ``data`` —
data that really has that digest and size.  ``to_json``/``from_json`` use the
OCI field names and omit empty optional fields, as Go's image-spec types do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anyarch.errors import DigestMismatchError, InvalidDocumentError, InvalidInputError
from anyarch.oci import mediatype
from anyarch.oci._frozen import FrozenMap
from anyarch.oci._jsonread import Fields, fail
from anyarch.oci.digest import Digest
from anyarch.oci.platform import Platform

__all__ = ["EMPTY_JSON_DESCRIPTOR", "Descriptor"]

#: Largest size a descriptor may state (Go's int64).
MAX_SIZE = (1 << 63) - 1

# Go's base64.StdEncoding (what encoding/json uses for []byte): padded,
# standard alphabet; CR and LF are skipped anywhere.  A pattern, compiled (and cached
# by ``re``) on first use: few descriptors carry ``data``.
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z"

_HINT = "a descriptor needs mediaType (type/subtype), digest (sha256:<hex>) and size (bytes)"


@dataclass(frozen=True, slots=True)
class Descriptor:
    """Points at a blob: its media type, digest and size, plus optional metadata."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=FrozenMap)
    platform: Platform | None = None
    artifact_type: str | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if not mediatype.is_valid(self.media_type):
            raise InvalidDocumentError(
                f"invalid descriptor media type {self.media_type!r}", hint=_HINT
            )
        if not isinstance(self.digest, Digest):
            raise InvalidDocumentError(
                f"descriptor digest must be a Digest, not {type(self.digest).__name__}",
                hint="use Digest.parse() on the string",
            )
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_SIZE
        ):
            raise InvalidDocumentError(
                f"invalid descriptor size {self.size!r} for {self.digest}", hint=_HINT
            )
        if not isinstance(self.urls, tuple):
            object.__setattr__(self, "urls", tuple(self.urls))
        if not all(isinstance(u, str) and u for u in self.urls):
            raise InvalidDocumentError(
                f"descriptor {self.digest}: urls must be non-empty strings", hint=_HINT
            )
        if not isinstance(self.annotations, FrozenMap):
            object.__setattr__(self, "annotations", FrozenMap(self.annotations))
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.annotations.items()):
            raise InvalidDocumentError(
                f"descriptor {self.digest}: annotations must map strings to strings", hint=_HINT
            )
        if self.platform is not None and not isinstance(self.platform, Platform):
            raise InvalidDocumentError(
                f"descriptor {self.digest}: platform must be a Platform", hint=_HINT
            )
        if self.artifact_type is not None and not mediatype.is_valid(self.artifact_type):
            raise InvalidDocumentError(
                f"descriptor {self.digest}: invalid artifactType {self.artifact_type!r}",
                hint=_HINT,
            )
        if self.data is not None:
            if not isinstance(self.data, bytes):
                object.__setattr__(self, "data", bytes(self.data))
            self._check_data()

    def _check_data(self) -> None:
        assert self.data is not None
        if len(self.data) != self.size:
            raise DigestMismatchError(
                f"descriptor {self.digest}: embedded data has {len(self.data)} bytes, "
                f"size says {self.size}",
                hint="the descriptor is corrupt; rebuild it with Descriptor.of()",
            )
        self.digest.verify(self.data, what=f"embedded data of descriptor {self.digest}")

    @classmethod
    def of(
        cls,
        content: bytes,
        media_type: str,
        *,
        embed: bool = False,
        **kwargs: Any,
    ) -> Descriptor:
        """The descriptor of ``content`` (sha256); ``embed`` puts the bytes in ``data``."""
        return cls(
            media_type,
            Digest.of(content),
            len(content),
            data=content if embed else None,
            **kwargs,
        )

    def verify(self, content: bytes) -> None:
        """Raise :class:`DigestMismatchError` unless ``content`` is what this descriptor names."""
        if len(content) != self.size:
            raise DigestMismatchError(
                f"content for {self.digest} has {len(content)} bytes, the descriptor says {self.size}",
                hint="the content is truncated or corrupt; fetch it again",
            )
        self.digest.verify(content, what=f"content for {self.digest}")

    def to_json(self) -> dict[str, Any]:
        """The OCI JSON object; empty optional fields are omitted."""
        out: dict[str, Any] = {"mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["digest"] = str(self.digest)
        out["size"] = self.size
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            import base64  # here and below: few descriptors embed data

            out["data"] = base64.b64encode(self.data).decode("ascii")
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def from_json(
        cls, d: Mapping[str, Any], *, what: str = "descriptor", path: str = ""
    ) -> Descriptor:
        """Read a descriptor object; errors name the document (``what``) and member (``path``)."""
        if not isinstance(d, Mapping):
            fail(what, f"{path or 'descriptor'} must be a JSON object")
        return _from_fields(cls, Fields(d, what, path))


def _from_fields(cls: type[Descriptor], f: Fields) -> Descriptor:
    media_type = f.req_str("mediaType")
    if not mediatype.is_valid(media_type):
        fail(f.what, f"{f.where('mediaType')} {media_type!r} is not a type/subtype media type")
    try:
        digest = Digest.parse(f.req_str("digest"))
    except InvalidInputError as e:
        fail(f.what, f"{f.where('digest')}: {e.message}", e.hint or _HINT)
    size = f.req_int("size")
    if not 0 <= size <= MAX_SIZE:
        fail(f.what, f"{f.where('size')} {size} is out of range")
    urls = f.opt_str_list("urls") or ()
    annotations = f.opt_str_map("annotations") or {}
    artifact_type = f.opt_str("artifactType")
    if artifact_type is not None and not mediatype.is_valid(artifact_type):
        fail(
            f.what, f"{f.where('artifactType')} {artifact_type!r} is not a type/subtype media type"
        )
    data: bytes | None = None
    encoded = f.opt_str("data")
    if encoded is not None:
        compact = encoded.replace("\r", "").replace("\n", "")
        if not re.match(_BASE64, compact):
            fail(f.what, f"{f.where('data')} is not padded standard base64")
        import base64
        import binascii

        try:
            data = base64.b64decode(compact, validate=True)
        except binascii.Error as e:  # pragma: no cover - the pattern already checked
            fail(f.what, f"{f.where('data')} is not base64: {e}")
    platform: Platform | None = None
    p = f.obj.get("platform")
    if p is not None:
        try:
            platform = Platform.from_json(p)
        except InvalidInputError as e:
            fail(f.what, f"{f.where('platform')}: {e.message}", e.hint or _HINT)
    try:
        return cls(
            media_type,
            digest,
            size,
            urls=urls,
            annotations=annotations,
            platform=platform,
            artifact_type=artifact_type,
            data=data,
        )
    except InvalidDocumentError as e:
        fail(f.what, f"{f.path or 'descriptor'}: {e.message}", e.hint or _HINT)


#: The descriptor of the empty JSON object ``{}`` (image-spec manifest.md "Guidance for an Empty Descriptor").
EMPTY_JSON_DESCRIPTOR = Descriptor.of(b"{}", mediatype.OCI_EMPTY, embed=True)
