"""The Python API the CLI (and farm nodes) call: one function per user-level job.

Each function works against a :class:`~anyarch.store.Store` and returns plain
values; printing is the CLI's business.
"""

from anyarch.api.local import Imported, export_image, gc, import_images
from anyarch.store.gc import GcResult

__all__ = ["GcResult", "Imported", "export_image", "gc", "import_images"]
