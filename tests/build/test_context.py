"""Build context: what Docker would send, what COPY may read, and what it costs to hash.

Walk cases port tonistiigi/fsutil's walker tests where they exist
(TestWalkerExclude); the rest pin the promises in the design: .dockerignore
exceptions and ``**``, the Dockerfile and .dockerignore always sent, a warm
rebuild that reads no file content, and nothing read through a symlink that
leaves the context.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sqlite3
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyarch.build.context import (
    ContextEscapeError,
    EntryKind,
    SourceTree,
    StatCache,
    context_digest,
    context_from_tar,
    open_context,
)
from anyarch.build.ignore import IgnoreMatcher, MatchInfo
from anyarch.errors import BuildError, InvalidInputError, NotFoundError

OLD = 1_600_000_000  # a fixed past mtime, well outside the racy window


def make_tree(root: Path, spec: dict[str, str | None], *, old: bool = True) -> Path:
    """Create files (str content), dirs (None, or a trailing '/') and symlinks ('-> target')."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in spec.items():
        path = root / rel.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None or rel.endswith("/"):
            path.mkdir(exist_ok=True)
        elif content.startswith("-> "):
            os.symlink(content[3:], path)
        else:
            path.write_text(content)
    if old:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames + dirnames:
                os.utime(os.path.join(dirpath, name), (OLD, OLD), follow_symlinks=False)
    return root


def walked(tree: SourceTree, **kw: Any) -> list[tuple[str, str]]:
    return [(e.kind.value, e.path) for e in tree.walk(**kw)]


# --- walking with .dockerignore -------------------------------------------------------


def test_walker_exclude_fsutil(tmp_path: Path) -> None:
    # fsutil filter_test.go TestWalkerExclude: an excluded dir is still sent
    # (as a parent) when an exception re-includes a file inside it.
    make_tree(tmp_path / "c", {"bar": "", "foo/": None, "foo2": "", "foo/bar2": ""})
    tree = SourceTree(tmp_path / "c", ignore=IgnoreMatcher(["foo*", "!foo/bar2"]))
    assert walked(tree) == [("file", "bar"), ("dir", "foo"), ("file", "foo/bar2")]


def test_walk_doublestar_and_exceptions(tmp_path: Path) -> None:
    make_tree(
        tmp_path / "c",
        {
            "app.log": "",
            "src/main.go": "",
            "src/debug.log": "",
            "src/deep/er/trace.log": "",
            "src/deep/er/keep.log": "",
            "README.md": "",
        },
    )
    ignore = IgnoreMatcher.from_file("**/*.log\n!src/deep/**/keep.log\n*.md\n")
    tree = SourceTree(tmp_path / "c", ignore=ignore)
    assert walked(tree) == [
        ("dir", "src"),
        ("dir", "src/deep"),
        ("dir", "src/deep/er"),
        ("file", "src/deep/er/keep.log"),
        ("file", "src/main.go"),
    ]


def test_excluded_dir_without_exceptions_is_not_even_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "c", {"node_modules/a/b/c.js": "", "index.js": ""})
    listed: list[str] = []
    real_listdir = os.listdir

    def spy(path: Any) -> list[str]:
        listed.append(os.fspath(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", spy)
    tree = SourceTree(tmp_path / "c", ignore=IgnoreMatcher(["node_modules", "!README.md"]))
    assert walked(tree) == [("file", "index.js")]
    assert not any("node_modules" in p for p in listed), listed


def test_excluded_empty_dir_is_not_sent_but_exceptions_with_globs_are_searched(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path / "c", {"build/keep": "", "build/drop": "", "other/x": "", "empty/": None})
    tree = SourceTree(tmp_path / "c", ignore=IgnoreMatcher(["build", "other", "empty", "!*/keep"]))
    # '!*/keep' has a glob, so every excluded dir is entered; only build has a keeper.
    assert walked(tree) == [("dir", "build"), ("file", "build/keep")]


def test_dockerfile_and_dockerignore_are_sent_but_not_copyable(tmp_path: Path) -> None:
    make_tree(
        tmp_path / "c",
        {"Dockerfile": "FROM x\n", ".dockerignore": "*\n", "app.py": "", "sub/Dockerfile.dev": ""},
    )
    tree = open_context(tmp_path / "c")
    assert walked(tree) == [("file", ".dockerignore"), ("file", "Dockerfile")]
    assert walked(tree, include_build_files=False) == []
    assert tree.lstat("Dockerfile") is None and tree.lstat("app.py") is None
    # A Dockerfile elsewhere is kept instead, under its own path.
    other = open_context(tmp_path / "c", dockerfile="sub/Dockerfile.dev")
    assert ("file", "sub/Dockerfile.dev") in walked(other)
    assert ("file", "Dockerfile") not in walked(other)


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    make_tree(
        tmp_path / "c",
        {
            ".dockerignore": "a.txt\n",
            "app.Dockerfile": "",
            "app.Dockerfile.dockerignore": "b.txt\n",
            "a.txt": "",
            "b.txt": "",
        },
    )
    tree = open_context(tmp_path / "c", dockerfile="app.Dockerfile")
    assert tree.lstat("a.txt") is not None
    assert tree.lstat("b.txt") is None


def test_bad_dockerignore_names_file_and_line(tmp_path: Path) -> None:
    make_tree(tmp_path / "c", {".dockerignore": "ok\n[broken\n"})
    with pytest.raises(InvalidInputError) as info:
        open_context(tmp_path / "c")
    assert info.value.message.startswith(f"{tmp_path / 'c' / '.dockerignore'}:2: invalid pattern")


def test_dockerignore_symlink_out_of_the_context_is_refused(tmp_path: Path) -> None:
    (tmp_path / "private").write_text("hunter2 [\n")
    make_tree(tmp_path / "c", {".dockerignore": f"-> {tmp_path / 'private'}", "a": ""})
    with pytest.raises(InvalidInputError) as info:
        open_context(tmp_path / "c")
    assert "outside the build context" in info.value.message
    assert "hunter2" not in info.value.message
    # A link to an ignore file inside the context is fine, as in Docker.
    make_tree(
        tmp_path / "d", {"shared.ignore": "a\n", ".dockerignore": "-> shared.ignore", "a": ""}
    )
    assert open_context(tmp_path / "d").lstat("a") is None


def test_owners_are_reset_in_a_context_but_kept_in_a_stage(tmp_path: Path) -> None:
    make_tree(tmp_path / "c", {"f": "x"})
    os.chown(tmp_path / "c" / "f", 1234, 5678)
    ctx = open_context(tmp_path / "c").lstat("f")
    stage = SourceTree(tmp_path / "c").lstat("f")
    assert ctx is not None and (ctx.uid, ctx.gid) == (0, 0)
    assert stage is not None and (stage.uid, stage.gid) == (1234, 5678)


def test_missing_context_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        open_context(tmp_path / "nope")
    assert str(tmp_path / "nope") in info.value.message and info.value.hint


@pytest.mark.parametrize("path", ["..", "../x", "a/../../x", "/../x"])
def test_paths_leaving_the_tree_are_refused(tmp_path: Path, path: str) -> None:
    tree = SourceTree(make_tree(tmp_path / "c", {"a/": None}))
    with pytest.raises(ContextEscapeError) as info:
        tree.lstat(path)
    assert repr(path) in info.value.message and info.value.exit_code == 7


# --- the stat cache --------------------------------------------------------------------


@pytest.fixture
def count_opens(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Start recording the name of every os.open of a non-directory (a content read)."""
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        if not flags & os.O_DIRECTORY:
            opened.append(os.fspath(path))
        return fd

    def arm() -> list[str]:
        monkeypatch.setattr(os, "open", spy)
        return opened

    return arm


def digest_all(tree: SourceTree) -> dict[str, str]:
    return tree.digests(e for e in tree.walk() if e.kind is EntryKind.FILE)


def test_warm_rebuild_reads_no_file_content(
    tmp_path: Path, count_opens: Callable[[], list[str]]
) -> None:
    ctx = make_tree(
        tmp_path / "c", {f"d{i}/f{j}.txt": f"{i}-{j}" for i in range(3) for j in range(4)}
    )
    db = tmp_path / "cache" / "stat.db"
    with StatCache(db) as cache:
        cold = open_context(ctx, cache=cache)
        first = digest_all(cold)
    assert cold.files_read == 12
    opened = count_opens()
    with StatCache(db) as cache:
        warm = open_context(ctx, cache=cache)
        second = digest_all(warm)
        assert cache.hits == 12 and cache.misses == 0
    assert second == first
    assert warm.files_read == 0
    assert opened == []  # not one file under the context was opened


def test_changed_file_is_read_again_and_only_it(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "c", {"a.txt": "aaaa", "b.txt": "bbbb"})
    db = tmp_path / "stat.db"
    with StatCache(db) as cache:
        before = digest_all(open_context(ctx, cache=cache))
    (ctx / "a.txt").write_text("AAAA")  # same size, new content
    os.utime(ctx / "a.txt", (OLD + 10, OLD + 10))
    with StatCache(db) as cache:
        tree = open_context(ctx, cache=cache)
        after = digest_all(tree)
    assert tree.files_read == 1
    assert after["a.txt"] != before["a.txt"] and after["b.txt"] == before["b.txt"]


def test_same_mtime_different_size_is_a_miss(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "c", {"a.txt": "short"})
    db = tmp_path / "stat.db"
    with StatCache(db) as cache:
        digest_all(open_context(ctx, cache=cache))
    (ctx / "a.txt").write_text("much longer")
    os.utime(ctx / "a.txt", (OLD, OLD))  # mtime restored: only the size tells
    with StatCache(db) as cache:
        tree = open_context(ctx, cache=cache)
        entry = tree.lstat("a.txt")
        assert entry is not None
        assert tree.digest(entry) == "sha256:" + hashlib.sha256(b"much longer").hexdigest()
    assert tree.files_read == 1


def test_recently_modified_files_are_not_trusted_next_time(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "c", {"hot.txt": "x", "cold.txt": "y"})
    now = time.time()
    os.utime(ctx / "hot.txt", (now, now))  # could still change within the same mtime tick
    db = tmp_path / "stat.db"
    for _ in range(2):
        with StatCache(db) as cache:
            tree = open_context(ctx, cache=cache)
            digest_all(tree)
    assert tree.files_read == 1  # the hot file, again; the cold one came from the cache


def test_stat_cache_is_sqlite_in_wal_mode_with_one_row_per_path(tmp_path: Path) -> None:
    ctx = make_tree(tmp_path / "c", {"a": "1"})
    db = tmp_path / "stat.db"
    for content in ("1", "22", "333"):
        (ctx / "a").write_text(content)
        os.utime(ctx / "a", (OLD, OLD))
        with StatCache(db) as cache:
            digest_all(open_context(ctx, cache=cache))
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*) FROM file_digest").fetchone()[0] == 1


def test_corrupt_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "stat.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BuildError) as info:
        StatCache(db)
    assert str(db) in info.value.message and "delete" in (info.value.hint or "")


def test_parallel_hashing_gives_the_same_digests(tmp_path: Path) -> None:
    spec = {f"f{i}": chr(65 + i) * (1 << 20) for i in range(6)}  # 6 MiB: above the pool threshold
    tree = SourceTree(make_tree(tmp_path / "c", spec))
    got = digest_all(tree)
    assert got == {k: "sha256:" + hashlib.sha256(v.encode()).hexdigest() for k, v in spec.items()}


# --- symlinks never lead outside ---------------------------------------------------------


@pytest.fixture
def leaky_context(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    return make_tree(
        tmp_path / "c",
        {
            "app.txt": "app",
            "shadow": "-> /etc/shadow",
            "leak": f"-> {secret}",
            "up": "-> ../secret.txt",
            "etcdir": "-> /etc",
        },
    )


def test_symlinks_are_entries_not_followed(
    leaky_context: Path, count_opens: Callable[[], list[str]]
) -> None:
    opened = count_opens()
    tree = open_context(leaky_context)
    entries = {e.path: e for e in tree.walk()}
    assert entries["shadow"].kind is EntryKind.SYMLINK
    assert entries["shadow"].link_target == "/etc/shadow"
    assert entries["up"].link_target == "../secret.txt"
    digest_all(tree)
    # Content was opened once, by name relative to its directory descriptor
    # (each directory on the way was opened with O_NOFOLLOW): only app.txt.
    assert opened == ["app.txt"]
    assert tree.files_read == 1


def test_following_a_link_stays_inside_the_context(leaky_context: Path) -> None:
    tree = open_context(leaky_context)
    assert tree.resolve("shadow") == "etc/shadow"  # /etc/shadow, with the context as /
    assert tree.resolve("up") == "secret.txt"  # '..' stops at the context root
    assert tree.lstat(tree.resolve("up")) is None  # ... and there is no such file inside
    assert tree.lstat("etcdir/passwd") is None  # nothing is found below a symlink
    # When the in-context target exists, that is what is read, never the outside file.
    (leaky_context / "secret.txt").write_text("harmless")
    tree = open_context(leaky_context)
    entry = tree.lstat(tree.resolve("up"))
    assert entry is not None
    with tree.open(entry) as fh:
        assert fh.read() == b"harmless"


def test_file_swapped_for_a_symlink_after_the_walk_is_not_read(
    leaky_context: Path, tmp_path: Path
) -> None:
    tree = open_context(leaky_context)
    entry = tree.lstat("app.txt")
    assert entry is not None
    os.unlink(leaky_context / "app.txt")
    os.symlink(tmp_path / "secret.txt", leaky_context / "app.txt")
    with pytest.raises(BuildError) as info:
        tree.digest(entry)
    assert "'app.txt'" in info.value.message


def test_directory_swapped_for_a_symlink_is_not_traversed(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"f": "outside content"})
    ctx = make_tree(tmp_path / "c", {"d/f": "inside"})
    tree = SourceTree(ctx)
    entry = tree.lstat("d/f")
    assert entry is not None
    (ctx / "d" / "f").unlink()
    (ctx / "d").rmdir()
    os.symlink(outside, ctx / "d")
    with pytest.raises(BuildError):
        tree.digest(entry)


# --- context_digest -----------------------------------------------------------------------


def test_context_digest_is_content_addressed(tmp_path: Path) -> None:
    spec: dict[str, str | None] = {"a.txt": "hello", "d/b.txt": "world", "l": "-> a.txt"}
    one = SourceTree(make_tree(tmp_path / "one", spec))
    two = SourceTree(make_tree(tmp_path / "two", spec, old=False))  # other mtimes, inodes
    paths = ["a.txt", "d", "d/b.txt", "l"]
    key = context_digest(one, paths)
    assert key.startswith("sha256:") and key == context_digest(two, paths)
    assert context_digest(one, reversed(paths)) == key  # order of the request does not matter

    os.chmod(tmp_path / "two" / "a.txt", 0o600)
    assert context_digest(SourceTree(tmp_path / "two"), paths) != key
    os.chmod(tmp_path / "two" / "a.txt", (tmp_path / "one" / "a.txt").stat().st_mode & 0o777)
    assert context_digest(SourceTree(tmp_path / "two"), paths) == key
    (tmp_path / "two" / "d" / "b.txt").write_text("WORLD")
    assert context_digest(SourceTree(tmp_path / "two"), paths) != key


def test_context_digest_covers_link_targets_not_what_they_point_to(tmp_path: Path) -> None:
    one = SourceTree(make_tree(tmp_path / "one", {"l": "-> /etc/passwd"}))
    two = SourceTree(make_tree(tmp_path / "two", {"l": "-> /etc/group"}))
    assert context_digest(one, ["l"]) != context_digest(two, ["l"])
    assert one.files_read == 0 and two.files_read == 0


def test_context_digest_of_a_missing_path_names_it(tmp_path: Path) -> None:
    tree = open_context(make_tree(tmp_path / "c", {".dockerignore": "secret\n", "secret": "x"}))
    with pytest.raises(NotFoundError) as info:
        context_digest(tree, ["secret"])
    assert "'secret'" in info.value.message and ".dockerignore" in (info.value.hint or "")


# --- a context from a tar stream ---------------------------------------------------------------


def tar_bytes(add: Callable[[tarfile.TarFile], None], *, compress: bool = False) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        add(tf)
    data = buf.getvalue()
    return io.BytesIO(gzip.compress(data) if compress else data)


def add_file(tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = OLD
    tf.addfile(info, io.BytesIO(data))


def add_special(tf: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755
    tf.addfile(info)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_context_from_tar_unpacks_files_dirs_links(tmp_path: Path, compress: bool) -> None:
    def add(tf: tarfile.TarFile) -> None:
        add_special(tf, "./", tarfile.DIRTYPE)
        add_file(tf, "./Dockerfile", b"FROM scratch\n")
        add_file(tf, "bin/run.sh", b"#!/bin/sh\n", mode=0o755)
        add_special(tf, "bin/alias", tarfile.SYMTYPE, "/etc/shadow")
        add_special(tf, "bin/hard", tarfile.LNKTYPE, "bin/run.sh")

    dest = context_from_tar(tar_bytes(add, compress=compress), tmp_path / "ctx")
    assert (dest / "Dockerfile").read_bytes() == b"FROM scratch\n"
    assert (dest / "bin" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (dest / "bin" / "run.sh").stat().st_mtime == OLD
    assert os.readlink(dest / "bin" / "alias") == "/etc/shadow"
    assert (dest / "bin" / "hard").stat().st_ino == (dest / "bin" / "run.sh").stat().st_ino
    tree = open_context(dest)
    assert [e.path for e in tree.walk()] == [
        "Dockerfile",
        "bin",
        "bin/alias",
        "bin/hard",
        "bin/run.sh",
    ]


def unpack_fails(tmp_path: Path, add: Callable[[tarfile.TarFile], None]) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        context_from_tar(tar_bytes(add), tmp_path / "ctx")
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "x").exists()
    return info.value


def test_tar_dotdot_is_refused(tmp_path: Path) -> None:
    err = unpack_fails(tmp_path, lambda tf: add_file(tf, "../evil", b"boom"))
    assert "'../evil'" in err.message and err.hint


def test_tar_write_through_symlink_is_refused(tmp_path: Path) -> None:
    def add(tf: tarfile.TarFile) -> None:
        add_special(tf, "link", tarfile.SYMTYPE, str(tmp_path))
        add_file(tf, "link/evil", b"boom")

    err = unpack_fails(tmp_path, add)
    assert "'link/evil'" in err.message


def test_tar_hardlink_to_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("outside")

    def add(tf: tarfile.TarFile) -> None:
        add_special(tf, "h", tarfile.LNKTYPE, "../x")

    with pytest.raises(InvalidInputError, match="outside the context"):
        context_from_tar(tar_bytes(add), tmp_path / "ctx")


def test_tar_absolute_names_land_inside(tmp_path: Path) -> None:
    dest = context_from_tar(tar_bytes(lambda tf: add_file(tf, "/etc/x", b"data")), tmp_path / "c")
    assert (dest / "etc" / "x").read_bytes() == b"data"


def test_tar_device_nodes_are_refused(tmp_path: Path) -> None:
    err = unpack_fails(tmp_path, lambda tf: add_special(tf, "null", tarfile.CHRTYPE))
    assert "'null'" in err.message


def test_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a tar"):
        context_from_tar(io.BytesIO(b"FROM scratch\n" * 100), tmp_path / "c")


# --- property: the lazy view equals fsutil's walk algorithm ---------------------------------------


def fsutil_walk(root: Path, matcher: IgnoreMatcher) -> list[str]:
    """Direct port of fsutil filterFS.Walk (exclude patterns only), used as an oracle.

    Keeps fsutil's stack of visited parent directories, emits an excluded
    directory lazily before its first emitted descendant, and skips an
    excluded directory's contents only where fsutil's rule allows.
    """
    out: list[str] = []
    parents: list[dict[str, Any]] = []

    def visit(rel: str) -> None:
        full = root / rel
        is_dir = full.is_dir() and not full.is_symlink()
        while parents and not rel.startswith(parents[-1]["prefix"]):
            parents.pop()
        info = parents[-1]["info"] if parents else MatchInfo()
        excluded, info = matcher.matches_using_parent(rel, info)
        here = {"prefix": rel + "/", "info": info, "path": rel, "called": False}
        if excluded and is_dir and matcher.dir_skippable(rel):
            return  # filepath.SkipDir
        if not excluded:
            for parent in parents:
                if not parent["called"]:
                    out.append(parent["path"])
                    parent["called"] = True
            out.append(rel)
            here["called"] = True
        if is_dir:
            parents.append(here)
            for name in sorted(os.listdir(full), key=os.fsencode):
                visit(f"{rel}/{name}")

    for name in sorted(os.listdir(root), key=os.fsencode):
        visit(name)
    return out


NAMES = ["a", "b", "ab", ".x", "a.txt", "b.log"]
PATTERN_PARTS = ["a", "b", "*", "**", "?", "a*", "*.txt", "*.log", ".x", "[ab]"]


@st.composite
def trees_and_patterns(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    paths = draw(
        st.lists(
            st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join),
            min_size=1,
            max_size=12,
        )
    )
    pattern = st.tuples(
        st.booleans(), st.lists(st.sampled_from(PATTERN_PARTS), min_size=1, max_size=3)
    ).map(lambda t: ("!" if t[0] else "") + "/".join(t[1]))
    return paths, draw(st.lists(pattern, max_size=5))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=trees_and_patterns())
def test_walk_matches_fsutil_algorithm(tmp_path_factory: pytest.TempPathFactory, case: Any) -> None:
    paths, patterns = case
    root = tmp_path_factory.mktemp("walk")
    for p in paths:
        target = root / p
        # a name already used as a file cannot also be a directory; skip those
        if any((root / Path(*Path(p).parts[:i])).is_file() for i in range(1, len(Path(p).parts))):
            continue
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x")
    try:
        matcher = IgnoreMatcher(patterns)
    except InvalidInputError:
        return
    expected = fsutil_walk(root, matcher)
    assert [e.path for e in SourceTree(root, ignore=matcher).walk()] == expected
    # and every entry the lazy view reports agrees with the walk
    tree = SourceTree(root, ignore=matcher)
    everything = [str(p.relative_to(root)) for p in sorted(root.rglob("*"))]
    assert {p for p in everything if tree.lstat(p) is not None} == set(expected)
