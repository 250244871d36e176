"""The local content store: an OCI image layout on disk (see ``layout.py``).

The names below are imported on first use (PEP 562): the copy pipeline needs
:class:`Layout` only, and a copy between registries never opens the store, so
importing ``anyarch.store.layout`` must not load the store (and image-config) code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyarch._util.lazy import lazy_attributes

if TYPE_CHECKING:
    from anyarch.store.layout import Layout, StoredImage, default_store_root
    from anyarch.store.store import ImageSummary, ResolvedImage, Store

__all__ = ["ImageSummary", "Layout", "ResolvedImage", "Store", "StoredImage", "default_store_root"]

_WHERE = {
    "ImageSummary": "store",
    "Layout": "layout",
    "ResolvedImage": "store",
    "Store": "store",
    "StoredImage": "layout",
    "default_store_root": "layout",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
