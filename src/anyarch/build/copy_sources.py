"""Resolve COPY/ADD sources into a list of copy operations, as BuildKit does.

Given a :class:`~anyarch.build.context.SourceTree` (the build context or
another stage's rootfs), the source arguments and the destination of one
COPY/ADD instruction, :func:`resolve_copy` decides *what* is copied *where*
without writing anything.  The builder then materialises the operations in
order.  The rules follow BuildKit's Dockerfile frontend (dockerfile2llb
``dispatchCopy``) and its copy backend (tonistiigi/fsutil ``copy.Copy``):

* Sources are relative to the tree root; a leading ``/`` changes nothing.
  Docker silently clamps ``..`` at the root; anyarch refuses it instead
  (:class:`~anyarch.build.context.ContextEscapeError`), because a path that
  silently reads something else is worse than an error.
* Wildcards use Go ``filepath.Match`` per path (``*``/``?`` never cross
  ``/``; ``**`` is just ``*``); the part before the first wildcard element is
  resolved first, and a matching directory is not searched further.
* A source that names a symlink is followed, inside the tree (the tree root
  is ``/``); symlinks *inside* a copied directory are copied as symlinks.
* A directory source copies its contents, never the directory itself; a
  trailing ``/`` on a source means nothing.
* The destination is relative to WORKDIR unless absolute.  A file lands *in*
  the destination when it ends with ``/`` or is an existing directory,
  otherwise *at* it.  Several sources (after wildcard expansion) need a
  destination ending in ``/`` (or an existing directory).
* ``--parents`` keeps each source's path below the root, or below a ``/./``
  pivot; there ``**`` matches any number of directories (it is a
  patternmatcher include pattern, not a filepath.Match).
* ``--exclude`` patterns are .dockerignore-style patterns, matched against
  paths relative to each copied source (and, for a file a wildcard matched,
  its path below the wildcard's fixed prefix, as documented, though BuildKit
  itself skips that check: moby/buildkit#5489).

Missing sources are errors naming the source; when every source is a wildcard
that matched nothing, the error is Docker's ``no source files were
specified`` (BuildKit would copy nothing instead; ``allow_empty_wildcard``
asks for that).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anyarch.build.context import (
    ContextEscapeError,
    Entry,
    EntryKind,
    SourceTree,
    scoped_resolve,
)
from anyarch.build.ignore import (
    BadPatternError,
    IgnoreMatcher,
    MatchInfo,
    contains_wildcards,
    go_clean,
    go_filepath_match,
    go_join,
)
from anyarch.errors import BuildError, InvalidInputError

__all__ = [
    "CopyError",
    "CopyOp",
    "CopyPlan",
    "CopySourceNotFoundError",
    "normalize_dest",
    "resolve_copy",
]


class CopyError(BuildError):
    """A COPY/ADD that cannot be carried out as written."""


class CopySourceNotFoundError(CopyError):
    """A COPY/ADD source that does not exist in the context or stage."""


@dataclass(frozen=True, slots=True)
class CopyOp:
    """One thing to create in the image.

    ``source`` is the path in the source tree (``""`` is its root) to read;
    ``entry`` its metadata (mode, owner, size, mtime, link target, device).
    ``dest`` is the absolute path in the image, with symlinks in the
    destination already resolved inside the image root.

    How the builder applies each kind (fsutil's ``copy`` semantics):

    * ``DIR`` with ``top_level``: the directory a source's contents go into;
      create it (and parents) with mode 0755 if missing, keep the mode and
      owner of an existing one, set its mtime from the source.
    * ``DIR`` otherwise: create it with the source's metadata, or apply that
      metadata to an existing directory.
    * ``FILE``: replace whatever is at ``dest`` (a directory there is an
      error) with the content, which must hash to ``digest``; when
      ``hardlink_to`` is set, hard-link to that earlier destination instead.
      With ``unpack_to`` set (ADD), first try to extract it there as an
      archive, and copy it only if it is not one.
    * ``SYMLINK``: replace ``dest`` with a symlink to ``entry.link_target``.
    * ``FIFO``/``CHAR``/``BLOCK``/``SOCKET``: recreate the node.

    Parent directories of ``dest`` that do not exist are created with mode
    0755.  Owners: the source's in a stage, 0:0 for the context, unless
    ``--chown`` says otherwise; ``--chmod`` overrides modes.
    """

    kind: EntryKind
    source: str
    dest: str
    entry: Entry
    digest: str | None = None
    top_level: bool = False
    hardlink_to: str | None = None
    unpack_to: str | None = None


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """The operations of one COPY/ADD and the cache key of what they read.

    ``cache_key`` covers, in order, every operation's source path, destination,
    type, mode, owner, device numbers, link target and content digest (not
    mtimes or inode numbers): exactly what the copy reads and writes.
    ``dest`` is the normalised destination (absolute, trailing ``/`` kept).
    """

    ops: tuple[CopyOp, ...]
    dest: str
    cache_key: str
    sources_matched: int


# --- destination paths (BuildKit pathRelativeToWorkingDir / NormalizePath / cleanPath) ---


def _normalize_path(parent: str, new: str, *, keep_slash: bool) -> str:
    orig = new
    parent = parent or "/"
    if not parent.startswith("/"):
        parent = go_join("/", parent)
    if new == "":
        new = parent
    if not new.startswith("/"):
        new = go_join(parent, new)
    if keep_slash:
        if orig.endswith("/") and not new.endswith("/"):
            new += "/"
        elif orig.endswith("/."):
            if new != "/":
                new += "/"
            new += "."
    return new


def _clean_path(s: str) -> str:
    """BuildKit's ``cleanPath``: absolute and clean, keeping a trailing ``/`` or ``/.``."""
    cleaned = go_join("/", s)
    if s.endswith("/."):
        if cleaned != "/":
            cleaned += "/"
        cleaned += "."
    elif s.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def normalize_dest(workdir: str, dest: str) -> str:
    """The absolute destination BuildKit copies to, trailing ``/`` (or ``/.``) kept.

    A relative ``dest`` is relative to ``workdir``; ``.`` and ``""`` mean the
    working directory itself, as a directory.
    """
    if dest.startswith("/"):
        out = _normalize_path("/", dest, keep_slash=True)
    else:
        if dest in (".", ""):
            dest = "./"
        out = _normalize_path(workdir, dest, keep_slash=True)
    return _clean_path(out)


def _ends_as_dir(dest: str) -> bool:
    return dest.endswith("/") or dest.endswith("/.")


# --- the image side -----------------------------------------------------------------


@dataclass(slots=True)
class _ImageProbe:
    """What already exists in the image, plus what earlier operations will create."""

    root: SourceTree | None
    planned: dict[str, tuple[EntryKind, str | None]] = field(default_factory=dict)

    def kind(self, rel: str) -> tuple[EntryKind, str | None] | None:
        if rel in self.planned:
            return self.planned[rel]
        if self.root is None:
            return None
        entry = self.root.lstat(rel)
        return None if entry is None else (entry.kind, entry.link_target)

    def resolve(self, abs_path: str) -> str:
        """RootPath in the image: '/a/b' with links resolved inside the image root."""
        return "/" + scoped_resolve(self.kind, abs_path.lstrip("/"), label="the image")

    def is_dir(self, abs_path: str) -> bool:
        found = self.kind(abs_path.lstrip("/"))
        return found is not None and found[0] is EntryKind.DIR

    def mkdir_all(self, abs_path: str) -> None:
        rel = go_clean(abs_path.lstrip("/"))
        if rel == ".":
            return
        parts = rel.split("/")
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            found = self.kind(sub)
            if found is None:
                self.planned[sub] = (EntryKind.DIR, None)
            elif found[0] is not EntryKind.DIR:
                raise CopyError(
                    f"cannot create directory /{sub}: a {found[0].value} is in the way in the image",
                    hint="copy to another destination, or remove it in an earlier step",
                )


# --- wildcards (fsutil ResolveWildcards) ----------------------------------------------


def _split_wildcards(p: str) -> tuple[str, str]:
    parts = go_join(p).split("/") if p else [""]
    head: list[str] = []
    tail: list[str] = []
    found = False
    for part in parts:
        if not found and contains_wildcards(part):
            found = True
        if part == "":
            part = "/"
        (tail if found else head).append(part)
    return go_join(*head), go_join(*tail)


def _max_slashes(pattern: str) -> int:
    """Upper bound on the '/' a path matched by ``pattern`` can contain.

    ``*`` and ``?`` never match '/', a literal or escaped '/' matches one,
    and a ``[...]`` class at most one; so a path with more cannot match and
    the walk need not go deeper.
    """
    return pattern.count("/")


@dataclass(slots=True)
class _ParentDir:
    """A directory entered while copying; ``copied`` once its op is emitted."""

    entry: Entry
    target: str
    copied: bool


@dataclass(slots=True)
class _Resolver:
    tree: SourceTree
    instruction: str
    probe: _ImageProbe
    includes: IgnoreMatcher | None = None
    excludes: IgnoreMatcher | None = None
    drafts: list[CopyOp] = field(default_factory=list)
    inodes: dict[int, str] = field(default_factory=dict)
    parent_dirs: list[_ParentDir] = field(default_factory=list)
    included: list[str] = field(default_factory=list)

    def fail_not_found(self, shown: str) -> CopySourceNotFoundError:
        ignore_hint = " and that .dockerignore does not exclude it" if self.tree.ignore else ""
        return CopySourceNotFoundError(
            f'{self.instruction} failed: "{shown}": not found in {self.tree.label}',
            hint=f"source paths are relative to the root of the {self.tree.label}; "
            f"check the spelling{ignore_hint}",
        )

    def resolve_wildcards(self, src: str) -> list[tuple[str, str | None]]:
        """Matches of ``src`` (absolute, cleaned) in walk order.

        Each is (tree-relative path, path relative to the non-wildcard prefix
        or None when ``src`` has no wildcard).
        """
        head, tail = _split_wildcards(src)
        if tail == "":
            return [(head.lstrip("/"), None)]
        base = self.tree.resolve(head.lstrip("/"), follow_final=True)
        base_entry = self.tree.lstat(base)
        if base_entry is None:
            raise self.fail_not_found(head)
        if base_entry.kind is not EntryKind.DIR:
            return []
        limit = _max_slashes(tail)
        out: list[tuple[str, str | None]] = []

        def walk(rel_dir: str, depth: int) -> None:
            for child in self.tree.listdir(rel_dir):
                rel = child.path[len(base) + 1 :] if base else child.path
                try:
                    hit = go_filepath_match(tail, rel)
                except BadPatternError:
                    raise InvalidInputError(
                        f'{self.instruction} source "{src}": syntax error in pattern',
                        hint="check [ ] pairs and escapes; see Go's filepath.Match",
                    ) from None
                if hit:
                    out.append((child.path, rel))
                    continue  # a matching directory is copied whole, not searched
                if child.kind is EntryKind.DIR and depth + 1 <= limit:
                    walk(child.path, depth + 1)

        walk(base, 0)
        return out

    def copy_match(
        self, match: str, dst: str, *, unpack: bool, shown: str, matched_as: str | None = None
    ) -> bool:
        """fsutil ``Copy`` of one resolved source into ``dst`` (prepareTargetDir + copy).

        False when the match is a file that ``--exclude`` removes: BuildKit
        never applies excludes to a wildcard's own matches (moby/buildkit#5489),
        but its documentation does (``COPY --exclude=*.txt hom* /mydir/``), so
        anyarch follows the documentation for files.  A matched directory is
        still entered, as in BuildKit, with the excludes applied inside it.
        """
        src_rel = self.tree.resolve(match, follow_final=True)
        entry = self.tree.lstat(src_rel)
        if entry is None:
            raise self.fail_not_found(shown)
        if (
            matched_as is not None
            and self.excludes is not None
            and entry.kind is not EntryKind.DIR
            and self.excludes.matches(matched_as)
        ):
            return False
        dest_exists_dir = self.probe.is_dir(dst)
        dest_exists = self.probe.kind(dst.lstrip("/")) is not None
        target = dst
        if entry.kind is not EntryKind.DIR and dest_exists_dir:
            target = go_join(dst, match.rsplit("/", 1)[-1] if match else "")
        if entry.kind is EntryKind.DIR and not dest_exists:
            self.probe.mkdir_all(target)
        else:
            self.probe.mkdir_all(target.rsplit("/", 1)[0] or "/")
        self.parent_dirs = []
        unpack_to = dst if unpack and entry.kind is EntryKind.FILE else None
        self.copy(entry, "", target, MatchInfo(), MatchInfo(), top=True, unpack_to=unpack_to)
        return True

    def copy(
        self,
        entry: Entry,
        components: str,
        target: str,
        parent_inc: MatchInfo,
        parent_exc: MatchInfo,
        *,
        top: bool = False,
        unpack_to: str | None = None,
    ) -> None:
        include = True
        excluded = False
        inc_info = MatchInfo()
        exc_info = MatchInfo()
        if components:
            if self.includes is not None:
                include, inc_info = self.includes.matches_using_parent(components, parent_inc)
            if self.excludes is not None:
                hit, exc_info = self.excludes.matches_using_parent(components, parent_exc)
                if hit:
                    include = False
                    excluded = True
            if (
                not include
                and self.includes is None
                and (self.excludes is None or not self.excludes.exclusions)
            ):
                return
        if not include and entry.kind is not EntryKind.DIR:
            return
        if include:
            self.create_parent_dirs()
            if components:
                self.included.append(components)
        if entry.kind is EntryKind.DIR:
            if include:
                self.emit(entry, target, top=top)
            self.parent_dirs.append(_ParentDir(entry, target, include))
            try:
                if excluded and (self.excludes is None or not self.excludes.exclusions):
                    return
                for child in self.tree.listdir(entry.path):
                    self.copy(
                        child,
                        f"{components}/{child.name}" if components else child.name,
                        go_join(target, child.name),
                        inc_info,
                        exc_info,
                    )
            finally:
                self.parent_dirs.pop()
            return
        self.emit(entry, target, top=top, unpack_to=unpack_to)

    def create_parent_dirs(self) -> None:
        """fsutil's delayed parents: dirs entered for an include pattern, created on first use."""
        for parent in self.parent_dirs:
            if not parent.copied:
                self.emit(parent.entry, parent.target, top=False)
                parent.copied = True

    def emit(self, entry: Entry, target: str, *, top: bool, unpack_to: str | None = None) -> None:
        rel_target = target.lstrip("/")
        existing = self.probe.kind(rel_target)
        if entry.kind is EntryKind.DIR:
            if existing is not None and existing[0] is not EntryKind.DIR:
                raise CopyError(
                    f"{self.instruction} failed: cannot copy directory {entry.path or '/'!r} "
                    f"to {target}: a {existing[0].value} is there in the image",
                    hint="choose another destination",
                )
        elif existing is not None and existing[0] is EntryKind.DIR:
            raise CopyError(
                f"{self.instruction} failed: cannot replace directory {target} "
                f"with {entry.kind.value} {entry.path!r}",
                hint="end the destination with '/' to copy into that directory",
            )
        hardlink_to = None
        if entry.kind is EntryKind.FILE and entry.nlink > 1:
            hardlink_to = self.inodes.get(entry.ino)
            if hardlink_to is None:
                self.inodes[entry.ino] = target
        self.probe.planned[rel_target] = (entry.kind, entry.link_target)
        self.drafts.append(
            CopyOp(
                kind=entry.kind,
                source=entry.path,
                dest=target,
                entry=entry,
                top_level=top,
                hardlink_to=hardlink_to,
                unpack_to=unpack_to,
            )
        )


def _plan_key(ops: Sequence[CopyOp]) -> str:
    h = hashlib.sha256(b"anyarch-copy-plan-v1\n")
    for op in ops:
        e = op.entry
        h.update(
            b"\0".join(
                [
                    os.fsencode(op.source),
                    os.fsencode(op.dest),
                    op.kind.value.encode(),
                    b"%o" % e.mode,
                    b"%d" % e.uid,
                    b"%d" % e.gid,
                    b"%d" % e.rdev,
                    os.fsencode(e.link_target) if e.link_target is not None else b"",
                    (op.digest or "").encode(),
                    os.fsencode(op.hardlink_to) if op.hardlink_to else b"",
                    b"T" if op.top_level else b"",
                    os.fsencode(op.unpack_to) if op.unpack_to else b"",
                ]
            )
            + b"\n"
        )
    return "sha256:" + h.hexdigest()


def _check_inside(src: str, instruction: str, what: str = "source") -> None:
    cleaned = go_clean(src.lstrip("/")) if src.lstrip("/") else "."
    if cleaned == ".." or cleaned.startswith("../"):
        raise ContextEscapeError(
            f'{instruction} failed: {what} "{src}" is outside the build context',
            hint="COPY can only read inside the context (or --from stage); Docker would "
            "silently drop the '..' and read from the context root instead",
        )


def resolve_copy(
    tree: SourceTree,
    sources: Sequence[str],
    dest: str,
    *,
    workdir: str = "/",
    parents: bool = False,
    excludes: Sequence[str] = (),
    image_root: Path | str | None = None,
    instruction: str = "COPY",
    unpack: bool = False,
    allow_empty_wildcard: bool = False,
) -> CopyPlan:
    """Plan one COPY/ADD from ``tree``: which entries go where, and the cache key.

    ``sources`` and ``dest`` are the instruction's arguments after variable
    expansion; ``workdir`` is the stage's WORKDIR.  ``image_root``, when
    given, is the rootfs the copy will go into: it is only read, to tell
    whether the destination is an existing directory and to resolve
    symlinks in it.  ``unpack`` marks ADD's archive extraction.  Nothing is
    written anywhere.
    """
    if not sources:
        raise InvalidInputError(
            f"{instruction} needs at least one source and a destination",
            hint=f"{instruction} <src>... <dest>",
        )
    for src in sources:
        if src.startswith(("http://", "https://", "git@")):
            raise InvalidInputError(
                f'{instruction} source "{src}" is a URL; only local paths are resolved here',
                hint="COPY cannot fetch URLs; use ADD, or RUN curl",
            )
    dest_clean = normalize_dest(workdir, dest)
    exclude_matcher = IgnoreMatcher(excludes, source="--exclude") if excludes else None
    image_tree = (
        SourceTree(image_root, label="the image rootfs") if image_root is not None else None
    )
    probe = _ImageProbe(image_tree)
    # fsutil Copy: create the destination's parent (or all of it, for a '/' ending)...
    split_at = dest_clean.rfind("/")
    last = dest_clean[split_at + 1 :]
    ensure = dest_clean if last in ("", ".") else dest_clean[: split_at + 1]
    # ...then resolve symlinks in it inside the image.
    probe.mkdir_all(probe.resolve(ensure))
    dst = probe.resolve(go_clean(dest_clean))

    resolver = _Resolver(tree=tree, instruction=instruction, probe=probe, excludes=exclude_matcher)
    matched = 0
    for src in sources:
        _check_inside(src, instruction)
        resolver.inodes = {}  # hard links are kept within one source, as fsutil's copier does
        if parents:
            matched += _copy_with_parents(resolver, src, dst)
            continue
        src_abs = go_join("/", src)
        for path, rel in resolver.resolve_wildcards(src_abs):
            shown = src_abs if rel is None else "/" + path
            if resolver.copy_match(path, dst, unpack=unpack, shown=shown, matched_as=rel):
                matched += 1

    if matched == 0 and not allow_empty_wildcard:
        shown = " ".join(f'"{s}"' for s in sources)
        raise CopySourceNotFoundError(
            f"{instruction} failed: no source files were specified ({shown} matched nothing "
            f"in {tree.label})",
            hint="check the wildcard; files excluded by .dockerignore do not match"
            if tree.ignore
            else "check the wildcard",
        )
    if (
        not parents
        and matched > 1
        and not _ends_as_dir(dest_clean)
        and not _was_dir_before(image_tree, dst)
    ):
        raise CopyError(
            f"When using {instruction} with more than one source file, the destination must "
            f"be a directory and end with a / (got {dest!r})",
            hint=f"write {dest.rstrip('/')}/ to copy into a directory",
        )

    files = [op.entry for op in resolver.drafts if op.kind is EntryKind.FILE]
    digests = tree.digests(files)
    ops = tuple(
        CopyOp(
            kind=op.kind,
            source=op.source,
            dest=op.dest,
            entry=op.entry,
            digest=digests.get(op.source) if op.kind is EntryKind.FILE else None,
            top_level=op.top_level,
            hardlink_to=op.hardlink_to,
            unpack_to=op.unpack_to,
        )
        for op in resolver.drafts
    )
    return CopyPlan(ops=ops, dest=dest_clean, cache_key=_plan_key(ops), sources_matched=matched)


def _was_dir_before(image_tree: SourceTree | None, dst: str) -> bool:
    if image_tree is None:
        return False
    entry = image_tree.lstat(dst.lstrip("/"))
    return entry is not None and entry.kind is EntryKind.DIR


def _copy_with_parents(resolver: _Resolver, src: str, dst: str) -> int:
    """``COPY --parents``: copy the root (or the ``/./`` pivot) filtered by the rest as a pattern."""
    pivot, sep, pattern = src.partition("/./")
    if not sep:
        pattern, pivot = src, "/"
    _check_inside(pattern, resolver.instruction, "path after /./")
    pattern_abs = go_join("/", pattern)
    include = pattern_abs.lstrip("/")
    required = (
        go_join("/", pivot, pattern_abs)
        if not contains_wildcards(pivot) and not contains_wildcards(pattern_abs)
        else None
    )
    # Even an empty pattern makes a matcher (that includes nothing), as in BuildKit.
    resolver.includes = IgnoreMatcher([include], source="--parents")
    before = len(resolver.included)
    try:
        for path, _ in resolver.resolve_wildcards(go_join("/", pivot)):
            resolver.copy_match(path, dst, unpack=False, shown="/" + path)
    finally:
        resolver.includes = None
    found = resolver.included[before:]
    if required is not None and not any(c.startswith(include) for c in found):
        raise resolver.fail_not_found(required)
    return len(found)
