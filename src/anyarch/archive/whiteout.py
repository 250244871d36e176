"""Whiteouts: how a layer says "this path is gone", in both dialects we meet.

Two encodings of the same idea exist and anyarch translates between them:

* **OCI / AUFS** (in layer tars, image-spec ``layer.md``): an empty file
  ``DIR/.wh.NAME`` deletes ``DIR/NAME`` from the layers below, and
  ``DIR/.wh..wh..opq`` makes ``DIR`` opaque (nothing below shows through).
* **overlayfs** (in an upper directory after a ``RUN`` step): a deleted path is
  a character device 0/0, an opaque directory carries the xattr
  ``trusted.overlay.opaque=y`` (``user.overlay.opaque`` on ``userxattr`` mounts).

Keeping both here means the extractor and the diff writer cannot disagree on
a spelling, and the validation of whiteout names (which is security relevant:
``.wh..`` would otherwise name the parent directory) lives in one place.
"""

from __future__ import annotations

import errno
import os
import stat

from anyarch.errors import InvalidDocumentError

WHITEOUT_PREFIX = ".wh."
"""Prefix of an OCI whiteout file: ``.wh.NAME`` hides ``NAME``."""

WHITEOUT_META_PREFIX = ".wh..wh."
"""Prefix of AUFS metadata entries (``.wh..wh.plnk``, ``.wh..wh.aufs``); never content."""

OPAQUE_MARKER = ".wh..wh..opq"
"""Basename of the entry that makes its directory opaque."""

OVERLAY_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
"""Xattrs overlayfs sets on an upper directory that hides the lower one."""

OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
"""Overlayfs private xattrs: never copied into a layer, never set from one."""


class WhiteoutError(InvalidDocumentError):
    """A whiteout entry that cannot be honoured safely (e.g. ``.wh..``)."""


def is_whiteout(basename: str) -> bool:
    """True for any ``.wh.*`` name: a whiteout, an opaque marker or AUFS metadata.

    Such names are instructions, never files to create; the extractor must
    route every one of them here rather than write it into the rootfs.
    """
    return basename.startswith(WHITEOUT_PREFIX)


def is_opaque_marker(basename: str) -> bool:
    """True for ``.wh..wh..opq``."""
    return basename == OPAQUE_MARKER


def is_meta(basename: str) -> bool:
    """True for AUFS metadata entries other than the opaque marker (ignored on apply)."""
    return basename.startswith(WHITEOUT_META_PREFIX) and basename != OPAQUE_MARKER


def whiteout_target(basename: str, *, where: str = "") -> str:
    """The name a ``.wh.NAME`` entry deletes, refusing names that are not a child.

    ``.wh..`` and ``.wh...`` would name the directory itself or its parent and
    ``.wh.`` names nothing; containerd refuses these as an invalid archive, and
    so do we, because honouring them would delete outside the intended scope.
    """
    if not basename.startswith(WHITEOUT_PREFIX) or is_opaque_marker(basename):
        raise ValueError(f"not a plain whiteout: {basename!r}")
    target = basename[len(WHITEOUT_PREFIX) :]
    if target in ("", ".", "..") or "/" in target or "\0" in target:
        shown = where or basename
        raise WhiteoutError(
            f"layer entry {shown!r}: whiteout names no file in its directory",
            hint="the layer is malformed or malicious; rebuild or re-pull it",
        )
    return target


def whiteout_name(path: str) -> str:
    """The OCI whiteout entry path that deletes ``path`` (``a/b`` → ``a/.wh.b``)."""
    head, _, base = path.rpartition("/")
    return f"{head}/{WHITEOUT_PREFIX}{base}" if head else f"{WHITEOUT_PREFIX}{base}"


def opaque_marker_path(directory: str) -> str:
    """The OCI opaque marker entry path for ``directory`` (``""`` is the root)."""
    return f"{directory}/{OPAQUE_MARKER}" if directory else OPAQUE_MARKER


def is_overlay_whiteout(mode: int, rdev: int) -> bool:
    """True for an overlayfs whiteout: a character device with number 0/0 (from ``lstat``)."""
    return stat.S_ISCHR(mode) and rdev == 0


def _getxattr(path: str | int, name: str, follow: bool) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=follow)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES):
            return None
        raise


def is_overlay_opaque(path: str | int) -> bool:
    """True if the upper directory ``path`` (or open fd) is marked opaque by overlayfs.

    Reading ``trusted.*`` needs CAP_SYS_ADMIN; without it the check reads
    ``user.overlay.opaque`` only, which is what rootless (``userxattr``) mounts use.
    """
    for name in OVERLAY_OPAQUE_XATTRS:
        if _getxattr(path, name, isinstance(path, int)) == b"y":
            return True
    return False


def is_overlay_private_xattr(name: str) -> bool:
    """True for overlayfs-private xattr names, which must never cross a layer boundary.

    A layer that could set ``trusted.overlay.redirect`` or ``…opaque`` on a
    directory later used as an overlay lower could change what the mount shows.
    """
    return name.startswith(OVERLAY_XATTR_PREFIXES)
