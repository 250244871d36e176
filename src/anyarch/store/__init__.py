"""The local content store: an OCI image layout on disk (see ``layout.py``)."""

from anyarch.store.layout import Layout, StoredImage, default_store_root
from anyarch.store.store import ImageSummary, ResolvedImage, Store

__all__ = ["ImageSummary", "Layout", "ResolvedImage", "Store", "StoredImage", "default_store_root"]
