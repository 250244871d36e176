"""Results from nodes into the coordinator's store, and one index out of them.

Blobs arrive on the node's framed stream and go straight into the store
through its verifying writer: nothing whose bytes do not match its digest is
kept.  Before a platform counts as received, its manifest, config and layers
must all be present.  :func:`assemble_index` then writes one OCI index whose
entries are the per-platform manifests, in the order the platforms were asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from anyarch.errors import AnyarchError, InvalidDocumentError
from anyarch.oci import Descriptor, Digest, Index, Manifest, mediatype
from anyarch.store import Store


def missing_blobs(store: Store, blobs: Sequence[tuple[str, int]]) -> list[str]:
    """Digests among ``blobs`` the store lacks (what to ask the node for)."""
    out = []
    for digest, _size in blobs:
        try:
            d = Digest.parse(digest)
        except AnyarchError:
            raise InvalidDocumentError(
                f"node sent a malformed digest {digest!r}", hint="a bug or a version mismatch"
            ) from None
        if not store.blobs.has(d):
            out.append(str(d))
    return out


def check_complete(store: Store, image: Descriptor) -> None:
    """The manifest, its config and every distributable layer are in the store."""
    if not mediatype.is_manifest(image.media_type):
        raise InvalidDocumentError(
            f"{image.digest} is not an image manifest", hint="a bug or a version mismatch"
        )
    doc = store.document(image)
    if not isinstance(doc, Manifest):
        raise InvalidDocumentError(
            f"{image.digest} is not an image manifest", hint="a bug or a version mismatch"
        )
    for d in (doc.config, *doc.layers):
        if d.urls and mediatype.is_foreign(d.media_type):
            continue
        if not store.blobs.has(d.digest):
            raise InvalidDocumentError(
                f"image {image.digest} arrived without its blob {d.digest}",
                hint="run the build again",
            )


def assemble_index(images: Sequence[Descriptor]) -> Index:
    """One OCI index of the per-platform manifests (each descriptor carries its platform)."""
    return Index.build(list(images), media_type=mediatype.OCI_INDEX)


def store_index(store: Store, index: Index) -> Descriptor:
    """Write the index into the store; returns its descriptor."""
    with store.layout.writing():
        store.blobs.put(index.raw, index.digest)
    return Descriptor(media_type=mediatype.OCI_INDEX, digest=index.digest, size=len(index.raw))


__all__ = ["assemble_index", "check_complete", "missing_blobs", "store_index"]
