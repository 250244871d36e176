"""Reading a manifest-or-index whose kind is known only from its media type (or not at all).

A registry answers a manifest request with either kind, and an OCI layout's
``index.json`` may point at either; callers want one entry point that picks
the right parser.  Dispatch is on the media type served with the bytes, then
on the document's own ``mediaType``, then on its shape ("manifests" → index,
"config" + "layers" → manifest), the same order containerd uses.
"""

from __future__ import annotations

from anyarch.errors import UnsupportedMediaTypeError
from anyarch.oci import mediatype
from anyarch.oci._jsonread import load_object
from anyarch.oci.index import Index
from anyarch.oci.manifest import Manifest

__all__ = ["MAX_MANIFEST_SIZE", "parse_document"]

#: The distribution spec lets registries refuse manifests over 4 MiB, and
#: readers refuse to buffer more than that from any source.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


def parse_document(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse ``raw`` as a :class:`Manifest` or an :class:`Index`.

    Raises :class:`UnsupportedMediaTypeError` for schema 1 or a media type that
    is neither, :class:`InvalidDocumentError` for a malformed document.
    """
    if media_type is not None:
        mediatype.check_document(media_type)
        if mediatype.is_index(media_type):
            return Index(raw, media_type)
        return Manifest(raw, media_type)
    obj = load_object(raw, "manifest or index")
    inner = obj.get("mediaType")
    if isinstance(inner, str):
        mediatype.check_document(inner)
        return Index(raw) if mediatype.is_index(inner) else Manifest(raw)
    if obj.get("schemaVersion") == 1:
        mediatype.check_document(mediatype.DOCKER_SCHEMA1_MANIFEST)
    if "manifests" in obj:
        return Index(raw)
    if "config" in obj and "layers" in obj:
        return Manifest(raw)
    raise UnsupportedMediaTypeError(
        "cannot tell whether this document is a manifest or an index: it has no mediaType, "
        "no 'manifests' and no 'config'+'layers'",
        hint="pass the media type it was served with",
    )
