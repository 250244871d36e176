"""Apply an OCI layer (a tar changeset) onto a rootfs directory, safely.

Why this module is careful: a layer is untrusted input that we apply as root.
A member named ``../../etc/x``, a symlink ``evil -> /`` followed by
``evil/etc/passwd``, or a hardlink to ``/etc/shadow`` would otherwise let an
image write or expose files on the build host.  So:

* member names are normalised the way containerd does (``filepath.Clean``,
  leading ``/`` and ``./`` dropped: ``/etc/x`` means ``ROOTFS/etc/x``), and a
  name with a ``..`` component is refused outright;
* parent directories are resolved one component at a time with ``openat`` on
  directory file descriptors (``O_PATH|O_NOFOLLOW``), following symlinks
  *inside* the rootfs only (an absolute target restarts at the rootfs, ``..``
  stops at it), like continuity's ``fs.RootPath``/securejoin; every write is
  relative to such a descriptor, so no path string ever leaves the rootfs;
* a hardlink's target is resolved the same way and must already exist;
* device nodes are created only when privileged, otherwise skipped with a
  warning; overlayfs-private xattrs in a layer are never applied.

The uncompressed stream is hashed while it is read, so the caller gets the
layer's diff ID for free and can have it checked (``expected_diff_id``).  The
check can only finish at the end of the stream: extract into a scratch
directory and discard it when :class:`~anyarch.errors.DigestMismatchError` is
raised.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import decimal
import errno
import hashlib
import io
import os
import shutil
import stat
import tarfile
import urllib.parse
from pathlib import Path
from typing import IO, Any

from anyarch.archive.codecs import open_decompressed, sniff
from anyarch.archive.whiteout import (
    is_meta,
    is_opaque_marker,
    is_overlay_private_xattr,
    is_whiteout,
    whiteout_target,
)
from anyarch.errors import (
    BuildError,
    DigestMismatchError,
    IntegrityError,
    InvalidDocumentError,
)

CHUNK = 1 << 20
"""Read size for the decompressed stream and for file bodies: big enough that
per-call overhead vanishes, small enough that no file is ever held whole."""

MAX_SYMLINKS = 40
"""Symlink hops allowed while resolving one member's parent (Linux's ELOOP limit)."""

_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEWFILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SCHILY = "SCHILY.xattr."
_LIBARCHIVE = "LIBARCHIVE.xattr."
_MAX_WARNINGS = 100


# --- errors -------------------------------------------------------------------


class LayerFormatError(InvalidDocumentError):
    """A layer tar that is not a valid OCI changeset (bad header, unknown type)."""


class UnsafeLayerError(LayerFormatError):
    """A layer member that would escape the rootfs (``..``, hardlink out, …); refused."""


class LayerCorruptError(IntegrityError):
    """The layer's bytes are damaged: bad compression, or a stream that stops early."""


class LayerTruncatedError(LayerCorruptError):
    """The layer stream ends before the tar does (an interrupted download or write)."""


class LayerApplyError(BuildError):
    """The filesystem refused an operation while applying a layer (space, permissions)."""


# --- results ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class ExtractStats:
    """What applying one layer did; ``diff_id`` is the sha256 of the uncompressed tar.

    Mutable because it is filled in while the stream is read; treat it as a
    value once :func:`extract_layer` returns it.
    """

    diff_id: str = ""
    size: int = 0
    entries: int = 0
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    fifos: int = 0
    whiteouts: int = 0
    opaques: int = 0
    skipped: int = 0
    warnings: list[str] = dataclasses.field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a non-fatal problem; capped so a hostile layer cannot exhaust memory."""
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(message)
        elif len(self.warnings) == _MAX_WARNINGS:
            self.warnings.append("… further warnings suppressed")


# --- names --------------------------------------------------------------------


def member_components(name: str, *, layer: str = "layer") -> list[str]:
    """Split a tar member name into safe path components; ``[]`` is the rootfs itself.

    Empty and ``.`` components vanish and a leading ``/`` is dropped, exactly
    as containerd's ``filepath.Clean`` + ``RootPath`` treat them (an absolute
    member lands inside the rootfs).  Unlike containerd, which clamps ``..`` at
    the root, any ``..`` component is refused: no legitimate layer writer
    emits one, and a layer that does is malformed or an attack.
    """
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise UnsafeLayerError(
            f"{layer}: member {name!r} has a '..' component; refusing to extract it",
            hint="the layer tries to write outside the rootfs; do not use this image",
        )
    return parts


# --- stream -------------------------------------------------------------------


class _HashingReader:
    """Reads the decompressed stream for tarfile, hashing and counting every byte.

    It also keeps the last few chunks so that, once tarfile stops, we can
    check the end-of-archive marker really is there (tarfile silently treats
    a truncated or garbled header as the end).  Decoder failures are turned
    into :class:`LayerCorruptError` here, so filesystem errors raised while
    writing are never mistaken for a bad layer.
    """

    def __init__(self, raw: IO[bytes], layer: str) -> None:
        self.raw = raw
        self.layer = layer
        self.hasher = hashlib.sha256()
        self.pos = 0
        self.tail: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=4)

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.raw.read(n if n and n > 0 else CHUNK)
        except EOFError as e:
            raise LayerTruncatedError(
                f"{self.layer}: compressed stream ends early ({e})",
                hint="the blob is incomplete; delete it from the store and pull again",
            ) from e
        except Exception as e:
            raise LayerCorruptError(
                f"{self.layer}: cannot decompress the layer ({type(e).__name__}: {e})",
                hint="the blob is damaged or its media type is wrong; pull it again",
            ) from e
        if data:
            self.hasher.update(data)
            self.tail.append((self.pos, data))
            self.pos += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) everything left: padding after the end-of-archive marker."""
        while self.read(CHUNK):
            pass

    def bytes_at(self, start: int, length: int) -> bytes:
        """Bytes ``[start, start+length)`` if still held in the tail window, else b""."""
        out = bytearray()
        for off, data in self.tail:
            lo = max(start, off)
            hi = min(start + length, off + len(data))
            if lo < hi:
                out += data[lo - off : hi - off]
        return bytes(out)


# --- root-confined resolution ---------------------------------------------------


class _Root:
    """Directory file descriptors for a rootfs, resolving names without ever leaving it.

    ``_stack`` caches the descriptors of the last parent directory's lexical
    chain, because members arrive in tree order and mostly share a parent: a
    member costs one ``openat`` per *new* component instead of one per
    component.  Every descriptor is obtained by ``openat(…, O_NOFOLLOW)``
    from the root's, so each one is a directory inside the rootfs.
    """

    def __init__(self, rootfs: Path, layer: str) -> None:
        self.layer = layer
        self.fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        st = os.fstat(self.fd)
        self.key = (st.st_dev, st.st_ino)
        self._stack: list[tuple[str, int, tuple[int, int]]] = []

    def close(self) -> None:
        self.invalidate()
        os.close(self.fd)

    def invalidate(self) -> None:
        """Forget cached descriptors: called whenever a directory is removed or replaced."""
        for _, fd, _ in self._stack:
            os.close(fd)
        self._stack.clear()

    def parent(self, comps: list[str], name: str) -> tuple[int, tuple[int, int]]:
        """Descriptor (borrowed) and identity of directory ``comps``, creating missing ones."""
        stack = self._stack
        k = 0
        while k < len(stack) and k < len(comps) and stack[k][0] == comps[k]:
            k += 1
        for _, fd, _ in stack[k:]:
            os.close(fd)
        del stack[k:]
        for c in comps[k:]:
            cur = stack[-1][1] if stack else self.fd
            got = self.walk(cur, [c], create=True, name=name)
            assert got is not None  # create=True never reports a missing directory
            st = os.fstat(got)
            stack.append((c, got, (st.st_dev, st.st_ino)))
        if stack:
            return stack[-1][1], stack[-1][2]
        return self.fd, self.key

    def walk(self, start: int, comps: list[str], *, create: bool, name: str) -> int | None:
        """A new descriptor for ``start/comps`` resolved inside the rootfs, or None if missing.

        Symlinks are followed as if the rootfs were ``/``: an absolute target
        restarts at the rootfs, ``..`` never climbs above it.  Missing
        directories are created (mode 0755, as containerd's ``mkparent``)
        when ``create`` is set.
        """
        fd = os.dup(start)
        todo = list(reversed(comps))
        hops = 0
        try:
            while todo:
                c = todo.pop()
                if c in ("", "."):
                    continue
                if c == "..":
                    st = os.fstat(fd)
                    if (st.st_dev, st.st_ino) != self.key:
                        nfd = os.open("..", _O_DIR, dir_fd=fd)
                        os.close(fd)
                        fd = nfd
                    continue
                try:
                    st = os.stat(c, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(c, 0o755, dir_fd=fd)
                    os.chmod(c, 0o755, dir_fd=fd, follow_symlinks=False)
                    st = os.stat(c, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        raise UnsafeLayerError(
                            f"{self.layer}: member {name!r}: too many symlinks resolving its directory",
                            hint="the layer contains a symlink loop",
                        )
                    target = os.readlink(c, dir_fd=fd)
                    if target.startswith("/"):
                        os.close(fd)
                        fd = os.dup(self.fd)
                    todo.extend(reversed(target.split("/")))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    raise LayerFormatError(
                        f"{self.layer}: member {name!r}: parent component {c!r} is not a directory",
                        hint="the layer puts a file inside a non-directory; it is malformed",
                    )
                nfd = os.open(c, _O_DIR, dir_fd=fd)
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise


def _proc(dirfd: int, base: str) -> str:
    """A path naming ``base`` inside the directory held by ``dirfd``, for xattr calls.

    Python's xattr functions take no ``dir_fd``; ``/proc/self/fd/N`` is pinned
    to the descriptor's directory, and we pass ``follow_symlinks=False`` so the
    last component is never followed either.
    """
    return f"/proc/self/fd/{dirfd}/{base}"


def _remove(dirfd: int, base: str) -> bool:
    """Delete ``base`` (recursively, never following symlinks); True if it was a directory."""
    try:
        st = os.stat(base, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(base, dir_fd=dirfd)
        return True
    os.unlink(base, dir_fd=dirfd)
    return False


def _xattrs(ti: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    """Extended attributes carried in PAX records (``SCHILY.xattr.*``, libarchive's form)."""
    out: list[tuple[str, bytes]] = []
    for key, value in ti.pax_headers.items():
        if key.startswith(_SCHILY):
            out.append((key[len(_SCHILY) :], value.encode("utf-8", "surrogateescape")))
        elif key.startswith(_LIBARCHIVE):
            xname = urllib.parse.unquote(key[len(_LIBARCHIVE) :])
            try:
                out.append((xname, base64.b64decode(value)))
            except ValueError:
                continue
    return out


def _mtime_ns(ti: tarfile.TarInfo) -> int:
    """The member's mtime in ns, exact: tarfile's float loses seconds beyond 2**53 ns (year 2255)."""
    raw = ti.pax_headers.get("mtime")
    if raw is not None:
        try:
            return int(decimal.Decimal(raw).scaleb(9))
        except (decimal.InvalidOperation, ValueError):
            pass
    if isinstance(ti.mtime, int):
        return ti.mtime * 1_000_000_000
    return round(ti.mtime * 1_000_000_000)


# --- the applier ----------------------------------------------------------------


class _Applier:
    """State for one layer application: the rootfs, what this layer created, deferrals."""

    def __init__(self, rootfs: Path, *, privileged: bool, layer: str, stats: ExtractStats) -> None:
        self.root = _Root(rootfs, layer)
        self.privileged = privileged
        self.layer = layer
        self.stats = stats
        # (dev, ino) of a parent directory + child name, for everything this layer wrote:
        # whiteouts only hide what lower layers made (image-spec layer.md)
        self.unpacked: set[tuple[tuple[int, int], str]] = set()
        self.dirs: list[tuple[list[str], int, int, int]] = []  # comps, mode, mtime_ns, ino
        self.owner_warned = False
        self.euid, self.egid = os.geteuid(), os.getegid()

    def close(self) -> None:
        self.root.close()

    # -- dispatch

    def apply(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        name = ti.name
        comps = member_components(name, layer=self.layer)
        self.stats.entries += 1
        if not comps:  # "./" or "/": the rootfs itself; containerd ignores it too
            self.stats.skipped += 1
            return
        base = comps[-1]
        if is_whiteout(base):
            self._whiteout(comps, name)
            return
        if ti.ischr() or ti.isblk():
            if not self.privileged:
                self.stats.skipped += 1
                self.stats.warn(f"{self.layer}: device node {name!r} skipped (not privileged)")
                return
        elif not (ti.isreg() or ti.isdir() or ti.issym() or ti.islnk() or ti.isfifo()):
            raise LayerFormatError(
                f"{self.layer}: member {name!r} has unsupported tar type {ti.type!r}",
                hint="OCI layers hold files, directories, links, devices and fifos only",
            )
        pfd, pkey = self.root.parent(comps[:-1], name)
        try:
            existing = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (stat.S_ISDIR(existing.st_mode) and ti.isdir()):
            # only dir-over-dir merges; anything else is replaced, never written through
            existing = None
            if _remove(pfd, base):
                self.root.invalidate()
                pfd, pkey = self.root.parent(comps[:-1], name)
        if ti.isreg():
            self._file(tf, ti, pfd, base)
        elif ti.isdir():
            self._dir(ti, pfd, base, comps, existing)
        elif ti.issym():
            os.symlink(ti.linkname, base, dir_fd=pfd)
            self._meta(ti, pfd, base, chmod=False)
            self.stats.symlinks += 1
        elif ti.islnk():
            self._hardlink(ti, pfd, base)
        else:
            self._special(ti, pfd, base)
        self.unpacked.add((pkey, base))

    # -- whiteouts

    def _whiteout(self, comps: list[str], name: str) -> None:
        base = comps[-1]
        if is_meta(base):  # AUFS bookkeeping such as .wh..wh.plnk: not content
            self.stats.skipped += 1
            return
        target = None if is_opaque_marker(base) else whiteout_target(base, where=name)
        fd = self.root.walk(self.root.fd, comps[:-1], create=False, name=name)
        if fd is None:  # the directory does not exist: nothing below to hide
            return
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino)
            removed_dir = False
            if target is None:
                self.stats.opaques += 1
                rfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
                try:
                    children = os.listdir(rfd)
                finally:
                    os.close(rfd)
                for child in children:
                    if (key, child) not in self.unpacked:
                        removed_dir |= _remove(fd, child)
            else:
                self.stats.whiteouts += 1
                if (key, target) not in self.unpacked:
                    removed_dir = _remove(fd, target)
            if removed_dir:
                self.root.invalidate()
        finally:
            os.close(fd)

    # -- entry kinds

    def _file(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, pfd: int, base: str) -> None:
        fd = os.open(base, _O_NEWFILE, 0o600, dir_fd=pfd)
        try:
            src = tf.extractfile(ti)
            if src is not None:
                buf = bytearray(min(CHUNK, max(ti.size, 1)))
                view = memoryview(buf)
                while True:
                    n = src.readinto(buf)  # type: ignore[attr-defined]
                    if not n:
                        break
                    off = 0
                    while off < n:
                        off += os.write(fd, view[off:n])
            self._meta_fd(ti, fd)
        finally:
            os.close(fd)
        self.stats.files += 1

    def _dir(
        self,
        ti: tarfile.TarInfo,
        pfd: int,
        base: str,
        comps: list[str],
        existing: os.stat_result | None,
    ) -> None:
        if existing is None:
            os.mkdir(base, 0o700, dir_fd=pfd)
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._owner(ti, fd=fd)
            self._set_xattrs(ti, fd)
            ino = os.fstat(fd).st_ino
            if self.privileged:
                os.fchmod(fd, ti.mode & 0o7777)
            else:  # a read-only dir would stop us creating its children: chmod at the end
                os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
        # mtimes last: creating children would move them again
        self.dirs.append((comps, ti.mode & 0o7777, _mtime_ns(ti), ino))
        self.stats.dirs += 1

    def _hardlink(self, ti: tarfile.TarInfo, pfd: int, base: str) -> None:
        name = ti.name
        tcomps = member_components(ti.linkname, layer=self.layer)
        if not tcomps:
            raise UnsafeLayerError(
                f"{self.layer}: hardlink {name!r} points at the rootfs itself",
                hint="the layer is malformed or malicious; do not use this image",
            )
        tfd = self.root.walk(self.root.fd, tcomps[:-1], create=False, name=name)
        try:
            try:
                if tfd is None:
                    raise FileNotFoundError(ti.linkname)
                tst = os.stat(tcomps[-1], dir_fd=tfd, follow_symlinks=False)
            except FileNotFoundError:
                raise UnsafeLayerError(
                    f"{self.layer}: hardlink {name!r} -> {ti.linkname!r}: target is not in the rootfs",
                    hint="a hardlink must name a file earlier in this layer or in a lower layer",
                ) from None
            if stat.S_ISDIR(tst.st_mode):
                raise UnsafeLayerError(
                    f"{self.layer}: hardlink {name!r} -> {ti.linkname!r} names a directory",
                    hint="hardlinks to directories are not allowed",
                )
            os.link(tcomps[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            if tfd is not None:
                os.close(tfd)
        self.stats.hardlinks += 1

    def _special(self, ti: tarfile.TarInfo, pfd: int, base: str) -> None:
        mode = ti.mode & 0o7777
        if ti.isfifo():
            # a fifo grants nothing, so it is created even unprivileged (rootless builds keep it)
            os.mkfifo(base, 0o600, dir_fd=pfd)
            self.stats.fifos += 1
        else:
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
            try:
                os.mknod(base, kind | 0o600, os.makedev(ti.devmajor, ti.devminor), dir_fd=pfd)
            except PermissionError:
                self.stats.skipped += 1
                self.stats.warn(
                    f"{self.layer}: device node {ti.name!r} skipped (mknod not permitted)"
                )
                return
            self.stats.devices += 1
        self._meta(ti, pfd, base, chmod=True, mode=mode)

    # -- metadata

    def _owner(self, ti: tarfile.TarInfo, *, fd: int) -> None:
        if self.privileged:
            os.fchown(fd, ti.uid, ti.gid)
        else:
            self._note_owner(ti)

    def _note_owner(self, ti: tarfile.TarInfo) -> None:
        if not self.owner_warned and (ti.uid, ti.gid) != (self.euid, self.egid):
            self.owner_warned = True
            self.stats.warn(
                f"{self.layer}: ownership not applied (unprivileged), e.g. {ti.name!r} "
                f"wants {ti.uid}:{ti.gid}"
            )

    def _set_xattrs(self, ti: tarfile.TarInfo, target: int | str) -> None:
        for xname, value in _xattrs(ti):
            if is_overlay_private_xattr(xname):
                self.stats.warn(f"{self.layer}: {ti.name!r}: overlayfs xattr {xname} ignored")
                continue
            try:
                if isinstance(target, int):
                    os.setxattr(target, xname, value)
                else:
                    os.setxattr(target, xname, value, follow_symlinks=False)
            except OSError as e:
                if e.errno in (errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP):
                    self.stats.warn(
                        f"{self.layer}: {ti.name!r}: xattr {xname} not set ({e.strerror})"
                    )
                    continue
                raise

    def _meta_fd(self, ti: tarfile.TarInfo, fd: int) -> None:
        """Owner, xattrs, mode, mtime on an open file, in the order that keeps them all.

        ``chown`` clears setuid bits and file capabilities, so it goes first;
        ``chmod`` after the xattrs as containerd does.
        """
        self._owner(ti, fd=fd)
        self._set_xattrs(ti, fd)
        os.fchmod(fd, ti.mode & 0o7777)
        mt = _mtime_ns(ti)
        os.utime(fd, ns=(mt, mt))

    def _meta(
        self, ti: tarfile.TarInfo, pfd: int, base: str, *, chmod: bool, mode: int = 0
    ) -> None:
        """Metadata for entries we cannot open (symlinks, devices, fifos): by name, no follow."""
        if self.privileged:
            os.chown(base, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)
        else:
            self._note_owner(ti)
        self._set_xattrs(ti, _proc(pfd, base))
        if chmod:  # never a symlink here, and we created it a moment ago
            os.chmod(base, mode, dir_fd=pfd)
        mt = _mtime_ns(ti)
        os.utime(base, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory modes (unprivileged) and mtimes, deepest first, once nothing else moves them."""
        for comps, mode, mt, ino in reversed(self.dirs):
            pfd = self.root.walk(self.root.fd, comps[:-1], create=False, name="/".join(comps))
            if pfd is None:
                continue
            try:
                base = comps[-1]
                try:
                    st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(st.st_mode) or st.st_ino != ino:
                    continue  # replaced later in this layer
                if not self.privileged:
                    os.chmod(base, mode, dir_fd=pfd)
                os.utime(base, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)


# --- entry point ----------------------------------------------------------------


def _open_stream(fh: IO[bytes], compression: str | None) -> IO[bytes]:
    """The decompressed stream; ``"auto"`` peeks at the magic bytes without consuming them."""
    if compression == "auto":
        peek = getattr(fh, "peek", None)
        if peek is None:
            buffered: Any = io.BufferedReader(fh, CHUNK)  # type: ignore[type-var,unused-ignore]
            fh, peek = buffered, buffered.peek
        compression = sniff(peek(8)[:8])
    return open_decompressed(fh, compression)


def extract_layer(
    fh: IO[bytes],
    rootfs: Path | str,
    *,
    compression: str | None = None,
    privileged: bool | None = None,
    expected_diff_id: str | None = None,
    layer: str = "layer",
) -> ExtractStats:
    """Apply the layer read from ``fh`` onto ``rootfs``; return what was done and the diff ID.

    ``compression`` is ``None`` (plain tar), ``"gzip"``, ``"zstd"`` or
    ``"auto"`` (sniff the magic bytes).  ``privileged`` defaults to "running as
    root": it decides whether ownership is applied and device nodes are made.
    ``layer`` names the layer (e.g. its digest) in error messages.  When
    ``expected_diff_id`` is given and the uncompressed stream hashes to
    something else, :class:`DigestMismatchError` is raised after the stream
    is consumed — the rootfs has been modified by then, so extract into a
    directory you can throw away.
    """
    rootfs = Path(rootfs)
    if privileged is None:
        privileged = os.geteuid() == 0
    stats = ExtractStats()
    reader = _HashingReader(_open_stream(fh, compression), layer)
    applier = _Applier(rootfs, privileged=privileged, layer=layer, stats=stats)
    try:
        try:
            tf = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115 - closed below
                fileobj=reader, mode="r|", bufsize=CHUNK, errors="surrogateescape"
            )
        except tarfile.ReadError as e:
            if reader.pos == 0:  # zero bytes: an empty blob, or a cut the codec let through
                raise LayerTruncatedError(
                    f"{layer}: the layer stream is empty",
                    hint="the blob is incomplete; delete it from the store and pull again",
                ) from e
            raise LayerFormatError(
                f"{layer}: not a tar archive ({e})",
                hint="check the layer's media type (gzip/zstd/plain) and that the blob is complete",
            ) from e
        with tf:
            try:
                for ti in tf:
                    try:
                        applier.apply(tf, ti)
                    except OSError as e:
                        raise LayerApplyError(
                            f"{layer}: cannot apply {ti.name!r}: {e.strerror or e}",
                            hint="check free space and permissions of the rootfs directory",
                        ) from e
                end = tf.offset
            except tarfile.ReadError as e:
                if "unexpected end of data" in str(e):
                    raise LayerTruncatedError(
                        f"{layer}: tar stream ends inside a member ({e})",
                        hint="the blob is incomplete; delete it from the store and pull again",
                    ) from e
                raise LayerFormatError(
                    f"{layer}: invalid tar data ({e})", hint="the layer blob is damaged"
                ) from e
            except tarfile.TarError as e:
                raise LayerFormatError(
                    f"{layer}: invalid tar data ({e})", hint="the layer blob is damaged"
                ) from e
        reader.drain()
        marker = reader.bytes_at(end, 1024)
        if len(marker) < 1024 or marker.count(0) != 1024:
            raise LayerTruncatedError(
                f"{layer}: tar stream stops at byte {end} without an end-of-archive marker",
                hint="the blob is incomplete or damaged; delete it from the store and pull again",
            )
        try:
            applier.finish()
        except OSError as e:
            raise LayerApplyError(
                f"{layer}: cannot set directory times/modes: {e.strerror or e}",
                hint="check permissions of the rootfs directory",
            ) from e
    finally:
        applier.close()
    stats.size = reader.pos
    stats.diff_id = f"sha256:{reader.hasher.hexdigest()}"
    if expected_diff_id is not None and expected_diff_id != stats.diff_id:
        raise DigestMismatchError(
            f"{layer}: uncompressed content is {stats.diff_id}, the image config says {expected_diff_id}",
            hint="the layer blob does not belong to this image or is corrupt; pull it again",
        )
    return stats
