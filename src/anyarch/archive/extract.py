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

The tar is parsed here rather than by :mod:`tarfile`: tarfile's stream mode
re-slices its read buffer on every small read, which made a layer of 20,000
small files extract at ~20 MB/s; the reader below keeps one decoded chunk and
an index into it, hands file bodies to ``write`` as memoryviews, and knows
exactly where the stream ends, so truncation is always reported as such.  It
reads ustar, GNU (``L``/``K`` long names, base-256 numbers) and PAX (local and
global headers) archives; sparse files, which no image builder writes, are
refused.

The uncompressed stream is hashed while it is read, so the caller gets the
layer's diff ID for free and can have it checked (``expected_diff_id``).  The
check can only finish at the end of the stream: extract into a scratch
directory and discard it when :class:`~anyarch.errors.DigestMismatchError` is
raised.
"""

from __future__ import annotations

import base64
import dataclasses
import decimal
import errno
import hashlib
import io
import os
import shutil
import stat
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
    """Reads the decompressed stream, hashing and counting every byte (the diff ID).

    Decoder failures are turned into :class:`LayerCorruptError` here, so
    filesystem errors raised while writing are never mistaken for a bad layer.
    """

    def __init__(self, raw: IO[bytes], layer: str) -> None:
        self.raw = raw
        self.layer = layer
        self.hasher = hashlib.sha256()
        self.pos = 0

    def read(self, n: int = CHUNK) -> bytes:
        try:
            data = self.raw.read(n)
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
            self.pos += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) everything left: padding after the end-of-archive marker."""
        while self.read(CHUNK):
            pass


# --- tar reading ----------------------------------------------------------------

_BLOCK = 512
_HEADER_ONLY = frozenset(b"123456")  # links, devices, dirs, fifos: no data, whatever size says
_REGULAR = frozenset(b"07\0")
_MAX_META = 16 << 20  # a PAX or GNU long-name record larger than this is an attack


@dataclasses.dataclass(slots=True)
class Member:
    """One tar member as the extractor needs it (all PAX/GNU extensions applied)."""

    name: str
    type: int  # typeflag byte: ord("0"), ord("5"), ...
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str
    devmajor: int
    devminor: int
    xattrs: list[tuple[str, bytes]]

    def isreg(self) -> bool:
        return self.type in _REGULAR

    def isdir(self) -> bool:
        return self.type == 0x35

    def issym(self) -> bool:
        return self.type == 0x32

    def islnk(self) -> bool:
        return self.type == 0x31

    def ischr(self) -> bool:
        return self.type == 0x33

    def isblk(self) -> bool:
        return self.type == 0x34

    def isfifo(self) -> bool:
        return self.type == 0x36


def _nts(field: bytes) -> bytes:
    i = field.find(0)
    return field if i < 0 else field[:i]


def _str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class _TarStream:
    """A forward-only tar parser over the hashing reader.

    Holds the current decoded chunk and an index into it: a header costs one
    512-byte slice, a file body is passed on as memoryviews of the chunk.
    ``offset`` is the position in the uncompressed stream, for messages.
    """

    def __init__(self, reader: _HashingReader, layer: str) -> None:
        self.r = reader
        self.layer = layer
        self.chunk = b""
        self.i = 0
        self.offset = 0
        self.globals: dict[str, bytes] = {}
        self.pending = 0  # body bytes of the current member not consumed by the caller
        self.at = 0  # where the header being parsed starts

    # -- low level

    def _truncated(self, what: str) -> LayerTruncatedError:
        return LayerTruncatedError(
            f"{self.layer}: tar stream ends at byte {self.r.pos} inside {what}",
            hint="the blob is incomplete; delete it from the store and pull again",
        )

    def _bad(self, what: str) -> LayerFormatError:
        return LayerFormatError(
            f"{self.layer}: invalid tar header at byte {self.at}: {what}",
            hint="the layer blob is damaged or is not a tar archive",
        )

    def _more(self, what: str) -> None:
        self.chunk = self.r.read(CHUNK)
        self.i = 0
        if not self.chunk:
            raise self._truncated(what)

    def read_exact(self, n: int, what: str) -> bytes:
        c, i = self.chunk, self.i
        if len(c) - i >= n:
            self.i = i + n
            self.offset += n
            return c[i : i + n]
        parts = [c[i:]]
        got = len(c) - i
        while got < n:
            self._more(what)
            take = min(n - got, len(self.chunk))
            parts.append(self.chunk[:take])
            self.i = take
            got += take
        self.offset += n
        return b"".join(parts)

    def copy(self, n: int, fd: int | None, what: str) -> None:
        """Pass ``n`` body bytes to ``fd`` (or drop them), then skip the block padding."""
        self.pending = 0
        left = n
        while left:
            if self.i >= len(self.chunk):
                self._more(what)
            take = min(left, len(self.chunk) - self.i)
            if fd is not None:
                view = memoryview(self.chunk)[self.i : self.i + take]
                while view:
                    view = view[os.write(fd, view) :]
            self.i += take
            left -= take
        self.offset += n
        pad = -n % _BLOCK
        if pad:
            self.read_exact(pad, what)

    # -- headers

    def next(self) -> Member | None:
        """The next member, or None after the end-of-archive marker (two zero blocks).

        A body the caller did not read (a skipped or whiteout member) is skipped here.
        """
        if self.pending:
            self.copy(self.pending, None, "a member's data")
        pax: dict[str, bytes] = {}
        longname: bytes | None = None
        longlink: bytes | None = None
        while True:
            self.at = self.offset
            block = self.read_exact(_BLOCK, "a header")
            if not any(block):
                if any(self.read_exact(_BLOCK, "the end-of-archive marker")):
                    raise self._bad("a lone zero block inside the archive")
                return None
            self._check(block)
            typeflag = block[156]
            size = self._num(block[124:136])
            if typeflag in (0x78, 0x67, 0x4C, 0x4B):  # x g L K: metadata for what follows
                if not 0 <= size <= _MAX_META:
                    raise self._bad(f"extended header of {size} bytes")
                data = self.read_exact(size, "an extended header")
                pad = -size % _BLOCK
                if pad:
                    self.read_exact(pad, "an extended header")
                if typeflag == 0x78:
                    pax.update(self._pax(data))
                elif typeflag == 0x67:
                    self.globals.update(self._pax(data))
                elif typeflag == 0x4C:
                    longname = _nts(data)
                else:
                    longlink = _nts(data)
                continue
            return self._member(block, typeflag, size, pax, longname, longlink)

    def _check(self, block: bytes) -> None:
        try:
            want = int(block[148:156].strip(b" \0") or b"0", 8)
        except ValueError:
            raise self._bad("header checksum field is not a number") from None
        unsigned = sum(block) - sum(block[148:156]) + 256
        if want != unsigned:
            signed = unsigned - sum(256 for b in block[:148] + block[156:] if b > 127)
            if want != signed:
                raise self._bad("header checksum mismatch (not a tar archive, or damaged)")

    def _num(self, field: bytes) -> int:
        if field and field[0] & 0x80:  # GNU base-256, two's complement
            inv = 0xFF if field[0] & 0x40 else 0
            x = 0
            for k, c in enumerate(field):
                c ^= inv
                if k == 0:
                    c &= 0x7F
                x = (x << 8) | c
            return ~x if inv else x
        digits = field.strip(b" \0")
        if not digits:
            return 0
        try:
            return int(digits, 8)
        except ValueError:
            raise self._bad(f"numeric field {bytes(field)!r} is not octal") from None

    def _pax(self, data: bytes) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        pos = 0
        while pos < len(data):
            if data[pos] == 0:  # some writers pad the record block with NULs
                break
            sp = data.find(b" ", pos)
            if sp < 0:
                raise self._bad("malformed PAX record")
            try:
                length = int(data[pos:sp])
            except ValueError:
                raise self._bad("malformed PAX record length") from None
            rec = data[sp + 1 : pos + length]
            if length <= 0 or pos + length > len(data) or not rec.endswith(b"\n"):
                raise self._bad("malformed PAX record")
            key, eq, value = rec[:-1].partition(b"=")
            if not eq:
                raise self._bad("PAX record without '='")
            out[key.decode("utf-8", "surrogateescape")] = value
            pos += length
        return out

    def _member(
        self,
        block: bytes,
        typeflag: int,
        size: int,
        local: dict[str, bytes],
        longname: bytes | None,
        longlink: bytes | None,
    ) -> Member:
        pax = {**self.globals, **local} if self.globals else local
        magic = block[257:263]
        name = _nts(block[0:100])
        if magic == b"ustar\0":  # POSIX ustar: a prefix field extends the name
            prefix = _nts(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        if longname is not None:
            name = longname
        linkname = longlink if longlink is not None else _nts(block[157:257])
        uid, gid = self._num(block[108:116]), self._num(block[116:124])
        mtime_ns = self._num(block[136:148]) * 1_000_000_000
        xattrs: list[tuple[str, bytes]] = []
        if pax:
            if any(k.startswith("GNU.sparse.") for k in pax):
                typeflag = 0x53
            if "path" in local:  # a global path would rename every member: ignored
                name = local["path"]
            if "linkpath" in local:
                linkname = local["linkpath"]
            if "size" in local:
                size = self._pax_int(local["size"], "size")
            if "uid" in pax:
                uid = self._pax_int(pax["uid"], "uid")
            if "gid" in pax:
                gid = self._pax_int(pax["gid"], "gid")
            if "mtime" in pax:
                try:
                    mtime_ns = int(decimal.Decimal(pax["mtime"].decode("ascii")).scaleb(9))
                except (decimal.InvalidOperation, UnicodeDecodeError):
                    raise self._bad(f"PAX mtime {pax['mtime']!r} is not a number") from None
            for key, value in pax.items():
                if key.startswith(_SCHILY):
                    xattrs.append((key[len(_SCHILY) :], value))
                elif key.startswith(_LIBARCHIVE):
                    try:
                        decoded = base64.b64decode(value)
                    except ValueError:
                        continue
                    xattrs.append((urllib.parse.unquote(key[len(_LIBARCHIVE) :]), decoded))
        if typeflag == 0x53:
            raise LayerFormatError(
                f"{self.layer}: member {_str(name)!r} is a sparse file; anyarch does not extract those",
                hint="rebuild the image without sparse files (tar --sparse is never needed in a layer)",
            )
        if typeflag == 0 and name.endswith(b"/"):  # pre-POSIX tars mark directories this way
            typeflag = 0x35
        if typeflag in _HEADER_ONLY:
            size = 0
        elif size < 0:
            raise self._bad(f"negative size for {_str(name)!r}")
        self.pending = size
        return Member(
            name=_str(name),
            type=typeflag,
            mode=self._num(block[100:108]) & 0o7777,
            uid=uid,
            gid=gid,
            size=size,
            mtime_ns=mtime_ns,
            linkname=_str(linkname),
            devmajor=self._num(block[329:337]) if typeflag in (0x33, 0x34) else 0,
            devminor=self._num(block[337:345]) if typeflag in (0x33, 0x34) else 0,
            xattrs=xattrs,
        )

    def _pax_int(self, value: bytes, key: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise self._bad(f"PAX {key} {value!r} is not a number") from None


# --- root-confined resolution ---------------------------------------------------


class _Dir:
    """An open directory inside the rootfs: descriptor, identity, and what new files get.

    ``owner`` is the uid/gid a file created here was observed to get (learned
    from the first one; ``None`` until then).  The kernel gives every new
    inode in one directory the same owner (the fsuid, and the fsgid or the
    directory's group when it is setgid or mounted ``grpid``), so later files
    whose wanted owner matches need no ``fchown``.  ``plain`` says whether the
    directory has no default ACL, i.e. whether only the umask shapes a new
    file's mode (``None``: not checked yet).  Both are reset whenever an
    existing directory's owner, mode or xattrs may change.
    """

    __slots__ = ("fd", "key", "name", "owner", "plain")

    def __init__(self, name: str, fd: int, key: tuple[int, int]) -> None:
        self.name = name
        self.fd = fd
        self.key = key
        self.owner: tuple[int, int] | None = None
        self.plain: bool | None = None


_FALLBACK_ERRNOS = frozenset((errno.ENOENT, errno.ENOTDIR, errno.ELOOP))


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
        self.top = _Dir("", self.fd, self.key)
        self._stack: list[_Dir] = []

    def close(self) -> None:
        self.invalidate()
        os.close(self.fd)

    def invalidate(self) -> None:
        """Forget cached descriptors: called whenever a directory is removed or replaced."""
        for d in self._stack:
            os.close(d.fd)
        self._stack.clear()

    def forget_learned(self) -> None:
        """Drop learned owners and ACL checks: an existing directory is about to change.

        The directory merged into may be any cached one (reached through a
        symlink, it need not be on the lexical chain), so all are reset.
        """
        for d in (self.top, *self._stack):
            d.owner = None
            d.plain = None

    def adopt(self, comps: list[str], fd: int, key: tuple[int, int]) -> None:
        """Take ``fd``, the directory ``comps`` just opened ``O_NOFOLLOW`` in the cached parent.

        When the cache holds exactly the chain of ``comps[:-1]`` (the parent
        the caller just resolved), ``fd`` extends it, so the directory's
        children cost no ``openat``; otherwise ``fd`` is closed.
        """
        stack = self._stack
        if len(stack) == len(comps) - 1 and all(
            d.name == c for d, c in zip(stack, comps[:-1], strict=True)
        ):
            stack.append(_Dir(comps[-1], fd, key))
        else:
            os.close(fd)

    def resolve(self, comps: list[str], name: str, *, create: bool) -> _Dir | None:
        """The directory ``comps`` (borrowed, valid until the next call), or None if missing.

        Missing directories are created when ``create`` is set.  A new
        component costs one ``openat(O_PATH|O_DIRECTORY|O_NOFOLLOW)`` and an
        ``fstat`` when it is a real directory: ``O_NOFOLLOW`` with
        ``O_DIRECTORY`` fails on a symlink (``ENOTDIR``) instead of following
        it, and the ``fstat`` re-checks the type.  Anything else (a symlink to
        resolve inside the rootfs, a missing directory) goes through
        :meth:`walk`.
        """
        stack = self._stack
        k = 0
        while k < len(stack) and k < len(comps) and stack[k].name == comps[k]:
            k += 1
        for d in stack[k:]:
            os.close(d.fd)
        del stack[k:]
        for c in comps[k:]:
            cur = stack[-1].fd if stack else self.fd
            got: int | None = None
            st: os.stat_result | None = None
            if c not in ("", ".", ".."):  # member_components never yields these; be sure
                try:
                    got = os.open(c, _O_DIR, dir_fd=cur)
                except OSError as e:
                    if e.errno not in _FALLBACK_ERRNOS:
                        raise
                else:
                    st = os.fstat(got)
                    if not stat.S_ISDIR(st.st_mode):
                        os.close(got)
                        got = None
            if got is None:
                got = self.walk(cur, [c], create=create, name=name)
                if got is None:
                    return None
                st = os.fstat(got)
            assert st is not None
            stack.append(_Dir(c, got, (st.st_dev, st.st_ino)))
        return stack[-1] if stack else self.top

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


def _current_umask() -> int | None:
    """The process umask, read without changing it (``os.umask`` can only set it, which
    would race with other threads creating files); None when the kernel does not say."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


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
        self.umask = _current_umask()

    def close(self) -> None:
        self.root.close()

    # -- dispatch

    def apply(self, tf: _TarStream, ti: Member) -> None:
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
                f"{self.layer}: member {name!r} has unsupported tar type {chr(ti.type)!r}",
                hint="OCI layers hold files, directories, links, devices and fifos only",
            )
        pdir = self.root.resolve(comps[:-1], name, create=True)
        assert pdir is not None  # create=True never reports a missing directory
        # Files, symlinks and directories are created optimistically (O_EXCL
        # semantics: an existing name, even a symlink, is never followed) and
        # an existing entry is dealt with only on EEXIST, which saves a probe
        # per member.  Only dir-over-dir merges; anything else is replaced,
        # never written through.
        if ti.isreg():
            pdir = self._file(tf, ti, pdir, comps)
        elif ti.isdir():
            pdir = self._dir(ti, pdir, comps)
        elif ti.issym():
            try:
                os.symlink(ti.linkname, base, dir_fd=pdir.fd)
            except FileExistsError:
                pdir = self._clear(pdir, comps, name)
                os.symlink(ti.linkname, base, dir_fd=pdir.fd)
            self._meta(ti, pdir.fd, base, chmod=False, owner=pdir.owner)
            self.stats.symlinks += 1
        else:  # hardlinks and special files are rare: clear the name first
            pdir = self._clear(pdir, comps, name)
            if ti.islnk():
                self._hardlink(ti, pdir.fd, base)
            else:
                self._special(ti, pdir.fd, base)
        self.unpacked.add((pdir.key, base))

    def _clear(self, pdir: _Dir, comps: list[str], name: str) -> _Dir:
        """Remove whatever is at ``comps`` (never following it); the parent, re-resolved if needed.

        Removing a directory may remove one the descriptor cache holds (the
        parent chain can run through symlinks), so the cache is dropped then.
        """
        if _remove(pdir.fd, comps[-1]):
            self.root.invalidate()
            again = self.root.resolve(comps[:-1], name, create=True)
            assert again is not None
            return again
        return pdir

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

    def _file(self, tf: _TarStream, ti: Member, pdir: _Dir, comps: list[str]) -> _Dir:
        base = comps[-1]
        final = self._creates_final_mode(ti, pdir)
        try:
            fd = os.open(base, _O_NEWFILE, ti.mode if final else 0o600, dir_fd=pdir.fd)
        except FileExistsError:
            pdir = self._clear(pdir, comps, ti.name)
            final = self._creates_final_mode(ti, pdir)
            fd = os.open(base, _O_NEWFILE, ti.mode if final else 0o600, dir_fd=pdir.fd)
        try:
            tf.copy(ti.size, fd, repr(ti.name))
            self._meta_fd(ti, fd, pdir, chmod=not final)
        finally:
            os.close(fd)
        self.stats.files += 1
        return pdir

    def _dir(self, ti: Member, pdir: _Dir, comps: list[str]) -> _Dir:
        base = comps[-1]
        try:
            os.mkdir(base, 0o700, dir_fd=pdir.fd)
        except FileExistsError:
            st = os.stat(base, dir_fd=pdir.fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):  # merge: its owner, xattrs and mode change below
                self.root.forget_learned()
            else:
                pdir = self._clear(pdir, comps, ti.name)
                os.mkdir(base, 0o700, dir_fd=pdir.fd)
        pfd = pdir.fd
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._owner(ti, fd=fd)
            self._set_xattrs(ti, fd)
            st = os.fstat(fd)
            if self.privileged:
                os.fchmod(fd, ti.mode & 0o7777)
            else:  # a read-only dir would stop us creating its children: chmod at the end
                os.fchmod(fd, 0o700)
        except BaseException:
            os.close(fd)
            raise
        # its children usually come next: hand the descriptor to the cache (or close it)
        self.root.adopt(comps, fd, (st.st_dev, st.st_ino))
        # mtimes last: creating children would move them again
        self.dirs.append((comps, ti.mode & 0o7777, ti.mtime_ns, st.st_ino))
        self.stats.dirs += 1
        return pdir

    def _hardlink(self, ti: Member, pfd: int, base: str) -> None:
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

    def _special(self, ti: Member, pfd: int, base: str) -> None:
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

    def _owner(self, ti: Member, *, fd: int) -> None:
        if self.privileged:
            os.fchown(fd, ti.uid, ti.gid)
        else:
            self._note_owner(ti)

    def _note_owner(self, ti: Member) -> None:
        if not self.owner_warned and (ti.uid, ti.gid) != (self.euid, self.egid):
            self.owner_warned = True
            self.stats.warn(
                f"{self.layer}: ownership not applied (unprivileged), e.g. {ti.name!r} "
                f"wants {ti.uid}:{ti.gid}"
            )

    def _set_xattrs(self, ti: Member, target: int | str) -> None:
        for xname, value in ti.xattrs:
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

    def _creates_final_mode(self, ti: Member, pdir: _Dir) -> bool:
        """Whether ``open(…, O_CREAT, ti.mode)`` in ``pdir`` yields exactly that mode: no ``fchmod``.

        True for plain permission bits the umask keeps (0644 and 0755 under
        the usual 022) in a directory without a default ACL, which would
        replace the umask.  setuid/setgid/sticky bits always take the
        ``fchmod`` after ``fchown`` (which would clear them), and so does a
        member with xattrs (an access ACL rewrites the mode).  Should another
        thread change the umask meanwhile (anyarch never does), the mode can
        only come out narrower than wanted, never wider.
        """
        mode = ti.mode
        if self.umask is None or mode & ~0o777 or mode & self.umask or ti.xattrs:
            return False
        if pdir.plain is None:
            try:
                os.getxattr(f"/proc/self/fd/{pdir.fd}", "system.posix_acl_default")
            except OSError as e:
                pdir.plain = e.errno in (errno.ENODATA, errno.EOPNOTSUPP)
            else:
                pdir.plain = False
        return pdir.plain

    def _meta_fd(self, ti: Member, fd: int, pdir: _Dir, *, chmod: bool) -> None:
        """Owner, xattrs, mode, mtime on a file just created in ``pdir``, in the order that keeps them all.

        ``chown`` clears setuid bits and file capabilities, so it goes first;
        ``chmod`` after the xattrs as containerd does.  The ``fchown`` is
        skipped when the file already has the wanted owner (see
        :class:`_Dir`): usually root creating a ``0:0`` file.  Skipping it
        changes nothing, since the new file has mode 0600 and no xattrs yet.
        """
        if self.privileged:
            if pdir.owner is None:
                st = os.fstat(fd)
                pdir.owner = (st.st_uid, st.st_gid)
            if (ti.uid, ti.gid) != pdir.owner:
                os.fchown(fd, ti.uid, ti.gid)
        else:
            self._note_owner(ti)
        self._set_xattrs(ti, fd)
        if chmod:
            os.fchmod(fd, ti.mode & 0o7777)
        mt = ti.mtime_ns
        os.utime(fd, ns=(mt, mt))

    def _meta(
        self,
        ti: Member,
        pfd: int,
        base: str,
        *,
        chmod: bool,
        mode: int = 0,
        owner: tuple[int, int] | None = None,
    ) -> None:
        """Metadata for entries we cannot open (symlinks, devices, fifos): by name, no follow.

        ``owner`` is what a new inode in ``pfd`` is known to get (:class:`_Dir`),
        if known: a symlink created there already has it, so no ``lchown``
        when it is the wanted one.
        """
        if self.privileged:
            if (ti.uid, ti.gid) != owner:
                os.chown(base, ti.uid, ti.gid, dir_fd=pfd, follow_symlinks=False)
        else:
            self._note_owner(ti)
        self._set_xattrs(ti, _proc(pfd, base))
        if chmod:  # never a symlink here, and we created it a moment ago
            os.chmod(base, mode, dir_fd=pfd)
        mt = ti.mtime_ns
        os.utime(base, ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory modes (unprivileged) and mtimes, deepest first, once nothing else moves them."""
        for comps, mode, mt, ino in reversed(self.dirs):
            # deepest first, so consecutive directories mostly share cached parents
            pdir = self.root.resolve(comps[:-1], "/".join(comps), create=False)
            if pdir is None:
                continue
            pfd = pdir.fd
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
    tar = _TarStream(reader, layer)
    try:
        applier = _Applier(rootfs, privileged=privileged, layer=layer, stats=stats)
    except OSError as e:
        raise LayerApplyError(
            f"{layer}: cannot open rootfs {rootfs}: {e.strerror or e}",
            hint="create the rootfs directory before extracting into it",
        ) from e
    try:
        try:
            member = tar.next()
        except LayerTruncatedError:
            if reader.pos == 0:  # zero bytes: an empty blob, or a cut the codec let through
                raise LayerTruncatedError(
                    f"{layer}: the layer stream is empty",
                    hint="the blob is incomplete; delete it from the store and pull again",
                ) from None
            raise
        while member is not None:
            try:
                applier.apply(tar, member)
            except OSError as e:
                hint = "check free space and permissions of the rootfs directory"
                if e.errno == errno.EINVAL and privileged:
                    hint = (
                        f"uid {member.uid}/gid {member.gid} may be unmapped in this user "
                        "namespace: widen /etc/subuid and /etc/subgid"
                    )
                raise LayerApplyError(
                    f"{layer}: cannot apply {member.name!r}: {e.strerror or e}", hint=hint
                ) from e
            member = tar.next()
        reader.drain()
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
