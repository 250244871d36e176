"""COPY/ADD source resolution: what lands where, as BuildKit decides it.

The ``--parents`` and ``--exclude`` cases port BuildKit's integration tests
(frontend/dockerfile/dockerfile_parents_test.go, exclude_patterns_test.go):
their Dockerfiles become resolve_copy calls and their assertions on the built
filesystem become assertions on the planned destinations.  The rest pin the
documented rules (wildcards per Go filepath.Match, trailing slashes, multiple
sources, destinations relative to WORKDIR, symlinks) and the errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from anyarch.build.context import ContextEscapeError, EntryKind, SourceTree, open_context
from anyarch.build.copy_sources import (
    CopyError,
    CopyPlan,
    CopySourceNotFoundError,
    normalize_dest,
    resolve_copy,
)
from anyarch.errors import InvalidInputError

OLD = 1_600_000_000


def make_tree(root: Path, spec: dict[str, str | None]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in spec.items():
        path = root / rel.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        elif content.startswith("-> "):
            os.symlink(content[3:], path)
        else:
            path.write_text(content)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (OLD, OLD), follow_symlinks=False)
    return root


def dests(plan: CopyPlan) -> dict[str, tuple[str, str]]:
    """dest -> (kind, source) of every op; later ops win, as when materialised."""
    out: dict[str, tuple[str, str]] = {}
    for op in plan.ops:
        out[op.dest] = (op.kind.value, op.source)
    return out


def files(plan: CopyPlan) -> set[str]:
    return {op.dest for op in plan.ops if op.kind is not EntryKind.DIR}


@pytest.fixture
def ctx(tmp_path: Path) -> SourceTree:
    return open_context(
        make_tree(
            tmp_path / "ctx",
            {
                "Dockerfile": "FROM scratch\n",
                ".dockerignore": "*.log\n",
                "a.txt": "a",
                "b.txt": "b",
                "c.md": "c",
                "arr[0].txt": "arr",
                "index.js": "js",
                "index.ts": "ts",
                "sub/c.txt": "sub-c",
                "sub/deeper/d.txt": "d",
                "dir1/x.txt": "x1",
                "dir2/y.txt": "y2",
                "link-to-a": "-> a.txt",
                "abs-link": "-> /a.txt",
                "shadow": "-> /etc/shadow",
            },
        )
    )


def plan(tree: SourceTree, sources: Sequence[str], dest: str, **kw: Any) -> CopyPlan:
    return resolve_copy(tree, list(sources), dest, **kw)


# --- wildcards (Go filepath.Match on the path below the non-wildcard prefix) ---------------

WILDCARDS = [
    ("star", ["*.txt"], {"/d/a.txt", "/d/b.txt", "/d/arr[0].txt"}),
    ("question", ["index.?s"], {"/d/index.js", "/d/index.ts"}),
    ("class", ["[ab].txt"], {"/d/a.txt", "/d/b.txt"}),
    ("escaped-brackets-docs-example", ["arr[[]0].txt"], {"/d/arr[0].txt"}),
    ("in-subdir", ["sub/*.txt"], {"/d/c.txt"}),
    # '**' is not special to filepath.Match: it is '*', and '*' never crosses '/'.
    ("doublestar-is-one-level", ["**/*.txt"], {"/d/c.txt", "/d/x.txt", "/d/y.txt"}),
    ("two-levels", ["*/*/*.txt"], {"/d/d.txt"}),
    # A matching directory is copied (its contents), not searched further.
    ("dir-match-copies-contents", ["dir*"], {"/d/x.txt", "/d/y.txt"}),
]


@pytest.mark.parametrize(
    ("sources", "expected"), [pytest.param(*r[1:], id=r[0]) for r in WILDCARDS]
)
def test_wildcards(ctx: SourceTree, sources: list[str], expected: set[str]) -> None:
    assert files(plan(ctx, sources, "/d/")) == expected


def test_wildcard_matches_come_in_go_walk_order(ctx: SourceTree) -> None:
    p = plan(ctx, ["*.txt"], "/d/")
    assert [op.source for op in p.ops] == ["a.txt", "arr[0].txt", "b.txt"]
    assert p.sources_matched == 3


def test_bad_wildcard_is_invalid_input(ctx: SourceTree) -> None:
    with pytest.raises(InvalidInputError) as info:
        plan(ctx, ["a[.txt"], "/d/")
    assert "a[.txt" in info.value.message and info.value.exit_code == 4


# --- trailing slashes and destinations --------------------------------------------------------


def test_directory_source_copies_contents_with_or_without_trailing_slash(ctx: SourceTree) -> None:
    with_slash = plan(ctx, ["sub/"], "/dst")
    without = plan(ctx, ["sub"], "/dst")
    assert (
        dests(with_slash)
        == dests(without)
        == {
            "/dst": ("dir", "sub"),
            "/dst/c.txt": ("file", "sub/c.txt"),
            "/dst/deeper": ("dir", "sub/deeper"),
            "/dst/deeper/d.txt": ("file", "sub/deeper/d.txt"),
        }
    )
    assert with_slash.cache_key == without.cache_key
    top = with_slash.ops[0]
    assert top.top_level and top.kind is EntryKind.DIR


def test_file_to_path_without_slash_is_that_file(ctx: SourceTree) -> None:
    assert files(plan(ctx, ["a.txt"], "/abs")) == {"/abs"}


def test_file_to_path_with_slash_goes_inside(ctx: SourceTree) -> None:
    assert files(plan(ctx, ["a.txt"], "/abs/")) == {"/abs/a.txt"}


def test_file_to_existing_directory_goes_inside(ctx: SourceTree, tmp_path: Path) -> None:
    image = make_tree(tmp_path / "rootfs", {"abs/": None})
    assert files(plan(ctx, ["a.txt"], "/abs", image_root=image)) == {"/abs/a.txt"}


@pytest.mark.parametrize(
    ("workdir", "dest", "expected"),
    [
        ("/usr/src/app", "rel/", "/usr/src/app/rel/"),
        ("/usr/src/app", "rel", "/usr/src/app/rel"),
        ("/usr/src/app", ".", "/usr/src/app/"),
        ("/usr/src/app", "", "/usr/src/app/"),
        ("/usr/src/app", "./", "/usr/src/app/"),
        ("/app", "../etc/", "/etc/"),
        ("/", "/abs/../x/", "/x/"),
        ("/w", "/x/.", "/x/."),
    ],
)
def test_normalize_dest(workdir: str, dest: str, expected: str) -> None:
    assert normalize_dest(workdir, dest) == expected


def test_relative_dest_is_under_workdir(ctx: SourceTree) -> None:
    assert files(plan(ctx, ["a.txt"], "rel/", workdir="/usr/src/app")) == {"/usr/src/app/rel/a.txt"}
    assert files(plan(ctx, ["a.txt"], ".", workdir="/usr/src/app")) == {"/usr/src/app/a.txt"}


def test_dest_symlinks_resolve_inside_the_image(ctx: SourceTree, tmp_path: Path) -> None:
    image = make_tree(
        tmp_path / "rootfs",
        {
            "opt/bin/": None,
            "usr/local/": None,
            "usr/local/bin": "-> /opt/bin",
            "esc": "-> ../../../tmp",
        },
    )
    assert files(plan(ctx, ["a.txt"], "/usr/local/bin/", image_root=image)) == {"/opt/bin/a.txt"}
    # A link that climbs out of the image root stops at the root.
    assert files(plan(ctx, ["a.txt"], "/esc/", image_root=image)) == {"/tmp/a.txt"}


def test_directory_onto_existing_file_is_an_error(ctx: SourceTree, tmp_path: Path) -> None:
    image = make_tree(tmp_path / "rootfs", {"dst": "a file"})
    with pytest.raises(CopyError) as info:
        plan(ctx, ["sub"], "/dst", image_root=image)
    assert "/dst" in info.value.message and info.value.hint


def test_file_onto_existing_directory_at_nested_path_is_an_error(
    ctx: SourceTree, tmp_path: Path
) -> None:
    image = make_tree(tmp_path / "rootfs", {"dst/c.txt/": None})
    with pytest.raises(CopyError, match=re.escape("cannot replace directory /dst/c.txt")):
        plan(ctx, ["sub"], "/dst", image_root=image)


# --- multiple sources --------------------------------------------------------------------------


def test_multiple_sources_need_a_directory_destination(ctx: SourceTree) -> None:
    with pytest.raises(CopyError) as info:
        plan(ctx, ["a.txt", "b.txt"], "/dst")
    assert "must be a directory and end with a /" in info.value.message
    assert "'/dst'" in info.value.message and "/dst/" in (info.value.hint or "")
    assert files(plan(ctx, ["a.txt", "b.txt"], "/dst/")) == {"/dst/a.txt", "/dst/b.txt"}


def test_a_wildcard_with_several_matches_counts_as_several_sources(ctx: SourceTree) -> None:
    with pytest.raises(CopyError, match="more than one source file"):
        plan(ctx, ["[ab].txt"], "/dst")
    assert files(plan(ctx, ["b*.txt"], "/dst")) == {"/dst"}  # 'b.txt' alone: a file named /dst


def test_multiple_sources_into_existing_directory_without_slash(
    ctx: SourceTree, tmp_path: Path
) -> None:
    image = make_tree(tmp_path / "rootfs", {"dst/": None})
    p = plan(ctx, ["a.txt", "b.txt"], "/dst", image_root=image)
    assert files(p) == {"/dst/a.txt", "/dst/b.txt"}


def test_multiple_directories_merge(ctx: SourceTree) -> None:
    assert files(plan(ctx, ["dir1", "dir2"], "/m/")) == {"/m/x.txt", "/m/y.txt"}


# --- missing sources ------------------------------------------------------------------------


def test_missing_source_names_it_buildkit_style(ctx: SourceTree) -> None:
    with pytest.raises(CopySourceNotFoundError) as info:
        plan(ctx, ["missing.txt"], "/d/")
    err = info.value
    assert err.message.startswith('COPY failed: "/missing.txt": not found in build context')
    assert ".dockerignore" in (err.hint or "")
    assert err.exit_code == 7


def test_missing_wildcard_base_names_it(ctx: SourceTree) -> None:
    with pytest.raises(CopySourceNotFoundError, match='"/nodir": not found'):
        plan(ctx, ["nodir/*.txt"], "/d/")


def test_wildcards_matching_nothing_at_all(ctx: SourceTree) -> None:
    with pytest.raises(CopySourceNotFoundError) as info:
        plan(ctx, ["*.nope", "x*.none"], "/d/", instruction="ADD")
    assert info.value.message.startswith("ADD failed: no source files were specified")
    assert '"*.nope"' in info.value.message
    # BuildKit copies nothing instead; that is available on request.
    assert plan(ctx, ["*.nope"], "/d/", allow_empty_wildcard=True).ops == ()


def test_one_empty_wildcard_among_matches_is_fine(ctx: SourceTree) -> None:
    # The `COPY package.json yarn.lock* ./` idiom.
    assert files(plan(ctx, ["a.txt", "yarn.lock*"], "/d/")) == {"/d/a.txt"}


def test_ignored_files_do_not_exist_for_copy(tmp_path: Path) -> None:
    tree = open_context(
        make_tree(
            tmp_path / "c",
            {
                ".dockerignore": "secret*\nDockerfile\n",
                "Dockerfile": "",
                "secret.key": "k",
                "ok": "",
            },
        )
    )
    with pytest.raises(CopySourceNotFoundError, match=re.escape('"/secret.key"')):
        plan(tree, ["secret.key"], "/d/")
    assert files(plan(tree, ["."], "/d/")) == {"/d/ok", "/d/.dockerignore"}


# --- leaving the context ---------------------------------------------------------------------


@pytest.mark.parametrize("src", ["../outside", "/../outside", "a/../../x", "sub/../../*"])
def test_dotdot_out_of_the_context_is_refused(ctx: SourceTree, src: str) -> None:
    with pytest.raises(ContextEscapeError) as info:
        plan(ctx, [src], "/d/")
    assert f'"{src}"' in info.value.message and info.value.hint


def test_dotdot_inside_the_context_is_fine(ctx: SourceTree) -> None:
    assert files(plan(ctx, ["sub/../a.txt"], "/d/")) == {"/d/a.txt"}


def test_parents_pattern_may_not_climb_out_of_its_pivot(ctx: SourceTree) -> None:
    with pytest.raises(ContextEscapeError):
        plan(ctx, ["sub/./../../x"], "/d/", parents=True)


# --- symlinks ----------------------------------------------------------------------------------


def test_symlinks_inside_a_copied_directory_are_copied_as_links(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("TOP SECRET")
    tree = open_context(
        make_tree(tmp_path / "c", {"d/shadow": "-> /etc/shadow", "d/s": f"-> {secret}", "d/f": "f"})
    )
    p = plan(tree, ["d"], "/x/")
    links = {op.dest: op.entry.link_target for op in p.ops if op.kind is EntryKind.SYMLINK}
    assert links == {"/x/shadow": "/etc/shadow", "/x/s": str(secret)}
    assert all(op.digest is None for op in p.ops if op.kind is EntryKind.SYMLINK)
    assert tree.files_read == 1  # only d/f was read


def test_a_symlink_named_as_source_is_followed_inside_the_context(ctx: SourceTree) -> None:
    p = plan(ctx, ["link-to-a"], "/x/")
    (op,) = p.ops
    assert (op.kind, op.source, op.dest) == (EntryKind.FILE, "a.txt", "/x/link-to-a")
    (op,) = plan(ctx, ["abs-link"], "/y").ops  # '/a.txt' means the context's a.txt
    assert (op.source, op.dest) == ("a.txt", "/y")


def test_a_symlink_to_etc_shadow_is_never_read(ctx: SourceTree) -> None:
    # Followed inside the context, /etc/shadow is <context>/etc/shadow: absent.
    with pytest.raises(CopySourceNotFoundError, match='"/shadow": not found'):
        plan(ctx, ["shadow"], "/x")
    p = plan(ctx, ["."], "/all/")
    (link,) = [op for op in p.ops if op.source == "shadow"]
    assert link.kind is EntryKind.SYMLINK and link.entry.link_target == "/etc/shadow"


# --- hard links, ADD, cache keys ------------------------------------------------------------------


def test_hard_links_within_a_source_are_kept(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", {"d/one": "same"})
    os.link(root / "d" / "one", root / "d" / "two")
    p = plan(SourceTree(root), ["d"], "/x/")
    by_dest = {op.dest: op for op in p.ops}
    assert by_dest["/x/one"].hardlink_to is None
    assert by_dest["/x/two"].hardlink_to == "/x/one"


def test_add_marks_top_level_files_for_unpacking(ctx: SourceTree) -> None:
    p = plan(ctx, ["a.txt", "sub"], "/u/", instruction="ADD", unpack=True)
    unpack = {op.source: op.unpack_to for op in p.ops if op.kind is EntryKind.FILE}
    assert unpack == {"a.txt": "/u", "sub/c.txt": None, "sub/deeper/d.txt": None}


def test_cache_key_covers_exactly_the_bytes_read(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "c", {"a.txt": "a", "b.txt": "b"})
    key = plan(SourceTree(root), ["a.txt"], "/d/").cache_key
    (root / "b.txt").write_text("changed")  # not read by this COPY
    assert plan(SourceTree(root), ["a.txt"], "/d/").cache_key == key
    os.utime(root / "a.txt", (OLD + 5, OLD + 5))  # mtimes are not content
    assert plan(SourceTree(root), ["a.txt"], "/d/").cache_key == key
    (root / "a.txt").write_text("A")
    assert plan(SourceTree(root), ["a.txt"], "/d/").cache_key != key
    assert plan(SourceTree(root), ["a.txt"], "/elsewhere/").cache_key != key


def test_file_ops_carry_content_digests(ctx: SourceTree) -> None:
    import hashlib

    (op,) = plan(ctx, ["a.txt"], "/d/").ops
    assert op.digest == "sha256:" + hashlib.sha256(b"a").hexdigest()


def test_urls_are_not_local_sources(ctx: SourceTree) -> None:
    with pytest.raises(InvalidInputError, match="is a URL"):
        plan(ctx, ["https://example.com/x"], "/d/")


# --- COPY --exclude (BuildKit exclude_patterns_test.go) --------------------------------------------


@pytest.fixture
def exclude_ctx(tmp_path: Path) -> SourceTree:
    return open_context(
        make_tree(
            tmp_path / "src",
            {
                "dir1/file-101.png": "2",
                "dir1/file-102.txt": "3",
                "dir1/file-103.jpeg": "4",
                "dir2/file-201.pdf": "6",
                "dir2/file-202.jpeg": "7",
                "dir2/file-203.png": "8",
                "dir3/file-301.mp3": "9",
                "dir3/file-302.mpeg": "10",
                "dir4/file-401.txt": "11",
                "dir4/file-402.txt": "-> file-401.txt",
                "dir4/file-403.txt": "-> file-404.txt",
            },
        )
    )


EXCLUDE_CASES = [
    (
        "builder1",
        ["."],
        "/1",
        ["*/*.png", "*/*.jpeg"],
        {
            "/1/dir1/file-102.txt",
            "/1/dir2/file-201.pdf",
            "/1/dir3/file-301.mp3",
            "/1/dir3/file-302.mpeg",
            "/1/dir4/file-401.txt",
            "/1/dir4/file-402.txt",
            "/1/dir4/file-403.txt",
        },
    ),
    (
        "builder2",
        ["."],
        "/2",
        ["*/*.pdf", "*/*.txt"],
        {
            "/2/dir1/file-101.png",
            "/2/dir1/file-103.jpeg",
            "/2/dir2/file-202.jpeg",
            "/2/dir2/file-203.png",
            "/2/dir3/file-301.mp3",
            "/2/dir3/file-302.mpeg",
        },
    ),
    ("builder3", ["dir3/"], "/3/", ["*.mp3"], {"/3/file-302.mpeg"}),
    (
        "builder4",
        ["dir*"],
        "/4/",
        ["*.mp3", "*.jpeg", "*.png", "*.pdf", "*.txt"],
        {"/4/file-302.mpeg"},
    ),
    (
        "builder5",
        ["dir*"],
        "/5/",
        ["*.mp*", "*.jpeg", "*.png", "*.pdf"],
        {"/5/file-102.txt", "/5/file-401.txt", "/5/file-402.txt", "/5/file-403.txt"},
    ),
    ("builder6", ["dir*"], "/6/", ["*"], set()),
]


@pytest.mark.parametrize(
    ("sources", "dest", "excludes", "expected"),
    [pytest.param(*c[1:], id=c[0]) for c in EXCLUDE_CASES],
)
def test_exclude_buildkit_cases(
    exclude_ctx: SourceTree,
    sources: list[str],
    dest: str,
    excludes: list[str],
    expected: set[str],
) -> None:
    p = plan(exclude_ctx, sources, dest, excludes=excludes)
    assert files(p) == expected
    # builder6: everything excluded, the destination directory still exists.
    assert any(op.dest == dest.rstrip("/") and op.kind is EntryKind.DIR for op in p.ops)


def test_exclude_keeps_symlinks_as_links(exclude_ctx: SourceTree) -> None:
    p = plan(exclude_ctx, ["dir*"], "/5/", excludes=["*.mp*", "*.jpeg", "*.png", "*.pdf"])
    links = {op.dest: op.entry.link_target for op in p.ops if op.kind is EntryKind.SYMLINK}
    assert links == {"/5/file-402.txt": "file-401.txt", "/5/file-403.txt": "file-404.txt"}


def test_exclude_applies_to_files_a_wildcard_matched_as_documented(tmp_path: Path) -> None:
    # docs: COPY --exclude=*.txt hom* /mydir/ (BuildKit itself copies home.txt: #5489)
    tree = open_context(
        make_tree(tmp_path / "c", {"home.txt": "", "home.md": "", "homes/x.txt": ""})
    )
    p = plan(tree, ["hom*"], "/mydir/", excludes=["*.txt"])
    assert files(p) == {"/mydir/home.md"}  # homes/ is entered, its x.txt excluded inside
    with pytest.raises(CopySourceNotFoundError, match="no source files"):
        plan(tree, ["home.t*"], "/mydir/", excludes=["*.txt"])
    # A source named without a wildcard is copied even if a pattern matches it.
    assert files(plan(tree, ["home.txt"], "/mydir/", excludes=["*.txt"])) == {"/mydir/home.txt"}


def test_exclude_with_exception(exclude_ctx: SourceTree) -> None:
    p = plan(exclude_ctx, ["dir1"], "/e/", excludes=["*", "!*.txt"])
    assert files(p) == {"/e/file-102.txt"}


# --- COPY --parents (BuildKit dockerfile_parents_test.go) --------------------------------------------


def test_copy_parents_from_context(tmp_path: Path) -> None:
    tree = open_context(
        make_tree(tmp_path / "c", {"foo1/foo2/bar": "testing", "foo1/foo2/baz": "testing2"})
    )
    assert files(plan(tree, ["foo1/foo2/bar"], "/", parents=True)) == {"/foo1/foo2/bar"}
    p = plan(tree, ["foo1/foo2/ba*"], ".", parents=True, workdir="/test")
    assert files(p) == {"/test/foo1/foo2/bar", "/test/foo1/foo2/baz"}
    # The parents are created from the source's directories, so they carry its metadata.
    assert dests(p)["/test/foo1"] == ("dir", "foo1")


@pytest.fixture
def base_stage(tmp_path: Path) -> SourceTree:
    spec: dict[str, str | None] = {
        "test/a/b/c/d/e/": None,
        "test/a/b2/c/d/e/": None,
        "test/a/b/c2/d/e/": None,
        "test/a/b/c2/d/e2/": None,
        "test/a/b/c/d/foo": "",
        "test/a/b/c/d/e/bay": "",
        "test/a/b2/c/d/e/bar": "",
        "test/a/b/c2/d/e/baz": "",
        "test/a/b/c2/d/e2/baz": "",
    }
    return SourceTree(make_tree(tmp_path / "base", spec), label="stage 'base'")


PARENTS = [
    # target, sources, must exist (dirs end in '/'), must not exist
    ("middle", ["/test/a/b/./c/d"], {"/out/c/d/e/", "/out/c/d/foo"}, {"/out/a", "/out/e"}),
    ("end", ["/test/a/b/c/d/."], {"/out/test/a/b/c/d/e/", "/out/test/a/b/c/d/foo"}, set()),
    ("start", ["./test/a/b/c/d"], {"/out/test/a/b/c/d/e/", "/out/test/a/b/c/d/foo"}, set()),
    ("double", ["/test/a/./b/./c"], {"/out/b/c/d/e/", "/out/b/c/d/foo"}, set()),
    ("wildcard", ["/test/a/./*/c"], {"/out/b/c/d/e/", "/out/b2/c/d/e/bar"}, set()),
    (
        "doublewildcard",
        ["/test/a/b*/./c/**/e"],
        {"/out/c/d/e/", "/out/c/d/e/bay", "/out/c/d/e/bar"},
        set(),
    ),
    (
        "doubleinputs",
        ["/test/a/b/c*/./d/**/baz", "/test/a/b*/./c/**/bar"],
        {"/out/d/e/baz", "/out/d/e2/baz", "/out/c/d/e/bar"},
        {"/out/d/e/bay"},
    ),
]


@pytest.mark.parametrize(
    ("sources", "present", "absent"), [pytest.param(*c[1:], id=c[0]) for c in PARENTS]
)
def test_copy_relative_parents(
    base_stage: SourceTree, sources: list[str], present: set[str], absent: set[str]
) -> None:
    p = plan(base_stage, sources, "/out/", parents=True)
    got = dests(p)
    for path in present:
        kind = "dir" if path.endswith("/") else "file"
        assert got.get(path.rstrip("/"), ("missing",))[0] == kind, (path, sorted(got))
    for path in absent:
        assert path not in got, (path, sorted(got))


def test_copy_parents_missing_directory_cases(tmp_path: Path) -> None:
    base_stage = SourceTree(
        make_tree(
            tmp_path / "base",
            {"test/a/b/c/d/e/": None, "test/a/b/c/d/foo": "", "test/a/b/c/d/e/bay": ""},
        )
    )
    # normal / withpivot
    normal = dests(plan(base_stage, ["/test/a/b/c/d"], "/out/", parents=True))
    assert normal["/out/test/a/b/c/d/e/bay"] == ("file", "test/a/b/c/d/e/bay")
    assert "/out/e" not in normal and "/out/a" not in normal
    pivot = dests(plan(base_stage, ["/test/a/b/./c/d"], "/out/", parents=True))
    assert pivot["/out/c/d/e"][0] == "dir" and pivot["/out/c/d/foo"][0] == "file"
    assert "/out/a" not in pivot and "/out/e" not in pivot
    # nonexistentfile: BuildKit's '"/test/nonexistent-file": not found'
    with pytest.raises(CopySourceNotFoundError, match='"/test/nonexistent-file": not found'):
        plan(base_stage, ["/test/nonexistent-file"], "/out/", parents=True)
    # wildcard-nonexistent / wildcard-afterpivot: BuildKit copies nothing and succeeds.
    for src in ("/test/a/b2*/c", "/test/a/b/./c2*"):
        p = plan(base_stage, [src], "/out/", parents=True, allow_empty_wildcard=True)
        assert files(p) == set() and "/out/a" not in dests(p)
        with pytest.raises(CopySourceNotFoundError, match="no source files were specified"):
            plan(base_stage, [src], "/out/", parents=True)


def test_stage_sources_keep_owners(base_stage: SourceTree, tmp_path: Path) -> None:
    os.chown(tmp_path / "base" / "test" / "a" / "b" / "c" / "d" / "foo", 1000, 1000)
    (op,) = plan(base_stage, ["/test/a/b/c/d/foo"], "/x").ops
    assert (op.entry.uid, op.entry.gid) == (1000, 1000)
