"""anyarch.build: the solver side of ``anyarch build``.

This package turns a plan into images.  The modules here that feed COPY/ADD:

* :mod:`anyarch.build.ignore`: ``.dockerignore`` (and ``COPY --exclude``)
  matching, a port of Docker's own matcher so the same file means the same
  thing to ``docker build`` and ``anyarch build``;
* :mod:`anyarch.build.context`: the build context (or a stage rootfs) as a
  read-only, symlink-safe :class:`SourceTree`, the SQLite stat cache that lets
  a warm rebuild skip re-reading unchanged files, content digests, and
  unpacking a context sent as a tar;
* :mod:`anyarch.build.copy_sources`: resolving COPY/ADD arguments into the
  list of copy operations the builder materialises, plus their cache key.

The names below are re-exported for the builder's convenience.
"""

from __future__ import annotations

from anyarch.build.context import (
    ContextEscapeError,
    Entry,
    EntryKind,
    SourceTree,
    StatCache,
    context_digest,
    context_from_tar,
    open_context,
)
from anyarch.build.copy_sources import (
    CopyError,
    CopyOp,
    CopyPlan,
    CopySourceNotFoundError,
    normalize_dest,
    resolve_copy,
)
from anyarch.build.ignore import IgnoreMatcher, IgnorePatternError

__all__ = [
    "ContextEscapeError",
    "CopyError",
    "CopyOp",
    "CopyPlan",
    "CopySourceNotFoundError",
    "Entry",
    "EntryKind",
    "IgnoreMatcher",
    "IgnorePatternError",
    "SourceTree",
    "StatCache",
    "context_digest",
    "context_from_tar",
    "normalize_dest",
    "open_context",
    "resolve_copy",
]
