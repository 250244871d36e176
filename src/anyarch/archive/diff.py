"""Turn a filesystem change into an OCI layer: find the changes, write the tar.

Two ways to find what a build step changed, one way to write it down:

* :func:`overlay_changes` reads an overlayfs upper directory, which *is* the
  diff: whiteouts are 0/0 character devices, replaced directories carry
  ``trusted.overlay.opaque=y``.
* :func:`tree_changes` compares two trees (or a :class:`Snapshot` taken
  before the step with the tree after it) where overlayfs is unavailable.
* :func:`write_diff_layer` streams the changes as a tar with OCI whiteouts,
  hashing the tar (diff ID) and the compressed bytes (digest) in the same
  pass, so a layer is never read back.

The tar headers are written here rather than by :mod:`tarfile` because
tarfile manages only ~30 MB/s; ustar headers with PAX records for long names,
big ids and xattrs are a few dozen lines, and owning them lets us pin every
byte for reproducible digests: sorted paths (component-wise, so parents
precede children), numeric ids only, no user/group names, whole-second
mtimes clamped to ``SOURCE_DATE_EPOCH`` when asked, whiteouts at time 0.
The choices follow containerd's ``ChangeWriter``, so layers look like the
ones BuildKit produces.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import errno
import hashlib
import os
import stat
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Protocol

from anyarch.archive.codecs import GzipCompressor
from anyarch.archive.layer import LayerResult
from anyarch.archive.whiteout import (
    OVERLAY_XATTR_PREFIXES,
    is_overlay_opaque,
    is_overlay_private_xattr,
    is_overlay_whiteout,
    opaque_marker_path,
    whiteout_name,
)
from anyarch.errors import BuildError, UnsupportedMediaTypeError

__all__ = [
    "Change",
    "ChangeKind",
    "DiffError",
    "FileMeta",
    "LayerResult",
    "Snapshot",
    "overlay_changes",
    "tree_changes",
    "write_diff_layer",
]

CHUNK = 1 << 20
FLUSH = 1 << 20
"""Small writes (headers) are batched to this size before hashing/compressing:
compressors and hashes pay a per-call cost that dominates for tiny buffers."""

MEDIA_TYPES = {
    None: "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}

_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12s")
_MAX_OCTAL_7 = 0o7777777
_MAX_OCTAL_11 = 0o77777777777
_ZERO_BLOCK = bytes(512)
_PAX_NAME = b"././@PaxHeader"


class DiffError(BuildError):
    """The changes of a build step cannot be turned into a layer."""


class ChangeKind(enum.Enum):
    """What happened to a path; ``ADD`` and ``MODIFY`` are written the same way."""

    ADD = "add"
    MODIFY = "modify"
    DELETE = "delete"


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One changed path (relative, ``/``-separated, no leading ``/``).

    ``opaque`` marks a directory whose lower-layer contents are hidden: the
    writer follows its entry with a ``.wh..wh..opq`` marker.
    """

    path: str
    kind: ChangeKind
    opaque: bool = False


# --- metadata and snapshots -------------------------------------------------------


def _wanted_xattr(name: str) -> bool:
    """The xattrs a layer carries: file capabilities (as Docker/containerd) and ``user.*``.

    ``security.selinux`` is host policy and ``trusted.*`` is private to the
    host (overlayfs keeps its bookkeeping there), so neither goes into an image.
    """
    if is_overlay_private_xattr(name):
        return False
    return name == "security.capability" or name.startswith("user.")


def read_xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    """The layer-worthy xattrs of ``path`` (not following a final symlink), sorted."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES):
            return ()
        raise
    out: list[tuple[str, bytes]] = []
    for n in sorted(names):
        if not _wanted_xattr(n):
            continue
        try:
            out.append((n, os.getxattr(path, n, follow_symlinks=False)))
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.EPERM, errno.EACCES, errno.ENOTSUP):
                continue
            raise
    return tuple(out)


@dataclasses.dataclass(frozen=True, slots=True)
class FileMeta:
    """The parts of ``lstat`` (plus link target and xattrs) a diff compares."""

    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    nlink: int
    rdev: int
    link: str
    xattrs: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, path: str, st: os.stat_result | None = None) -> FileMeta:
        st = st if st is not None else os.lstat(path)
        link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        return cls(
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
            st.st_nlink,
            st.st_rdev,
            link,
            read_xattrs(path),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """Metadata of every path under ``root``, recorded before a build step runs.

    Taking a snapshot instead of copying the tree makes the copy fallback
    cheap when the step runs in place: inode numbers and ctimes (which no
    program can set back) then tell reliably whether a file was touched.
    """

    root: Path
    entries: dict[str, FileMeta]
    children: dict[str, list[str]]

    @classmethod
    def take(cls, root: Path | str) -> Snapshot:
        root = Path(root)
        entries: dict[str, FileMeta] = {}
        children: dict[str, list[str]] = {}
        for rel, _, meta in _walk(root):
            entries[rel] = meta
            head, _, base = rel.rpartition("/")
            children.setdefault(head, []).append(base)
        return cls(root, entries, children)


def _walk(root: Path) -> Iterator[tuple[str, str, FileMeta]]:
    """``(relative path, absolute path, meta)`` below ``root`` in tree order, never following links."""
    return _walk_sub("", str(root))


def _walk_sub(rel_dir: str, abs_dir: str) -> Iterator[tuple[str, str, FileMeta]]:
    """Depth first, names sorted: the component-wise order the layer writer uses."""
    with os.scandir(abs_dir) as it:
        names = sorted(e.name for e in it)
    for name in names:
        rel = f"{rel_dir}/{name}" if rel_dir else name
        ap = f"{abs_dir}/{name}"
        meta = FileMeta.of(ap)
        yield rel, ap, meta
        if stat.S_ISDIR(meta.mode):
            yield from _walk_sub(rel, ap)


# --- change detection -------------------------------------------------------------


def overlay_changes(upper: Path | str) -> Iterator[Change]:
    """The changes recorded in an overlayfs upper directory, in tree order.

    Needs the mount to have used ``redirect_dir=off`` and ``metacopy=off``
    (anyarch's snapshotter does): with those features the upper directory
    alone no longer holds the diff, and we refuse rather than write a wrong layer.
    """
    upper = Path(upper)
    for rel, ap, meta in _walk(upper):
        if is_overlay_whiteout(meta.mode, meta.rdev):
            yield Change(rel, ChangeKind.DELETE)
            continue
        _refuse_overlay_features(ap, rel)
        if stat.S_ISDIR(meta.mode):
            yield Change(rel, ChangeKind.ADD, opaque=is_overlay_opaque(ap))
        else:
            yield Change(rel, ChangeKind.ADD)


def _refuse_overlay_features(ap: str, rel: str) -> None:
    for prefix in OVERLAY_XATTR_PREFIXES:
        for feature in ("redirect", "metacopy"):
            try:
                os.getxattr(ap, prefix + feature, follow_symlinks=False)
            except OSError:
                continue
            raise DiffError(
                f"overlay upper entry {rel!r} uses overlayfs {feature}; its diff is not in the upper dir",
                hint="mount the snapshot with redirect_dir=off,metacopy=off",
            )


def tree_changes(before: Path | str | Snapshot, after: Path | str) -> Iterator[Change]:
    """The changes that turn ``before`` into ``after``, in tree order.

    With a :class:`Snapshot` of the same directory (the step ran in place),
    an unchanged inode number and ctime prove a file untouched.  Comparing two
    distinct trees, we compare type, mode, owner, size, mtime, link target,
    link count and xattrs, and — like continuity's ``fs.Changes`` — the bytes
    too when the mtimes have no sub-second part (tar extraction or ``touch -d``
    may have set them, so equal times prove nothing).
    """
    after = Path(after)
    snap = before if isinstance(before, Snapshot) else Snapshot.take(before)
    in_place = snap.root.resolve() == after.resolve()
    yield from _tree_dir(snap, "", str(after), str(snap.root), in_place)


def _tree_dir(
    snap: Snapshot, rel_dir: str, abs_dir: str, before_dir: str, in_place: bool
) -> Iterator[Change]:
    with os.scandir(abs_dir) as it:
        now = sorted(e.name for e in it)
    was = snap.children.get(rel_dir, [])
    gone = sorted(set(was).difference(now))
    # merge the deletions into the listing so the output stays sorted
    names = sorted([(n, False) for n in now] + [(n, True) for n in gone])
    for name, deleted in names:
        rel = f"{rel_dir}/{name}" if rel_dir else name
        if deleted:
            yield Change(rel, ChangeKind.DELETE)
            continue
        ap = f"{abs_dir}/{name}"
        meta = FileMeta.of(ap)
        old = snap.entries.get(rel)
        is_dir = stat.S_ISDIR(meta.mode)
        if old is None:
            yield Change(rel, ChangeKind.ADD)
            if is_dir:
                yield from _all_added(rel, ap)
            continue
        if not _same(old, meta, in_place, f"{before_dir}/{rel}", ap):
            yield Change(rel, ChangeKind.MODIFY)
        if is_dir:
            if stat.S_ISDIR(old.mode):
                yield from _tree_dir(snap, rel, ap, before_dir, in_place)
            else:
                yield from _all_added(rel, ap)


def _all_added(rel_dir: str, abs_dir: str) -> Iterator[Change]:
    for rel, _, _ in _walk_sub(rel_dir, abs_dir):
        yield Change(rel, ChangeKind.ADD)


def _same(old: FileMeta, new: FileMeta, in_place: bool, old_path: str, new_path: str) -> bool:
    if stat.S_IFMT(old.mode) != stat.S_IFMT(new.mode):
        return False
    if (old.mode, old.uid, old.gid, old.mtime_ns, old.xattrs) != (
        new.mode,
        new.uid,
        new.gid,
        new.mtime_ns,
        new.xattrs,
    ):
        return False
    if stat.S_ISDIR(new.mode):
        return True  # size and link count of a directory say nothing about the layer
    if (old.size, old.link, old.nlink, old.rdev) != (new.size, new.link, new.nlink, new.rdev):
        return False
    if in_place:
        return (old.ino, old.ctime_ns) == (new.ino, new.ctime_ns)
    if stat.S_ISREG(new.mode) and new.mtime_ns % 1_000_000_000 == 0:
        return _same_bytes(old_path, new_path)
    return True


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        while True:
            x = fa.read(CHUNK)
            y = fb.read(CHUNK)
            if x != y:
                return False
            if not x:
                return True


# --- the tar writer ---------------------------------------------------------------


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


def _compressor(compression: str | None, level: int | None) -> _Compressor | None:
    if compression is None:
        return None
    if compression == "gzip":
        return GzipCompressor(6 if level is None else level)
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise UnsupportedMediaTypeError(
                "zstd layer compression requested but the 'zstandard' package is not installed",
                hint="pip install zstandard (or anyarch[fast]), or use gzip",
            ) from None
        c: Any = zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()
        return c  # type: ignore[no-any-return]
    raise UnsupportedMediaTypeError(
        f"unknown layer compression {compression!r}", hint="use gzip, zstd or none"
    )


class _LayerSink:
    """Tar bytes in; diff ID and digest hashed, compressed bytes out, in one pass.

    Bytes are gathered into fixed ``FLUSH``-sized buffers (file bodies are
    read straight into them), so the compressor always sees the same chunk
    boundaries for the same tar: output is reproducible, and tiny header
    writes cost no compressor calls.  With compression, a full buffer is
    hashed for the diff ID here while one worker thread compresses, hashes
    and writes the previous one: zlib/isal/zstd and hashlib release the GIL,
    so the two stages overlap.  A few buffers rotate; one is only refilled
    after the worker has finished with it.
    """

    NBUF = 3

    def __init__(self, sink: IO[bytes], compressor: _Compressor | None) -> None:
        self.sink = sink
        self.comp = compressor
        self.diff = hashlib.sha256()
        self.digest = hashlib.sha256()
        self.tar_size = 0
        self.size = 0
        self.views = [memoryview(bytearray(FLUSH)) for _ in range(self.NBUF)]
        self.cur = 0
        self.fill = 0
        self.pool = ThreadPoolExecutor(1, "anyarch-layer") if compressor is not None else None
        self.pending: collections.deque[Future[None]] = collections.deque()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        pos = 0
        while pos < n:
            take = min(FLUSH - self.fill, n - pos)
            self.views[self.cur][self.fill : self.fill + take] = data[pos : pos + take]
            self.fill += take
            pos += take
            if self.fill == FLUSH:
                self._submit()

    def copy_from(self, f: IO[bytes], size: int, what: str) -> None:
        """Read exactly ``size`` bytes of ``f`` directly into the buffers."""
        left = size
        while left:
            view = self.views[self.cur]
            take = min(FLUSH - self.fill, left)
            n = f.readinto(view[self.fill : self.fill + take])  # type: ignore[attr-defined]
            if not n:
                raise DiffError(
                    f"diff: {what} shrank while it was being archived",
                    hint="nothing may write to the snapshot while its layer is written",
                )
            self.fill += n
            left -= n
            if self.fill == FLUSH:
                self._submit()

    def _submit(self) -> None:
        chunk = self.views[self.cur][: self.fill]
        self.diff.update(chunk)
        self.tar_size += self.fill
        if self.pool is None:
            self._emit(chunk)
        else:
            self.pending.append(self.pool.submit(self._compress, chunk))
            # the next buffer was submitted NBUF-1 rounds ago: it must be free before reuse
            while len(self.pending) > self.NBUF - 1:
                self.pending.popleft().result()
        self.cur = (self.cur + 1) % self.NBUF
        self.fill = 0

    def _compress(self, chunk: memoryview) -> None:
        assert self.comp is not None
        self._emit(self.comp.compress(chunk))  # type: ignore[arg-type]

    def _emit(self, out: bytes | bytearray | memoryview) -> None:
        if out:
            if self.comp is not None:  # uncompressed: the digest is the diff ID, hash once
                self.digest.update(out)
            try:
                self.sink.write(out)
            except OSError as e:
                raise DiffError(
                    f"cannot write the layer: {e.strerror or e}",
                    hint="check free space and permissions where layers are stored",
                ) from e
            self.size += len(out)

    def finish(self) -> None:
        if self.fill:
            self._submit()
        self._drain()
        if self.comp is not None:
            self._emit(self.comp.flush())

    def _drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        """Stop the worker; after an error, wait for it so no write races the caller's cleanup."""
        if self.pool is not None:
            for fut in self.pending:
                fut.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: str, value: bytes) -> bytes:
    """``"%d key=value\\n"`` where the length counts its own digits."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + len(str(len(body)))
    while n != len(body) + len(str(n)):
        n = len(body) + len(str(n))
    return str(n).encode() + body


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """``(prefix, name)`` fitting ustar's 155+100 fields, or None (then PAX carries the path)."""
    if len(name) <= 100:
        return b"", name
    # as Go's splitUSTARPath: the last "/" within the first 156 bytes, ignoring a trailing one
    end = 156 if len(name) > 156 else len(name) - (1 if name.endswith(b"/") else 0)
    i = name.rfind(b"/", 0, end)
    suffix = len(name) - i - 1
    if i <= 0 or suffix > 100 or suffix == 0 or i > 155:
        return None
    return name[:i], name[i + 1 :]


def tar_header(
    name: str,
    *,
    typeflag: bytes,
    mode: int = 0,
    uid: int = 0,
    gid: int = 0,
    size: int = 0,
    mtime: int = 0,
    linkname: str = "",
    devmajor: int = 0,
    devminor: int = 0,
    xattrs: Iterable[tuple[str, bytes]] = (),
) -> bytes:
    """One member's header block(s): a ustar header, preceded by a PAX header if needed.

    PAX records are used only for what ustar cannot hold (long names or link
    targets, ids ≥ 2²¹, sizes ≥ 8 GiB, negative or huge mtimes, xattrs), so
    that ordinary members look exactly as GNU tar and Go's archive/tar write them.
    """
    bname = name.encode("utf-8", "surrogateescape")
    blink = linkname.encode("utf-8", "surrogateescape")
    pax: list[tuple[str, bytes]] = []
    split = _split_ustar(bname)
    if split is None:
        pax.append(("path", bname))
        prefix, short = b"", bname[:100]
    else:
        prefix, short = split
    if len(blink) > 100:
        pax.append(("linkpath", blink))
        blink = blink[:100]
    if uid > _MAX_OCTAL_7:
        pax.append(("uid", str(uid).encode()))
        uid = 0
    if gid > _MAX_OCTAL_7:
        pax.append(("gid", str(gid).encode()))
        gid = 0
    if size > _MAX_OCTAL_11:
        pax.append(("size", str(size).encode()))
        size = 0
    if mtime < 0 or mtime > _MAX_OCTAL_11:
        pax.append(("mtime", str(mtime).encode()))
        mtime = 0
    for xname, value in xattrs:
        pax.append(("SCHILY.xattr." + xname, value))
    out = b""
    if pax:
        if any(k in ("path", "linkpath") for k, _ in pax):
            try:
                for k, v in pax:
                    if k in ("path", "linkpath"):
                        v.decode("utf-8")
            except UnicodeDecodeError:
                pax.insert(0, ("hdrcharset", b"BINARY"))
        records = b"".join(_pax_record(k, v) for k, v in pax)
        out = _ustar(_PAX_NAME, b"", b"x", 0o644, 0, 0, len(records), 0, b"", 0, 0)
        out += records + _pad(len(records))
    return out + _ustar(
        short, prefix, typeflag, mode, uid, gid, size, mtime, blink, devmajor, devminor
    )


def _ustar(
    name: bytes,
    prefix: bytes,
    typeflag: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: bytes,
    devmajor: int,
    devminor: int,
) -> bytes:
    fields = [
        name,
        _octal(mode & 0o7777, 8),
        _octal(uid, 8),
        _octal(gid, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b"        ",
        typeflag,
        linkname,
        b"ustar\0",
        b"00",
        b"",
        b"",
        _octal(devmajor, 8),
        _octal(devminor, 8),
        prefix,
        b"",
    ]
    block = _USTAR.pack(*fields)
    chksum = b"%06o\0 " % sum(block)
    return block[:148] + chksum + block[156:]


def _pad(n: int) -> bytes:
    return _ZERO_BLOCK[: (-n) % 512]


def _sort_key(path: str) -> list[str]:
    return path.split("/")


def write_diff_layer(
    changes: Iterable[Change],
    root: Path | str,
    sink: IO[bytes],
    *,
    compression: str | None = "gzip",
    clamp_mtime: int | None = None,
    level: int | None = None,
) -> LayerResult:
    """Write ``changes`` (content read from ``root``) as a layer to ``sink``.

    Entries come out sorted component-wise with every parent directory
    before its children (parents that did not change are included with their
    current metadata, as containerd does, so the layer applies on its own).
    Deletions become ``.wh.NAME`` entries, opaque directories are followed by
    ``.wh..wh..opq``, files sharing an inode become one file plus hardlinks,
    sockets are skipped.  ``clamp_mtime`` (``SOURCE_DATE_EPOCH``) caps every
    mtime.  Returns the compressed digest and size, and the diff ID.
    """
    root_s = str(root)
    out = _LayerSink(sink, _compressor(compression, level))
    ordered = sorted(changes, key=lambda c: _sort_key(c.path))
    written: set[str] = set()
    inodes: dict[tuple[int, int], str] = {}
    try:
        for ch in ordered:
            path = ch.path.strip("/")
            if not path or path in written:
                continue
            if any(p in ("", ".", "..") for p in path.split("/")):
                raise DiffError(
                    f"diff of {root_s}: change path {ch.path!r} is not a plain relative path",
                    hint="changes name paths below the root with no '.', '..' or empty parts",
                )
            try:
                _parents(out, root_s, path, written, clamp_mtime)
                written.add(path)
                if ch.kind is ChangeKind.DELETE:
                    out.write(tar_header(whiteout_name(path), typeflag=b"0"))
                    continue
                _entry(out, root_s, path, ch.opaque, clamp_mtime, inodes)
            except OSError as e:
                raise DiffError(
                    f"diff of {root_s}: cannot archive {path!r}: {e.strerror or e}",
                    hint="the snapshot changed or vanished while its layer was written",
                ) from e
        out.write(_ZERO_BLOCK + _ZERO_BLOCK)
        out.finish()
    finally:
        out.close()
    diff_id = f"sha256:{out.diff.hexdigest()}"
    digest = f"sha256:{out.digest.hexdigest()}" if compression is not None else diff_id
    return LayerResult(digest, out.size, diff_id, MEDIA_TYPES[compression])


def _parents(out: _LayerSink, root: str, path: str, written: set[str], clamp: int | None) -> None:
    parts = path.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in written:
            continue
        written.add(parent)
        ap = f"{root}/{parent}"
        st = os.lstat(ap)
        if not stat.S_ISDIR(st.st_mode):
            raise DiffError(
                f"diff of {root}: {path!r} is listed but its parent {parent!r} is not a directory",
                hint="the change list does not match the directory it is read from",
            )
        out.write(_dir_header(parent, st, ap, clamp))


def _mtime(st: os.stat_result, clamp: int | None) -> int:
    t = st.st_mtime_ns // 1_000_000_000
    return min(t, clamp) if clamp is not None else t


def _dir_header(path: str, st: os.stat_result, ap: str, clamp: int | None) -> bytes:
    return tar_header(
        path + "/",
        typeflag=b"5",
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        mtime=_mtime(st, clamp),
        xattrs=read_xattrs(ap),
    )


def _entry(
    out: _LayerSink,
    root: str,
    path: str,
    opaque: bool,
    clamp: int | None,
    inodes: dict[tuple[int, int], str],
) -> None:
    ap = f"{root}/{path}"
    st = os.lstat(ap)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        out.write(_dir_header(path, st, ap, clamp))
        if opaque:
            out.write(tar_header(opaque_marker_path(path), typeflag=b"0"))
        return
    if stat.S_ISSOCK(mode):
        return  # sockets cannot be archived; containerd skips them too
    common: dict[str, Any] = {
        "mode": mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": _mtime(st, clamp),
        "xattrs": read_xattrs(ap),
    }
    if stat.S_ISREG(mode):
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = inodes.get(key)
            if first is not None:
                out.write(tar_header(path, typeflag=b"1", linkname=first, **common))
                return
            inodes[key] = path
        out.write(tar_header(path, typeflag=b"0", size=st.st_size, **common))
        _copy_file(out, ap, st.st_size)
    elif stat.S_ISLNK(mode):
        out.write(tar_header(path, typeflag=b"2", linkname=os.readlink(ap), **common))
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        out.write(
            tar_header(
                path,
                typeflag=b"3" if stat.S_ISCHR(mode) else b"4",
                devmajor=os.major(st.st_rdev),
                devminor=os.minor(st.st_rdev),
                **common,
            )
        )
    elif stat.S_ISFIFO(mode):
        out.write(tar_header(path, typeflag=b"6", **common))


def _copy_file(out: _LayerSink, ap: str, size: int) -> None:
    """Stream exactly ``size`` bytes of ``ap`` (its size when stat'ed) plus padding.

    A file that shrank since is an error (the header is already written);
    one that grew is cut at the size the header announced.
    """
    fd = os.open(ap, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with open(fd, "rb", buffering=0, closefd=False) as f:
            out.copy_from(f, size, ap)
    finally:
        os.close(fd)
    out.write(_pad(size))
