"""Atomic file writes.

A reader must never see half a file: every write goes to a temporary file in
the same directory, is fsynced, then renamed over the target.  A crash leaves
at worst a ``.tmp-*`` file that ``anyarch gc`` removes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TMP_PREFIX = ".tmp-"


_FS_TOPDIR_FL = 0x00020000  # linux/fs.h: "top of directory hierarchies"


def _ioc(direction: int, nr: int) -> int:
    # _IOR/_IOW('f', nr, long): the size field is sizeof(long) of this machine.
    return (direction << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | nr


def mark_top_directory(path: Path | str) -> bool:
    """Hint the file system that each subdirectory of ``path`` starts an unrelated tree.

    On ext2/3/4 this is ``chattr +T``: the Orlov allocator then places every new
    subdirectory (a layer being unpacked, a step's upper directory, a node's
    build context) in a block group of its own instead of next to its siblings.
    Why it matters: on ext4 without a journal, allocating an inode skips every
    inode of the group freed in the last minute, one lookup at a time; a tree
    created just after another was deleted (a store removed, a cache pruned)
    pays for each deleted inode again -- 3.6-5.7 s instead of 1.1 s for the
    Debian base layer on such a disk.  Other file systems refuse the flag
    (``ENOTTY``/``EOPNOTSUPP``); that is fine, and so is any other error:
    this is only a placement hint.  Returns whether the flag is now set.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        # The kernel reads and writes an int at the start of a long-sized buffer.
        size = struct.calcsize("l")
        (flags,) = struct.unpack_from("i", fcntl.ioctl(fd, _ioc(2, 1), bytes(size)))
        if flags & _FS_TOPDIR_FL:
            return True
        fcntl.ioctl(fd, _ioc(1, 2), struct.pack("i", flags | _FS_TOPDIR_FL).ljust(size, b"\0"))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_temp(directory: Path | str, prefix: str = TMP_PREFIX) -> tuple[int, str]:
    """``tempfile.mkstemp`` (mode 0600, O_EXCL) without importing tempfile, shutil and random.

    Every command starts faster by those 15 ms; the names are as unguessable.
    """
    for _ in range(100):
        name = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}")
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int = 0o644, fsync: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file object whose content replaces ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = make_temp(path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        if fsync:
            fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path, mode=mode, fsync=fsync) as fh:
        fh.write(data)
