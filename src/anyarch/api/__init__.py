"""The Python API the CLI (and farm nodes) call: one function per user-level job.

Each function works against a :class:`~anyarch.store.Store` and returns plain
values; printing is the CLI's business.

The names below are imported on first use (PEP 562): importing one submodule,
e.g. the build's fast path, must not pull in the store, transfer and archive code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyarch._util.lazy import lazy_attributes

if TYPE_CHECKING:
    from anyarch.api.local import Imported, export_image, gc, import_images
    from anyarch.store.gc import GcResult

__all__ = ["GcResult", "Imported", "export_image", "gc", "import_images"]

_WHERE = {
    "GcResult": "anyarch.store.gc",
    "Imported": "anyarch.api.local",
    "export_image": "anyarch.api.local",
    "gc": "anyarch.api.local",
    "import_images": "anyarch.api.local",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
