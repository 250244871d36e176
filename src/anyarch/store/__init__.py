"""The local content store: an OCI image layout on disk (see ``layout.py``).

The names below are imported on first use (PEP 562): the copy pipeline needs
:class:`Layout` only, and a copy between registries never opens the store, so
importing ``anyarch.store.layout`` must not load the store (and image-config) code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import sys

    # __import__ rather than importlib.import_module: -X importtime then shows the submodule
    __import__(f"{__name__}.{module}")
    value = getattr(sys.modules[f"{__name__}.{module}"], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
