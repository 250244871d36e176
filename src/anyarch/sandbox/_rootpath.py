"""Paths inside a rootfs, resolved as the container will see them.

A rootfs comes from image layers somebody else wrote, so its symlinks are
untrusted: ``/etc/passwd -> /host/etc/shadow`` or ``/etc -> ../../..`` must
not make anyarch read or create files on the host.  Everything here resolves
symlinks the way the kernel would *after* a ``chroot`` into the rootfs: an
absolute link restarts at the rootfs, and ``..`` stops at it.  No path that
leaves the rootfs is ever produced.

The rootfs is not being modified while we look at it (no container runs in
it yet), so the small window between resolving and opening is not a race an
attacker controls.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from anyarch.errors import BuildError

#: Same bound as Linux's MAXSYMLINKS: a loop gives an error, not a hang.
MAX_SYMLINKS = 40

#: /etc/passwd and /etc/group larger than this are refused rather than read
#: into memory (a real one is a few KiB).
MAX_SMALL_FILE = 16 * 1024 * 1024


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve_in_root(root: Path, path: str) -> Path:
    """Host path of ``path`` as seen from inside ``root`` (chroot semantics).

    Symlinks in the existing part of ``path`` are followed within ``root``;
    components that do not exist are appended as written (``..`` applied
    lexically).  The result is always ``root`` or below it.
    """
    pending: deque[str] = deque(_components(path))
    resolved: list[str] = []
    links = 0
    missing = False
    while pending:
        part = pending.popleft()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if missing:
            resolved.append(part)
            continue
        candidate = root.joinpath(*resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            missing = True
            resolved.append(part)
            continue
        except NotADirectoryError:
            # A file used as a directory: nothing below it exists.
            missing = True
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise BuildError(
                    f"too many levels of symbolic links resolving {path} in rootfs {root}",
                    hint="the image contains a symlink loop; fix the link in the base image",
                )
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extendleft(reversed(_components(target)))
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def read_small_file(root: Path, path: str) -> bytes | None:
    """Contents of regular file ``path`` inside ``root``; None if it does not exist.

    Opened with ``O_NOFOLLOW`` and checked with ``fstat`` so that a FIFO or
    device planted at ``/etc/passwd`` cannot block or leak host data.
    """
    host = resolve_in_root(root, path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(host, flags)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BuildError(
                f"{path} in rootfs {root} is not a regular file",
                hint="the image's user database must be a plain file; fix the base image",
            )
        if st.st_size > MAX_SMALL_FILE:
            raise BuildError(
                f"{path} in rootfs {root} is {st.st_size} bytes, too large to be a user database",
                hint="check the base image; /etc/passwd and /etc/group are normally a few KiB",
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Stub:
    """A file or directory anyarch created in a rootfs and may remove again."""

    path: Path
    is_dir: bool


def ensure_in_root(
    root: Path, path: str, *, is_dir: bool, uid: int = 0, gid: int = 0
) -> list[Stub]:
    """Create ``path`` (and missing parents) inside ``root``; return what was created.

    Used for mount points and the working directory: the OCI runtime needs a
    target to mount on, and making it ourselves (instead of letting the runtime
    do it) lets the caller know exactly which entries are ours to clean up, so
    they do not leak into the layer diff.  Created entries belong to
    ``uid:gid``; parents get mode 0755 and a file stub 0644.
    """
    created: list[Stub] = []
    # Resolve once: every existing component of the result is then a real
    # directory (no symlinks), and the missing tail is created component by
    # component below it.
    target = resolve_in_root(root, path)
    parts = target.relative_to(root).parts
    for i in range(1, len(parts) + 1):
        last = i == len(parts)
        host = root.joinpath(*parts[:i])
        shown = "/" + "/".join(parts[:i])
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            if last and not is_dir:
                fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                os.close(fd)
            else:
                os.mkdir(host, 0o755)
            os.lchown(host, uid, gid)
            created.append(Stub(host, is_dir=not last or is_dir))
            continue
        if stat.S_ISLNK(st.st_mode) or (not last and not stat.S_ISDIR(st.st_mode)):
            raise BuildError(
                f"cannot create {path} in rootfs {root}: {shown} is not a directory",
                hint="a file in the image is in the way of a mount point or working directory",
            )
    return created


def remove_stubs(stubs: list[Stub]) -> None:
    """Remove created entries that are still empty, deepest first.

    Anything the process put there (a file with content, a non-empty
    directory) is left alone: it is the step's output, not our stub.
    """
    for stub in reversed(stubs):
        try:
            st = os.lstat(stub.path)
            if stub.is_dir and stat.S_ISDIR(st.st_mode):
                os.rmdir(stub.path)
            elif not stub.is_dir and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(stub.path)
        except OSError:
            pass
