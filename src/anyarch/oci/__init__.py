"""The OCI image model: pure values, no I/O.

Digests, media types, descriptors, manifests, indexes and image configs as
small immutable types (go-containerregistry's ``v1`` package is the model).
Documents keep the exact bytes they were read from beside the parsed view, so
a digest is always the sha256 of those bytes and never of a re-encoding; new
documents are built as canonical JSON and checked against image-spec's own
validation rules (:mod:`anyarch.oci.validate`).

The names below are imported on first use (PEP 562): ``anyarch copy`` needs
descriptors and indexes, not image configs (and ``datetime``), and every
command pays for what its start imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyarch._util.lazy import lazy_attributes

if TYPE_CHECKING:
    from anyarch.oci import mediatype, validate
    from anyarch.oci._frozen import FrozenMap
    from anyarch.oci.config import (
        ContainerConfig,
        HealthCheck,
        History,
        ImageConfig,
        RootFS,
        created_at,
    )
    from anyarch.oci.descriptor import EMPTY_JSON_DESCRIPTOR, Descriptor
    from anyarch.oci.digest import Digest
    from anyarch.oci.document import MAX_MANIFEST_SIZE, parse_document
    from anyarch.oci.index import Index
    from anyarch.oci.manifest import Manifest
    from anyarch.oci.platform import Platform

__all__ = [
    "EMPTY_JSON_DESCRIPTOR",
    "MAX_MANIFEST_SIZE",
    "ContainerConfig",
    "Descriptor",
    "Digest",
    "FrozenMap",
    "HealthCheck",
    "History",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "RootFS",
    "created_at",
    "mediatype",
    "parse_document",
    "validate",
]

#: public name -> the submodule defining it (a name mapped to itself is a submodule)
_WHERE = {
    "EMPTY_JSON_DESCRIPTOR": "descriptor",
    "MAX_MANIFEST_SIZE": "document",
    "ContainerConfig": "config",
    "Descriptor": "descriptor",
    "Digest": "digest",
    "FrozenMap": "_frozen",
    "HealthCheck": "config",
    "History": "config",
    "ImageConfig": "config",
    "Index": "index",
    "Manifest": "manifest",
    "Platform": "platform",
    "RootFS": "config",
    "created_at": "config",
    "mediatype": "mediatype",
    "parse_document": "document",
    "validate": "validate",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
