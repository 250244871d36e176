"""Writing diff layers: round trips, whiteouts, overlayfs uppers, determinism, GNU tar oracle."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import socket
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from treeutil import CAP_NET_RAW, Node, build, describe, listing, sha256

from anyarch.archive.diff import (
    Change,
    ChangeKind,
    DiffError,
    Snapshot,
    overlay_changes,
    tar_header,
    tree_changes,
    write_diff_layer,
)
from anyarch.archive.extract import extract_layer
from anyarch.errors import UnsupportedMediaTypeError

T = 1_600_000_000

RICH: dict[str, Node] = {
    "bin": Node("dir", mode=0o755, mtime=T + 1),
    "bin/ping": Node("file", b"\x7fELF ping", mode=0o4755, uid=0, gid=0, cap=True, mtime=T + 2),
    "bin/ping6": Node("hardlink", target="bin/ping"),
    "bin/sh": Node("symlink", target="/bin/busybox", uid=5, gid=5, mtime=T + 3),
    "etc": Node("dir", mode=0o750, uid=10, gid=20, mtime=T + 4),
    "etc/conf": Node("file", b"k=v\n", mode=0o640, uid=1000, gid=1001, user_xattr=b"\x00\xffbin"),
    "etc/empty": Node("file", b"", mode=0o000),
    "tmp": Node("dir", mode=0o1777, mtime=T + 5),
    "tmp/fifo": Node("fifo", mode=0o620),
    "dev": Node("dir"),
    "dev/null": Node("chr", mode=0o666, rdev=(1, 3)),
    "big": Node("file", os.urandom(3 << 20), uid=3_000_000, gid=4_000_000),
    "l" * 120: Node("dir"),
    "l" * 120 + "/" + "m" * 99: Node("file", b"ustar prefix split"),
    "l" * 120 + "/" + "n" * 180: Node("file", b"PAX path"),
    "ünï名": Node("symlink", target="t" * 150),
    "future": Node("file", b"2242", mtime=2**33 + 7),
}


def layer_of(changes: list[Change], root: Path, **kw: object) -> tuple[bytes, object]:
    buf = io.BytesIO()
    res = write_diff_layer(changes, root, buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue(), res


def apply(blob: bytes, dest: Path, compression: str | None = "gzip") -> None:
    dest.mkdir(parents=True, exist_ok=True)
    extract_layer(io.BytesIO(blob), dest, compression=compression)


def members(blob: bytes, compression: str | None = "gzip") -> list[tarfile.TarInfo]:
    raw = _raw(blob, compression)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        return tf.getmembers()


def _raw(blob: bytes, compression: str | None) -> bytes:
    if compression == "gzip":
        return gzip.decompress(blob)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


# --- round trips ------------------------------------------------------------------


@pytest.mark.usefixtures("root_only")
@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_round_trip_of_a_rich_tree(tmp_path: Path, compression: str | None) -> None:
    src, empty = tmp_path / "src", tmp_path / "empty"
    build(src, RICH)
    empty.mkdir()
    blob, res = layer_of(list(tree_changes(empty, src)), src, compression=compression)
    # what the descriptor will say is exactly what was written
    assert res.digest == sha256(blob) and res.size == len(blob)  # type: ignore[attr-defined]
    assert res.diff_id == sha256(_raw(blob, compression))  # type: ignore[attr-defined]
    assert res.media_type.endswith(
        {None: ".tar", "gzip": ".tar+gzip", "zstd": ".tar+zstd"}[compression]
    )  # type: ignore[attr-defined]
    dest = tmp_path / "dest"
    apply(blob, dest, compression)
    assert describe(dest) == describe(src)
    assert describe(dest)["<hardlinks>"] == [["bin/ping", "bin/ping6"]]
    assert os.getxattr(dest / "bin/ping", "security.capability") == CAP_NET_RAW


@pytest.mark.usefixtures("root_only")
def test_gnu_tar_reads_our_layers_as_we_wrote_them(tmp_path: Path) -> None:
    """GNU tar is an independent reader: its listing and its extraction must agree with us."""
    src, empty = tmp_path / "src", tmp_path / "empty"
    build(src, RICH)
    empty.mkdir()
    layer = tmp_path / "layer.tgz"
    with open(layer, "wb") as fh:
        write_diff_layer(list(tree_changes(empty, src)), src, fh)
    out = subprocess.run(
        ["tar", "-tvzf", str(layer), "--numeric-owner", "--quoting-style=literal"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "warning" not in out.stderr.lower(), out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        perms, owner, _size, _date, _time, rest = line.split(None, 5)
        rows[rest] = (perms, owner)
    assert rows["bin/"] == ("drwxr-xr-x", "0/0")
    assert rows["bin/ping"] == ("-rwsr-xr-x", "0/0")
    assert rows["bin/ping6 link to bin/ping"][0].startswith("h")
    assert rows["bin/sh -> /bin/busybox"] == ("lrwxrwxrwx", "5/5")
    assert rows["etc/"] == ("drwxr-x---", "10/20")
    assert rows["etc/conf"] == ("-rw-r-----", "1000/1001")
    assert rows["tmp/"] == ("drwxrwxrwt", "0/0")
    assert rows["tmp/fifo"][0] == "prw--w----"
    assert rows["dev/null"][0] == "crw-rw-rw-"
    assert rows["big"] == ("-rw-r--r--", "3000000/4000000")
    assert f"{'l' * 120}/{'n' * 180}" in rows
    assert f"ünï名 -> {'t' * 150}" in rows
    # parents come before children, paths sorted component-wise
    names = [r.split(" -> ")[0].split(" link to ")[0].rstrip("/") for r in rows]
    assert names == sorted(names, key=lambda n: n.split("/"))
    dest = tmp_path / "gnu"
    dest.mkdir()
    subprocess.run(
        [
            "tar",
            "-xzpf",
            str(layer),
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-C",
            str(dest),
        ],
        check=True,
    )
    assert describe(dest) == describe(src)


@pytest.mark.usefixtures("root_only")
def test_same_tree_gives_same_digest_anywhere_and_clamp_caps_mtimes(tmp_path: Path) -> None:
    spec = {k: v for k, v in RICH.items() if k != "big"}
    a, b, empty = tmp_path / "a", tmp_path / "b", tmp_path / "empty"
    build(a, spec)
    build(b, spec)  # other inodes, other ctimes, same content and metadata
    empty.mkdir()
    for comp in (None, "gzip", "zstd"):
        ra = layer_of(list(tree_changes(empty, a)), a, compression=comp)
        rb = layer_of(list(tree_changes(empty, b)), b, compression=comp)
        assert ra[0] == rb[0], comp
    clamp = T + 2
    blob, _ = layer_of(list(tree_changes(empty, a)), a, clamp_mtime=clamp)
    times = {m.name: m.mtime for m in members(blob)}
    assert times["bin"] == T + 1, "older mtimes are kept"
    assert times["etc"] == clamp and times["future"] == clamp
    assert max(times.values()) == clamp


def test_changes_in_any_order_give_the_same_layer_with_parents_first(tmp_path: Path) -> None:
    root = tmp_path / "r"
    build(
        root,
        {
            "a": Node("dir"),
            "a/b": Node("dir"),
            "a/b/c": Node("file", b"c"),
            "a-b": Node("file", b"dash sorts before slash bytewise"),
            "z": Node("file", b"z"),
        },
    )
    changes = [
        Change("z", ChangeKind.ADD),
        Change("a/b/c", ChangeKind.MODIFY),
        Change("a/gone", ChangeKind.DELETE),
        Change("a-b", ChangeKind.ADD),
    ]
    one, _ = layer_of(changes, root)
    two, _ = layer_of(list(reversed(changes)), root)
    assert one == two
    # component-wise order (a whiteout sorts by the name it deletes); "a-b" after all of "a/"
    assert [m.name for m in members(one)] == ["a", "a/b", "a/b/c", "a/.wh.gone", "a-b", "z"]
    wh = next(m for m in members(one) if m.name == "a/.wh.gone")
    assert (wh.size, wh.mtime, wh.uid, wh.gid) == (0, 0, 0, 0)


def test_sockets_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_bytes(b"f")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(root / "sock"))
        blob, _ = layer_of([Change("sock", ChangeKind.ADD), Change("f", ChangeKind.ADD)], root)
    finally:
        s.close()
    assert [m.name for m in members(blob)] == ["f"]


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="brotli"):
        write_diff_layer([], tmp_path, io.BytesIO(), compression="brotli")


def test_empty_layer_is_a_valid_tar(tmp_path: Path) -> None:
    blob, res = layer_of([], tmp_path, compression=None)
    assert blob == bytes(1024)
    assert res.diff_id == sha256(bytes(1024))  # type: ignore[attr-defined]


@pytest.mark.parametrize("length", [99, 100, 101, 155, 156, 254, 255, 256, 257, 400])
@pytest.mark.parametrize("slash_at", [None, 10, 60, 99, 150, 155, 156])
def test_header_names_of_every_length_read_back_exactly(length: int, slash_at: int | None) -> None:
    name = "x" * length
    if slash_at is not None and slash_at < length - 1:
        name = name[:slash_at] + "/" + name[slash_at + 1 :]
    raw = tar_header(name, typeflag=b"0", mode=0o644) + bytes(1024)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        (m,) = tf.getmembers()
    assert m.name == name


@pytest.mark.parametrize(
    ("field", "value"),
    [("uid", 2**21 - 1), ("uid", 2**21), ("gid", 2**32 - 2), ("mtime", 2**33), ("mtime", -1)],
)
def test_header_numbers_beyond_ustar_go_to_pax(field: str, value: int) -> None:
    raw = tar_header("f", typeflag=b"0", **{field: value}) + bytes(1024)  # type: ignore[arg-type]
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        (m,) = tf.getmembers()
    assert getattr(m, field) == value
    assert (field in m.pax_headers) == (
        value >= 2**21 or value < 0 or (field == "mtime" and value >= 2**33)
    )


# --- tree diffs ---------------------------------------------------------------------


BASE: dict[str, Node] = {
    "keep": Node("file", b"same"),
    "edit": Node("file", b"old content"),
    "sneaky": Node("file", b"AAAA", mtime=T),
    "chmod": Node("file", b"m", mode=0o644),
    "gone": Node("file", b"g"),
    "gonedir": Node("dir"),
    "gonedir/a": Node("file", b"a"),
    "gonedir/sub": Node("dir"),
    "gonedir/sub/b": Node("file", b"b"),
    "d": Node("dir", mode=0o755),
    "d/inner-gone": Node("file", b"x"),
    "d/inner-keep": Node("file", b"y"),
    "file2dir": Node("file", b"f"),
    "dir2file": Node("dir"),
    "dir2file/child": Node("file", b"c"),
    "link": Node("symlink", target="keep"),
}


def mutate(root: Path) -> None:
    """What a RUN step might do."""
    (root / "edit").write_bytes(b"new content!")
    (root / "sneaky").write_bytes(b"BBBB")  # same size ...
    os.utime(root / "sneaky", (T, T))  # ... and same mtime: only the bytes differ
    os.chmod(root / "chmod", 0o600)
    os.unlink(root / "gone")
    shutil.rmtree(root / "gonedir")
    os.unlink(root / "d/inner-gone")
    os.unlink(root / "file2dir")
    (root / "file2dir").mkdir()
    (root / "file2dir/new").write_bytes(b"n")
    shutil.rmtree(root / "dir2file")
    (root / "dir2file").write_bytes(b"now a file")
    os.unlink(root / "link")
    os.symlink("edit", root / "link")
    (root / "added").mkdir()
    (root / "added/x").write_bytes(b"x")
    os.link(root / "added/x", root / "added/x-link")


def _check_tree_diff(
    changes: list[Change], before_spec_root: Path, after: Path, tmp_path: Path
) -> None:
    kinds = {c.path: c.kind for c in changes}
    assert "keep" not in kinds and "d/inner-keep" not in kinds, (
        "unchanged files are not in the layer"
    )
    assert kinds["gone"] is ChangeKind.DELETE and kinds["gonedir"] is ChangeKind.DELETE
    assert "gonedir/a" not in kinds, "a deleted directory is one whiteout"
    assert kinds["sneaky"] is ChangeKind.MODIFY
    assert kinds["added/x"] is ChangeKind.ADD
    blob, _ = layer_of(changes, after)
    names = [m.name for m in members(blob)]
    assert ".wh.gone" in names and ".wh.gonedir" in names and "d/.wh.inner-gone" in names
    target = tmp_path / "target"
    build(target, BASE)
    apply(blob, target)
    assert describe(target) == describe(after)


def test_tree_changes_between_two_trees(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    build(before, BASE)
    build(after, BASE)
    mutate(after)
    _check_tree_diff(list(tree_changes(before, after)), before, after, tmp_path)


def test_tree_changes_against_a_snapshot_of_the_same_directory(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    build(root, BASE)
    snap = Snapshot.take(root)
    mutate(root)
    _check_tree_diff(list(tree_changes(snap, root)), root, root, tmp_path)


def test_snapshot_sees_a_rewrite_that_restores_size_and_mtime(tmp_path: Path) -> None:
    # sub-second mtimes: the two-tree comparison trusts them, the snapshot needs no trust
    root = tmp_path / "rootfs"
    root.mkdir()
    f = root / "f"
    f.write_bytes(b"AAAA")
    os.utime(f, ns=(T * 10**9 + 123, T * 10**9 + 123))
    snap = Snapshot.take(root)
    f.write_bytes(b"BBBB")
    os.utime(f, ns=(T * 10**9 + 123, T * 10**9 + 123))
    assert [c.path for c in tree_changes(snap, root)] == ["f"]


# --- overlayfs ----------------------------------------------------------------------


@pytest.fixture
def overlay(tmp_path: Path):  # type: ignore[no-untyped-def]
    """lower/upper/work/merged with a real overlay mount (root and overlayfs needed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting overlayfs needs root")
    dirs = {n: tmp_path / n for n in ("lower", "upper", "work", "merged")}
    build(dirs["lower"], BASE)
    for n in ("upper", "work", "merged"):
        dirs[n].mkdir()
    opts = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']},redirect_dir=off,metacopy=off,index=off"
    r = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", opts, str(dirs["merged"])],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        msg = f"cannot mount overlayfs here: {r.stderr.strip()}"
        if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        yield dirs
    finally:
        subprocess.run(["umount", str(dirs["merged"])], check=False)


def test_overlay_upper_dir_becomes_a_layer_that_reproduces_the_merged_view(
    overlay: dict[str, Path], tmp_path: Path
) -> None:
    merged = overlay["merged"]
    mutate(merged)
    shutil.rmtree(merged / "d")  # replaced directory: overlayfs marks the new one opaque
    (merged / "d").mkdir()
    (merged / "d/fresh").write_bytes(b"fresh")
    expected = describe(merged)
    subprocess.run(["umount", str(merged)], check=True)
    changes = list(overlay_changes(overlay["upper"]))
    kinds = {c.path: c for c in changes}
    assert kinds["gone"].kind is ChangeKind.DELETE and kinds["gonedir"].kind is ChangeKind.DELETE
    assert kinds["d"].opaque and not kinds["added"].opaque
    blob, _ = layer_of(changes, overlay["upper"])
    names = [m.name for m in members(blob)]
    assert "d/.wh..wh..opq" in names and names.index("d/.wh..wh..opq") == names.index("d") + 1
    assert not any(m.ischr() for m in members(blob)), "overlay whiteouts never leak as devices"
    target = tmp_path / "target"
    build(target, BASE)
    apply(blob, target)
    assert describe(target) == expected


def test_overlay_features_that_hide_the_diff_are_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("trusted.* xattrs need root")
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").write_bytes(b"")
    os.setxattr(upper / "f", "trusted.overlay.metacopy", b"")
    with pytest.raises(DiffError, match="metacopy") as ei:
        list(overlay_changes(upper))
    assert "metacopy=off" in (ei.value.hint or "")


def test_fake_upper_whiteouts_and_opaque_markers(tmp_path: Path) -> None:
    """The same conversion without a mount: 0/0 char devices and the opaque xattr."""
    if os.geteuid() != 0:
        pytest.skip("mknod and trusted.* xattrs need root")
    upper = tmp_path / "upper"
    (upper / "o").mkdir(parents=True)
    (upper / "o/new").write_bytes(b"n")
    os.setxattr(upper / "o", "trusted.overlay.opaque", b"y")
    os.mknod(upper / "deleted", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.mknod(upper / "realdev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    changes = list(overlay_changes(upper))
    assert changes == [
        Change("deleted", ChangeKind.DELETE),
        Change("o", ChangeKind.ADD, opaque=True),
        Change("o/new", ChangeKind.ADD),
        Change("realdev", ChangeKind.ADD),
    ]
    blob, _ = layer_of(changes, upper)
    ms = members(blob)
    assert [m.name for m in ms] == [".wh.deleted", "o", "o/.wh..wh..opq", "o/new", "realdev"]
    assert not any(m.pax_headers.get("SCHILY.xattr.trusted.overlay.opaque") for m in ms)


# --- properties ---------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "dd", "é"])
MODES_FILE = st.sampled_from([0o644, 0o755, 0o600, 0o4755, 0o2750, 0o444, 0o000])
MODES_DIR = st.sampled_from([0o755, 0o700, 0o1777, 0o555, 0o2775])
IDS = st.sampled_from([0, 1, 1000, 65534, 2**21 + 5])
MTIMES = st.sampled_from([0, 1, T, T + 1, 2**33 + 1])


@st.composite
def node_st(draw: st.DrawFn) -> Node:
    kind = draw(
        st.sampled_from(
            ["file", "file", "file", "dir", "dir", "symlink", "hardlink", "fifo", "chr"]
        )
    )
    mode = draw(MODES_DIR if kind == "dir" else MODES_FILE)
    return Node(
        kind,
        data=draw(st.binary(max_size=1500)) if kind == "file" else b"",
        mode=mode,
        uid=draw(IDS),
        gid=draw(IDS),
        mtime=draw(MTIMES),
        target=draw(st.sampled_from(["a", "../b", "/etc/passwd", ".", "c/dd", "x" * 120])),
        cap=draw(st.booleans()) if kind == "file" else False,
        user_xattr=draw(st.none() | st.binary(min_size=1, max_size=20))
        if kind in ("file", "dir")
        else None,
        rdev=draw(st.sampled_from([(1, 3), (5, 1), (259, 70000)])),
    )


@st.composite
def tree_st(draw: st.DrawFn) -> dict[str, Node]:
    raw = draw(st.lists(st.tuples(st.lists(NAMES, min_size=1, max_size=3), node_st()), max_size=14))
    spec: dict[str, Node] = {}
    for parts, node in raw:
        path = "/".join(parts)
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if path in spec or any(p in spec and spec[p].kind != "dir" for p in parents):
            continue
        if node.kind != "dir" and any(k.startswith(path + "/") for k in spec):
            continue
        for p in parents:
            spec.setdefault(p, Node("dir", mode=0o755))
        spec[path] = node
    files = sorted(p for p, n in spec.items() if n.kind == "file")
    for path, node in list(spec.items()):
        if node.kind == "hardlink":
            if files:
                node.target = files[len(path) % len(files)]
            else:
                node.kind = "file"
    return spec


PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.usefixtures("root_only")
@PROPERTY
@given(spec=tree_st())
def test_property_any_tree_survives_diff_then_extract(
    tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Node]
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    src, empty, dest = tmp / "src", tmp / "empty", tmp / "dest"
    build(src, spec)
    empty.mkdir()
    blob, res = layer_of(list(tree_changes(empty, src)), src)
    apply(blob, dest)
    assert describe(dest) == describe(src)
    assert res.diff_id == sha256(gzip.decompress(blob))  # type: ignore[attr-defined]


@pytest.mark.usefixtures("root_only")
@PROPERTY
@given(before=tree_st(), after=tree_st())
def test_property_diff_applied_to_before_gives_after(
    tmp_path_factory: pytest.TempPathFactory, before: dict[str, Node], after: dict[str, Node]
) -> None:
    tmp = tmp_path_factory.mktemp("prop2")
    b, a, target = tmp / "before", tmp / "after", tmp / "target"
    build(b, before)
    build(a, after)
    build(target, before)
    blob, _ = layer_of(list(tree_changes(b, a)), a)
    apply(blob, target)
    expected = describe(a)
    # A layer cannot remove an xattr from a directory that stays a directory: the entry
    # merges into the lower one (containerd and GNU tar agree), so lower-only names remain.
    lower = describe(b)
    for path, entry in expected.items():
        if path == "<hardlinks>" or path not in lower:
            continue
        if entry["type"] == stat.S_IFDIR == lower[path]["type"]:
            names = {n for n, _ in entry["xattrs"]}
            kept = tuple(x for x in lower[path]["xattrs"] if x[0] not in names)
            entry["xattrs"] = tuple(sorted(entry["xattrs"] + kept))
    assert describe(target) == expected
    assert ".wh." not in "".join(listing(target))
    # and an unchanged tree yields an empty layer
    assert list(tree_changes(a, a)) == []


def test_a_change_that_vanished_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(DiffError, match=r"cannot archive 'd/missing'") as ei:
        write_diff_layer([Change("d/missing", ChangeKind.ADD)], tmp_path, io.BytesIO())
    assert ei.value.hint and ei.value.exit_code == 7


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../x", "a//b", "./a"])
def test_change_paths_that_could_leave_the_root_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(DiffError, match="not a plain relative path"):
        write_diff_layer([Change(path, ChangeKind.ADD)], tmp_path / "root", io.BytesIO())


def test_sink_failure_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(3 << 20))

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            raise OSError(28, "No space left on device")

    for comp in (None, "gzip"):
        with pytest.raises(DiffError, match="cannot write the layer: No space left"):
            write_diff_layer([Change("f", ChangeKind.ADD)], tmp_path, Full(), compression=comp)  # type: ignore[arg-type]
