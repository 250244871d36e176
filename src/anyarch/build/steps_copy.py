"""COPY and ADD: carry out the operations :mod:`anyarch.build.copy_sources` planned.

:func:`~anyarch.build.copy_sources.resolve_copy` decides *what* goes *where*;
this module writes it into a step's rootfs the way fsutil's copier (what
BuildKit uses) does:

* files keep their mode and mtime; owners are the source's (0:0 from the
  build context) unless ``--chown`` names others, which are looked up in the
  *target* rootfs's ``/etc/passwd`` and ``/etc/group`` (a user without a
  group gets the same numeric gid as its uid, as Docker documents);
* ``--chmod`` (octal or symbolic, BSD ``setmode`` rules with umask 0) applies
  to every copied file and directory;
* missing parent directories of the destination are created 0755, owned by
  the ``--chown`` user;
* hard links between copied files stay hard links; symlinks are copied as
  links; FIFOs and device nodes are recreated;
* ADD unpacks a local tar archive (plain, gzip, bzip2, xz or zstd) into the
  destination instead of copying it, and downloads ``http(s)`` sources
  (``--checksum`` pins their digest).

Every write goes through directory descriptors opened component by component
with ``O_NOFOLLOW`` from the rootfs, so a symlink in the image can never make
a COPY write outside it (the planner resolved destination links inside the
image already; a link found on the way is an error, not followed).

The same resolution also yields the *content digest* that completes a COPY's
cache key (:func:`content_digest`): what the step reads from the context or
the network, without looking at the image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import errno
import hashlib
import os
import stat
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from anyarch.archive.codecs import open_decompressed, sniff
from anyarch.archive.extract import extract_layer
from anyarch.build.context import EntryKind, SourceTree
from anyarch.build.copy_sources import CopyOp, CopyPlan, resolve_copy
from anyarch.dockerfile.chmod import ChmodError, parse_chmod
from anyarch.errors import BuildError, DigestMismatchError, InvalidInputError
from anyarch.plan import CopySpec
from anyarch.sandbox import resolve_user

__all__ = [
    "Downloads",
    "apply_copy",
    "apply_mode",
    "content_digest",
    "resolve_chown",
]

_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


# --- --chmod --------------------------------------------------------------------


def apply_mode(chmod: str, mode: int, is_dir: bool) -> int:
    """The permission bits ``--chmod=chmod`` gives an entry whose bits are ``mode``.

    Octal values replace the bits; symbolic ones follow BSD ``setmode(3)``
    with umask 0 (``tonistiigi/dchapes-mode``, what BuildKit uses): clauses
    ``[ugoa]*[+-=][rwxXstugo]*`` separated by commas.
    """
    spec = parse_chmod(chmod)
    if spec.octal is not None:
        return spec.octal
    cur = mode & 0o7777
    for clause in spec.symbolic.split(","):
        i = 0
        who = 0
        while i < len(clause) and clause[i] in "augo":
            who |= {"u": 0o4700, "g": 0o2070, "o": 0o1007, "a": 0o7777}[clause[i]]
            i += 1
        if who == 0:
            who = 0o7777
        while i < len(clause):
            op = clause[i]
            i += 1
            bits = 0
            while i < len(clause) and clause[i] not in "+-=":
                c = clause[i]
                i += 1
                if c == "r":
                    bits |= 0o444
                elif c == "w":
                    bits |= 0o222
                elif c == "x":
                    bits |= 0o111
                elif c == "X":
                    if is_dir or cur & 0o111:
                        bits |= 0o111
                elif c == "s":
                    bits |= 0o6000
                elif c == "t":
                    bits |= 0o1000
                elif c in "ugo":
                    shift = {"u": 6, "g": 3, "o": 0}[c]
                    v = (cur >> shift) & 0o7
                    bits |= v << 6 | v << 3 | v
            bits &= who
            if op == "+":
                cur |= bits
            elif op == "-":
                cur &= ~bits
            else:
                cur = (cur & ~who) | bits
    return cur & 0o7777


# --- --chown ----------------------------------------------------------------------


def resolve_chown(rootfs: Path, chown: str) -> tuple[int, int] | None:
    """uid and gid for ``--chown=user[:group]``, names looked up in ``rootfs``; None when empty."""
    chown = chown.strip()
    if not chown:
        return None
    user, sep, group = chown.partition(":")
    if sep and not group:
        raise BuildError(
            f"invalid --chown={chown}: empty group after ':'",
            hint="write --chown=user, --chown=user:group, --chown=uid or --chown=uid:gid",
        )
    who = resolve_user(rootfs, user)
    if not group:
        return who.uid, who.uid
    return who.uid, resolve_user(rootfs, f"{user}:{group}").gid


# --- archives ---------------------------------------------------------------------


def _tar_header_ok(block: bytes) -> bool:
    """Whether a 512-byte block is a valid tar header (checksum matches; ustar or v7)."""
    if len(block) < 512 or block[:1] == b"\0":
        return False
    field = block[148:156].split(b"\0", 1)[0].strip(b" \0")
    try:
        want = int(field, 8) if field else -1
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return want == unsigned


# --- downloads (ADD URL) ------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Download:
    """A fetched URL: the file in the build's work dir, its sha256 and mtime."""

    url: str
    path: Path
    digest: str
    mtime: int | None


class Downloads:
    """URLs an ADD names, fetched once per build into ``work`` (stdlib urllib)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._lock = threading.Lock()
        self._done: dict[str, Download] = {}

    def fetch(self, url: str, checksum: str = "") -> Download:
        with self._lock:
            if url in self._done:
                return self._done[url]
        name = os.path.basename(urllib.parse.urlsplit(url).path) or "index.html"
        folder = Path(tempfile.mkdtemp(prefix="dl-", dir=self.work))
        dest = folder / name
        h = hashlib.sha256()
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "anyarch"})
            with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
                while chunk := resp.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                modified = resp.headers.get("Last-Modified")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BuildError(
                f"ADD {url}: download failed: {reason}",
                hint="check the URL and the network (RUN --network applies only to RUN)",
            ) from None
        mtime = None
        if modified:
            with contextlib.suppress(TypeError, ValueError):
                mtime = int(email.utils.parsedate_to_datetime(modified).timestamp())
        if mtime is not None:
            os.utime(dest, (mtime, mtime))
        digest = "sha256:" + h.hexdigest()
        if checksum and checksum != digest:
            raise DigestMismatchError(
                f"ADD {url}: content has digest {digest}, --checksum expects {checksum}",
                hint="the file at that URL changed, or the checksum is wrong",
            )
        got = Download(url, dest, digest, mtime)
        with self._lock:
            self._done[url] = got
        return got


# --- content digest (the key's placeholder) ---------------------------------------------


def _heredoc_tree(spec: CopySpec, work: Path) -> tuple[SourceTree, list[str]] | None:
    if not spec.contents:
        return None
    folder = Path(tempfile.mkdtemp(prefix="heredoc-", dir=work))
    names = []
    for content in spec.contents:
        name = content.path.strip("/").replace("/", "_") or "heredoc"
        target = folder / name
        target.write_text(content.data, encoding="utf-8", errors="surrogateescape")
        os.chmod(target, 0o644)
        os.utime(target, (0, 0))
        names.append(name)
    return SourceTree(folder, label="heredoc"), names


def _download_tree(
    spec: CopySpec, downloads: Downloads
) -> tuple[SourceTree, list[str], list[str]] | None:
    urls = [s.raw for s in spec.sources if s.kind == "url"]
    if not urls:
        return None
    gits = [s.raw for s in spec.sources if s.kind == "git"]
    if gits:
        raise BuildError(
            f"ADD {gits[0]}: git sources are not supported yet",
            hint="clone in a RUN step (RUN git clone ...) or fetch an archive URL instead",
        )
    folder = Path(tempfile.mkdtemp(prefix="urls-", dir=downloads.work))
    names = []
    digests = []
    for url in urls:
        got = downloads.fetch(url, spec.checksum)
        target = folder / got.path.name
        if not target.exists():
            os.link(got.path, target)
        names.append(got.path.name)
        digests.append(got.digest)
    return SourceTree(folder, label="downloads"), names, digests


def _local_sources(spec: CopySpec) -> list[str]:
    return [s.raw for s in spec.sources if s.kind == "local"]


def _unpack(spec: CopySpec) -> bool:
    return spec.is_add and spec.unpack is not False


def content_digest(spec: CopySpec, context: Callable[[], SourceTree], downloads: Downloads) -> str:
    """What a COPY/ADD reads from the build context and the network, as one digest.

    The context part is the copy plan's key with ``/`` as destination: every
    source path, type, mode, link target and content digest, independent of
    the image (the image enters the step key as its base).  Raises the copy
    errors (source not found, escapes) before anything runs.
    """
    h = hashlib.sha256(b"anyarch-copy-content-v1\n")
    local = _local_sources(spec)
    if local and spec.source_key is None:
        plan = resolve_copy(
            context(),
            local,
            "/",
            parents=spec.parents,
            excludes=spec.exclude,
            instruction="ADD" if spec.is_add else "COPY",
            unpack=_unpack(spec),
        )
        h.update(plan.cache_key.encode() + b"\n")
    if any(s.kind in ("url", "git") for s in spec.sources):
        if spec.checksum:
            h.update(f"checksum {spec.checksum}\n".encode())
        else:
            got = _download_tree(spec, downloads)
            if got is not None:
                for digest in got[2]:
                    h.update(f"url {digest}\n".encode())
    return "sha256:" + h.hexdigest()


# --- writing into the rootfs ----------------------------------------------------------


class _Writer:
    """Creates entries below a rootfs through O_NOFOLLOW directory descriptors."""

    def __init__(self, rootfs: Path, owner: tuple[int, int] | None, what: str) -> None:
        self.rootfs = rootfs
        self.owner = owner
        self.what = what
        self.root_fd = os.open(rootfs, _O_DIR)
        self._dirs: dict[str, int] = {"": self.root_fd}
        self.dir_times: list[tuple[str, int]] = []

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def _fail(self, path: str, why: str) -> BuildError:
        return BuildError(
            f"{self.what}: cannot write /{path}: {why}",
            hint="the image has something unexpected there (a symlink or file where a "
            "directory should be); change the destination",
        )

    def dir_fd(self, rel: str) -> int:
        """A descriptor of directory ``rel``, creating missing ones 0755 (owned by --chown)."""
        if rel in self._dirs:
            return self._dirs[rel]
        parent, _, name = rel.rpartition("/")
        pfd = self.dir_fd(parent)
        try:
            fd = os.open(name, _O_DIR, dir_fd=pfd)
        except FileNotFoundError:
            os.mkdir(name, 0o755, dir_fd=pfd)
            uid, gid = self.owner or (0, 0)
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            fd = os.open(name, _O_DIR, dir_fd=pfd)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise self._fail(rel, "a path component is not a directory") from None
            raise
        self._dirs[rel] = fd
        return fd

    def split(self, dest: str) -> tuple[int, str]:
        rel = dest.strip("/")
        if not rel:
            return -1, ""
        parent, _, name = rel.rpartition("/")
        if name in ("..", "."):
            raise self._fail(rel, "not a plain path")
        return self.dir_fd(parent), name

    def clear(self, pfd: int, name: str, rel: str) -> None:
        """Remove a non-directory at ``name`` (a directory there is an error)."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise self._fail(rel, "a directory is in the way")
        os.unlink(name, dir_fd=pfd)

    def forget(self, rel: str) -> None:
        fd = self._dirs.pop(rel, None)
        if fd is not None:
            os.close(fd)


def _copy_bytes(src: IO[bytes], dst_fd: int) -> None:
    src_fd = src.fileno()
    try:
        while os.copy_file_range(src_fd, dst_fd, _CHUNK):
            pass
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    while chunk := src.read(_CHUNK):
        view = memoryview(chunk)
        while view:
            n = os.write(dst_fd, view)
            view = view[n:]


@dataclasses.dataclass(slots=True)
class _Apply:
    tree: SourceTree
    writer: _Writer
    chmod: str
    owner: tuple[int, int] | None
    what: str

    def ids(self, op: CopyOp) -> tuple[int, int]:
        return self.owner if self.owner is not None else (op.entry.uid, op.entry.gid)

    def mode(self, op: CopyOp, is_dir: bool) -> int:
        if self.chmod:
            return apply_mode(self.chmod, op.entry.mode, is_dir)
        return op.entry.mode

    def run(self, op: CopyOp) -> None:
        rel = op.dest.strip("/")
        if op.kind is EntryKind.DIR:
            self.directory(op, rel)
            return
        pfd, name = self.writer.split(op.dest)
        if not name:
            raise self.writer._fail(rel, f"cannot replace the root with a {op.kind.value}")
        uid, gid = self.ids(op)
        entry = op.entry
        if op.kind is EntryKind.FILE and op.unpack_to is not None and self.unpack(op):
            return
        self.writer.clear(pfd, name, rel)
        if op.kind is EntryKind.FILE:
            if op.hardlink_to is not None:
                spfd, sname = self.writer.split(op.hardlink_to)
                os.link(sname, name, src_dir_fd=spfd, dst_dir_fd=pfd, follow_symlinks=False)
                return
            fd = os.open(name, _O_NEW, 0o600, dir_fd=pfd)
            try:
                with self.tree.open(entry) as src:
                    _copy_bytes(src, fd)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, self.mode(op, False))
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            finally:
                os.close(fd)
            return
        if op.kind is EntryKind.SYMLINK:
            os.symlink(entry.link_target or "", name, dir_fd=pfd)
        elif op.kind is EntryKind.FIFO:
            os.mkfifo(name, 0o600, dir_fd=pfd)
        elif op.kind in (EntryKind.CHAR, EntryKind.BLOCK):
            kind = stat.S_IFCHR if op.kind is EntryKind.CHAR else stat.S_IFBLK
            os.mknod(name, kind | 0o600, entry.rdev, dir_fd=pfd)
        else:
            return  # sockets cannot be copied (fsutil skips them too)
        os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        if op.kind is not EntryKind.SYMLINK:
            os.chmod(name, self.mode(op, False), dir_fd=pfd)
        os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def directory(self, op: CopyOp, rel: str) -> None:
        entry = op.entry
        if not rel:  # the root: only its metadata, and only for a whole-tree copy
            self.writer.dir_times.append((rel, entry.mtime_ns))
            return
        pfd, name = self.writer.split(op.dest)
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise self.writer._fail(rel, "a file is in the way of a directory")
        if st is None:
            os.mkdir(name, 0o700, dir_fd=pfd)
        uid, gid = self.ids(op)
        if op.top_level and st is not None:
            pass  # an existing destination keeps its mode and owner
        else:
            mode = 0o755 if op.top_level else self.mode(op, True)
            if op.top_level and self.owner is None:
                uid, gid = 0, 0
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(name, mode, dir_fd=pfd)
        self.writer.dir_times.append((rel, entry.mtime_ns))

    def unpack(self, op: CopyOp) -> bool:
        """ADD's archive extraction; False when the file is not a tar archive."""
        src_path = self.tree.root / op.source
        with self.tree.open(op.entry) as fh:
            head = fh.read(8)
            fh.seek(0)
            compression = sniff(head)
            try:
                block = (open_decompressed(fh, compression) if compression else fh).read(512)
            except Exception:
                block = b""
            if not _tar_header_ok(block):
                return False
            fh.seek(0)
            assert op.unpack_to is not None
            target_rel = op.unpack_to.strip("/")
            if target_rel:
                parent, _, name = target_rel.rpartition("/")
                pfd = self.writer.dir_fd(parent)
                try:
                    os.mkdir(name, 0o755, dir_fd=pfd)
                except FileExistsError:
                    pass
                self.writer.forget(target_rel)
                self.writer.dir_fd(target_rel)  # refuses a symlink in the way
            try:
                extract_layer(
                    fh,
                    self.writer.rootfs / target_rel,
                    compression=compression,
                    layer=f"{self.what} archive {src_path.name}",
                )
            except BuildError:
                raise
            except Exception as exc:
                raise BuildError(
                    f"{self.what}: cannot unpack {op.source}: {exc}",
                    hint="the archive is damaged; ADD copies non-archives as they are",
                ) from None
        return True


def _apply_plan(
    plan: CopyPlan,
    tree: SourceTree,
    rootfs: Path,
    chmod: str,
    owner: tuple[int, int] | None,
    what: str,
) -> None:
    writer = _Writer(rootfs, owner, what)
    try:
        applier = _Apply(tree, writer, chmod, owner, what)
        for op in plan.ops:
            applier.run(op)
        # directory times last (adding children changed them), deepest first
        for rel, mtime_ns in sorted(writer.dir_times, key=lambda d: -d[0].count("/")):
            if not rel:
                continue
            parent, _, name = rel.rpartition("/")
            pfd = writer.dir_fd(parent)
            with contextlib.suppress(FileNotFoundError):
                os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
    finally:
        writer.close()


def _check_chmod(chmod: str, what: str) -> None:
    if chmod:
        try:
            parse_chmod(chmod)
        except ChmodError as err:
            raise InvalidInputError(
                f"{what}: {err.message}", hint="use --chmod=755 or u+x"
            ) from None


def apply_copy(
    spec: CopySpec,
    rootfs: Path,
    *,
    context: Callable[[], SourceTree],
    source: SourceTree | None,
    downloads: Downloads,
    work: Path,
) -> int:
    """Carry out a COPY/ADD into ``rootfs``; returns the number of entries written.

    ``source`` is the ``--from`` stage's or image's rootfs as a tree (None:
    the build context, from ``context()``).
    """
    what = "ADD" if spec.is_add else "COPY"
    _check_chmod(spec.chmod, what)
    owner = resolve_chown(rootfs, spec.chown)
    groups: list[tuple[SourceTree, Sequence[str], bool, bool, Sequence[str]]] = []
    local = _local_sources(spec)
    if local:
        tree = source if spec.source_key is not None and source is not None else context()
        groups.append((tree, local, spec.parents, _unpack(spec), spec.exclude))
    heredocs = _heredoc_tree(spec, work)
    if heredocs is not None:
        groups.append((heredocs[0], heredocs[1], False, False, ()))
    urls = _download_tree(spec, downloads)
    if urls is not None:
        groups.append((urls[0], urls[1], False, False, ()))
    written = 0
    for tree, sources, parents, unpack, excludes in groups:
        plan = resolve_copy(
            tree,
            sources,
            spec.dest,
            parents=parents,
            excludes=excludes,
            image_root=rootfs,
            instruction=what,
            unpack=unpack,
        )
        _apply_plan(plan, tree, rootfs, spec.chmod, owner, what)
        written += len(plan.ops)
    return written
