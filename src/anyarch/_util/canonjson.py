"""Canonical JSON encoding for documents anyarch writes.

Sorted keys, no insignificant whitespace, UTF-8 without escaping non-ASCII:
the same document always gives the same bytes, hence the same digest.  The
raw bytes of documents anyarch *reads* are never re-encoded (see ``oci``).
"""

from __future__ import annotations

import json
from typing import Any


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` canonically."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def dumps_pretty(obj: Any) -> str:
    """Human-facing JSON (docker's 4-space indent is not used: 3 spaces match docker manifest inspect)."""
    return json.dumps(obj, indent=3, ensure_ascii=False)
