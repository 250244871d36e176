"""Media types of OCI and Docker documents and blobs, and questions about them.

Registries and stores decide how to treat a blob by its media type alone, so
every module asks these helpers instead of comparing strings itself: one place
knows that a Docker manifest list is an index, that a foreign layer is a layer,
and that schema 1 is recognised but refused.  Helpers ignore media-type
parameters (``…+json; charset=utf-8`` as some registries send in Content-Type).
"""

from __future__ import annotations

import re
from typing import Literal

from anyarch.errors import UnsupportedMediaTypeError

# --- OCI image-spec ---------------------------------------------------------

OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
#: Alias of :data:`OCI_EMPTY` under the name the spec text uses ("empty JSON").
EMPTY_JSON = OCI_EMPTY

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# --- Docker image manifest v2 (schema 2) ------------------------------------

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_TAR = "application/vnd.docker.image.rootfs.foreign.diff.tar"

# --- Docker schema 1: recognised so it can be refused with a useful message --

DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

_INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})
_SCHEMA1 = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED})
_FOREIGN = frozenset(
    {
        DOCKER_FOREIGN_LAYER,
        DOCKER_FOREIGN_LAYER_TAR,
        OCI_LAYER_NONDIST,
        OCI_LAYER_NONDIST_GZIP,
        OCI_LAYER_NONDIST_ZSTD,
    }
)
_COMPRESSION: dict[str, Literal["gzip", "zstd"] | None] = {
    OCI_LAYER: None,
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: None,
    OCI_LAYER_NONDIST_GZIP: "gzip",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER: "gzip",
    DOCKER_LAYER_TAR: None,
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: "gzip",
    DOCKER_FOREIGN_LAYER_TAR: None,
}

# RFC 6838 restricted-name, as image-spec's defs-descriptor.json#/definitions/mediaType.
_GRAMMAR = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z"
)


def essence(mt: str) -> str:
    """``mt`` without parameters and surrounding blanks: ``type/subtype``."""
    return mt.split(";", 1)[0].strip()


def is_valid(mt: str) -> bool:
    """Whether ``mt`` is a well-formed ``type/subtype`` (no parameters), as descriptors need."""
    return isinstance(mt, str) and _GRAMMAR.match(mt) is not None


def is_index(mt: str) -> bool:
    """An OCI image index or a Docker manifest list."""
    return essence(mt) in _INDEXES


def is_manifest(mt: str) -> bool:
    """An image manifest anyarch can read: OCI, or Docker schema 2 (not schema 1)."""
    return essence(mt) in _MANIFESTS


def is_config(mt: str) -> bool:
    """An image configuration (OCI or Docker)."""
    return essence(mt) in _CONFIGS


def is_layer(mt: str) -> bool:
    """A filesystem layer (OCI, non-distributable, Docker, foreign)."""
    return essence(mt) in _COMPRESSION


def is_foreign(mt: str) -> bool:
    """A layer that registries need not store (Docker foreign, OCI non-distributable)."""
    return essence(mt) in _FOREIGN


def is_docker(mt: str) -> bool:
    """A Docker (``application/vnd.docker.…``) media type rather than an OCI one."""
    return essence(mt).startswith("application/vnd.docker.")


def is_schema1(mt: str) -> bool:
    """A Docker schema 1 manifest: recognised, never supported."""
    return essence(mt) in _SCHEMA1


def layer_compression(mt: str) -> Literal["gzip", "zstd"] | None:
    """How a layer blob of this media type is compressed; ``None`` for a plain tar.

    Raises :class:`UnsupportedMediaTypeError` for a media type that is not a
    layer, so that an unknown blob is never unpacked as if it were a tar.
    """
    key = essence(mt)
    if key not in _COMPRESSION:
        raise UnsupportedMediaTypeError(
            f"{mt!r} is not a layer media type anyarch can unpack",
            hint="layers are application/vnd.oci.image.layer.v1.tar[+gzip|+zstd] "
            "or application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    return _COMPRESSION[key]


def check_document(mt: str) -> None:
    """Raise :class:`UnsupportedMediaTypeError` unless ``mt`` is a manifest or index anyarch reads."""
    if is_manifest(mt) or is_index(mt):
        return
    if is_schema1(mt):
        raise UnsupportedMediaTypeError(
            f"Docker schema 1 manifests ({essence(mt)}) are not supported",
            hint="schema 1 is deprecated; re-push the image with a current Docker or anyarch "
            "to get a schema 2 or OCI manifest",
        )
    raise UnsupportedMediaTypeError(
        f"{mt!r} is not an image manifest or index media type",
        hint=f"expected one of {OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}",
    )
