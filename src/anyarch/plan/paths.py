"""Path rules for WORKDIR, COPY destinations and mount targets (BuildKit's ``util/system``).

Where a file lands decides what the image contains, so these follow Go's
``path.Clean``/``path.Join`` (which differ from ``posixpath.normpath``: Go
folds a leading ``//``) and BuildKit's Windows handling: a ``C:`` drive
letter is stripped, other drives are refused, backslashes become slashes, and
the image config keeps Windows working directories with backslashes.
"""

from __future__ import annotations

__all__ = [
    "PathError",
    "go_base",
    "go_clean",
    "go_join",
    "is_abs",
    "normalize_path",
    "normalize_workdir",
    "to_slash",
]


class PathError(ValueError):
    """A path BuildKit refuses (Windows drive rules)."""


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: lexical, ``""`` becomes ``"."``, one leading ``/`` at most."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_base(path: str) -> str:
    """Go's ``path.Base``: last element, trailing slashes ignored; ``"."`` for empty."""
    if not path:
        return "."
    path = path.rstrip("/")
    if not path:
        return "/"
    return path.rsplit("/", 1)[-1]


def go_join(*elements: str) -> str:
    """Go's ``path.Join``: join the non-empty elements with ``/`` and clean."""
    joined = "/".join(e for e in elements if e)
    return go_clean(joined) if joined else ""


def to_slash(path: str, os: str) -> str:
    """Backslashes to slashes for Windows paths (no-op elsewhere)."""
    return path.replace("\\", "/") if os == "windows" else path


def _clean_keep_slash(path: str, os: str, keep_slash: bool) -> str:
    path = to_slash(path, os)
    cleaned = go_clean(path)
    if keep_slash and len(cleaned) > 1 and path.endswith("/"):
        return cleaned + "/"
    return cleaned


def _strip_drive(path: str, os: str, keep_slash: bool) -> str:
    """BuildKit's ``CheckSystemDriveAndRemoveDriveLetter`` (Windows only)."""
    if os != "windows":
        return path
    if len(path) == 2 and path[1] == ":":
        raise PathError(f'No relative path specified in "{path}"')
    if len(path) >= 2 and to_slash(path[:2], os) == "//":
        raise PathError("UNC paths are not supported")
    drive, colon, rest = path.partition(":")
    if not colon:
        return to_slash(_clean_keep_slash(path, os, keep_slash), os)
    if drive.lower() != "c":
        raise PathError("The specified path is not on the system drive (C:)")
    return to_slash(_clean_keep_slash(rest, os, keep_slash), os)


def is_abs(path: str, os: str) -> bool:
    """Absolute in the sense of COPY/WORKDIR (drive letters stripped on Windows)."""
    try:
        cleaned = _strip_drive(path, os, False)
    except PathError:
        return False
    return to_slash(cleaned, os).startswith("/")


def normalize_path(parent: str, new: str, os: str, keep_slash: bool) -> str:
    """BuildKit's ``NormalizePath``: ``new`` made absolute against ``parent``, slashes forward."""
    os = os or "linux"
    new = to_slash(new, os)
    parent = to_slash(parent, os) or "/"
    original = new
    parent = _strip_drive(parent, os, keep_slash)
    if not is_abs(parent, os):
        parent = go_join("/", parent)
    if not new:
        new = parent
    new = _strip_drive(new, os, keep_slash)
    if not is_abs(new, os):
        new = go_join(parent, new)
    if keep_slash:
        if original.endswith("/") and not new.endswith("/"):
            new += "/"
        elif original.endswith("/."):
            if new != "/":
                new += "/"
            new += "."
    return to_slash(new, os)


def normalize_workdir(current: str, new: str, os: str) -> str:
    """BuildKit's ``NormalizeWorkdir``: as stored in the image config (``\\`` on Windows)."""
    os = os or "linux"
    path = normalize_path(current, new, os, False)
    return path.replace("/", "\\") if os == "windows" else path
