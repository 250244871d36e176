"""Applying layers: every entry kind, whiteouts, refusals, damaged streams, diff IDs."""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from treeutil import CAP_NET_RAW, Member, Node, build, describe, listing, make_tar, sha256

from anyarch.archive.extract import (
    LayerApplyError,
    LayerCorruptError,
    LayerFormatError,
    LayerTruncatedError,
    UnsafeLayerError,
    extract_layer,
    member_components,
)
from anyarch.errors import DigestMismatchError, IntegrityError, InvalidDocumentError

T = 1_600_000_000


def apply(rootfs: Path, data: bytes, **kw: object) -> object:
    rootfs.mkdir(parents=True, exist_ok=True)
    return extract_layer(io.BytesIO(data), rootfs, **kw)  # type: ignore[arg-type]


# --- entry kinds -----------------------------------------------------------------


@pytest.mark.usefixtures("root_only")
def test_every_entry_kind_lands_with_its_metadata(tmp_path: Path) -> None:
    cap = CAP_NET_RAW.decode("utf-8", "surrogateescape")
    layer = make_tar(
        [
            Member("etc/", tarfile.DIRTYPE, mode=0o750, uid=5, gid=6, mtime=T + 1),
            Member("etc/conf", data=b"k=v\n", mode=0o4755, uid=1000, gid=1001, mtime=T + 2),
            Member("bin/", tarfile.DIRTYPE, mode=0o755),
            Member(
                "bin/ping",
                data=b"\x7fELF",
                mode=0o755,
                pax={"SCHILY.xattr.security.capability": cap, "SCHILY.xattr.user.note": "hi"},
            ),
            Member("bin/ping6", tarfile.LNKTYPE, linkname="bin/ping"),
            Member("etc/link", tarfile.SYMTYPE, linkname="../bin/ping", uid=7, gid=8, mtime=T + 3),
            Member("run/", tarfile.DIRTYPE, mode=0o1777),
            Member("run/fifo", tarfile.FIFOTYPE, mode=0o620, mtime=T + 4),
            Member("dev/", tarfile.DIRTYPE),
            Member("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
            Member("dev/sda", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0, gid=6),
        ]
    )
    root = tmp_path / "rootfs"
    stats = apply(root, layer)
    st = os.lstat(root / "etc")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 5, 6)
    assert int(st.st_mtime) == T + 1, "directory mtime must survive the creation of its children"
    st = os.lstat(root / "etc/conf")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)) == (
        0o4755,
        1000,
        1001,
        T + 2,
    ), "setuid must survive chown"
    assert (root / "etc/conf").read_bytes() == b"k=v\n"
    assert os.getxattr(root / "bin/ping", "security.capability") == CAP_NET_RAW
    assert os.getxattr(root / "bin/ping", "user.note") == b"hi"
    assert os.lstat(root / "bin/ping6").st_ino == os.lstat(root / "bin/ping").st_ino
    st = os.lstat(root / "etc/link")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(root / "etc/link") == "../bin/ping"
    assert (st.st_uid, st.st_gid, int(st.st_mtime)) == (7, 8, T + 3)
    assert stat.S_IMODE(os.lstat(root / "run").st_mode) == 0o1777
    st = os.lstat(root / "run/fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    st = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    st = os.lstat(root / "dev/sda")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(8, 0) and st.st_gid == 6
    assert (stats.files, stats.dirs, stats.symlinks, stats.hardlinks) == (2, 4, 1, 1)  # type: ignore[attr-defined]
    assert (stats.devices, stats.fifos, stats.warnings) == (2, 1, [])  # type: ignore[attr-defined]


def test_unprivileged_skips_devices_with_a_warning_but_keeps_everything_else(
    tmp_path: Path,
) -> None:
    layer = make_tar(
        [
            Member("dev/", tarfile.DIRTYPE, mode=0o555),
            Member("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
            Member("dev/fifo", tarfile.FIFOTYPE),
            Member("dev/file", data=b"x", uid=4242),
        ]
    )
    root = tmp_path / "rootfs"
    stats = apply(root, layer, privileged=False)
    assert not (root / "dev/null").exists()
    assert stat.S_ISFIFO(os.lstat(root / "dev/fifo").st_mode), "a fifo is harmless: kept"
    assert (root / "dev/file").read_bytes() == b"x"
    assert os.lstat(root / "dev/file").st_uid == os.geteuid(), "no chown when unprivileged"
    assert stat.S_IMODE(os.lstat(root / "dev").st_mode) == 0o555, (
        "read-only dir mode set at the end"
    )
    warnings = " | ".join(stats.warnings)  # type: ignore[attr-defined]
    assert "dev/null" in warnings and "not privileged" in warnings
    assert "ownership not applied" in warnings
    assert stats.skipped == 1  # type: ignore[attr-defined]


def test_large_file_streams_intact_through_gzip_and_zstd(tmp_path: Path) -> None:
    data = os.urandom(3 << 20) + b"tail"
    raw = make_tar([Member("big.bin", data=data)])
    for comp, blob in (
        ("gzip", gzip.compress(raw)),
        ("zstd", zstandard.ZstdCompressor().compress(raw)),
        ("auto", gzip.compress(raw)),
        ("auto", raw),
    ):
        root = tmp_path / f"r-{comp}-{len(blob)}"
        stats = apply(root, blob, compression=comp)
        assert (root / "big.bin").read_bytes() == data
        assert stats.diff_id == sha256(raw), comp  # type: ignore[attr-defined]
        assert stats.size == len(raw)  # type: ignore[attr-defined]


def test_long_and_unicode_names_via_pax_and_gnu_headers(tmp_path: Path) -> None:
    long_dir = "d" * 120
    long_name = f"{long_dir}/{'f' * 150}"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        layer = make_tar(
            [
                Member(f"{long_dir}/", tarfile.DIRTYPE),
                Member(long_name, data=b"long"),
                Member("ünïcødé-名前", data=b"u"),
                Member("sl", tarfile.SYMTYPE, linkname="t" * 200),
            ],
            fmt=fmt,
        )
        root = tmp_path / f"r{fmt}"
        apply(root, layer)
        assert (root / long_name).read_bytes() == b"long"
        assert (root / "ünïcødé-名前").read_bytes() == b"u"
        assert os.readlink(root / "sl") == "t" * 200


def test_existing_entries_are_replaced_and_directories_merged(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    apply(
        root,
        make_tar(
            [
                Member("d/", tarfile.DIRTYPE, mode=0o700),
                Member("d/lower", data=b"lower"),
                Member("was-dir/", tarfile.DIRTYPE),
                Member("was-dir/child", data=b"c"),
                Member("was-file", data=b"f"),
                Member("hard", data=b"shared"),
                Member("hard2", tarfile.LNKTYPE, linkname="hard"),
            ]
        ),
    )
    apply(
        root,
        make_tar(
            [
                Member("d/", tarfile.DIRTYPE, mode=0o755),
                Member("d/upper", data=b"upper"),
                Member("was-dir", data=b"now a file"),
                Member("was-file/", tarfile.DIRTYPE),
                Member("hard2", data=b"rewritten"),
            ]
        ),
    )
    assert sorted(os.listdir(root / "d")) == ["lower", "upper"], "dir over dir merges"
    assert stat.S_IMODE(os.lstat(root / "d").st_mode) == 0o755
    assert (root / "was-dir").read_bytes() == b"now a file"
    assert (root / "was-file").is_dir()
    assert (root / "hard").read_bytes() == b"shared", "rewriting one name must not write through"
    assert (root / "hard2").read_bytes() == b"rewritten"


# --- created right the first time: owners, modes, replacement ------------------------
# The extractor skips the fchown when a new file already has the wanted owner,
# creates plain-mode files with their final mode instead of fchmod-ing them, and
# probes for an existing entry only when creation reports EEXIST.  These tests pin
# the cases where a shortcut would silently give the wrong result.


@pytest.mark.usefixtures("root_only")
def test_owners_are_exact_under_a_setgid_directory(tmp_path: Path) -> None:
    """A setgid directory makes new files inherit its group: 0:0 files still need a chown."""
    root = tmp_path / "rootfs"
    for d in ("sg", "sg2"):
        (root / d).mkdir(parents=True)
        os.chown(root / d, 0, 42)
        os.chmod(root / d, 0o2775)
    layer = make_tar(
        [
            Member("sg/a", data=b"a"),  # first file here: inherits gid 42, wants 0
            Member("sg/b", data=b"b", gid=42),
            Member("sg/c", data=b"c"),
            Member("sg2/a", data=b"a", gid=42),  # first file matches what it inherits
            Member("sg2/b", data=b"b"),
            Member("sg2/c", data=b"c", uid=1000, gid=42),
            Member("sg/l0", tarfile.SYMTYPE, linkname="a"),  # after sg/a taught the owner
            Member("sg/l42", tarfile.SYMTYPE, linkname="a", gid=42),
            Member("sg2/l0", tarfile.SYMTYPE, linkname="a"),
            Member("top", data=b"t"),
            Member("m/", tarfile.DIRTYPE, mode=0o755),
            Member("m/a", data=b"a"),
            Member("m/", tarfile.DIRTYPE, mode=0o2755, gid=42),  # merged: now setgid
            Member("m/b", data=b"b"),
            Member("m/c", data=b"c", gid=42),
        ]
    )
    apply(root, layer)
    owners = {
        p: (os.lstat(root / p).st_uid, os.lstat(root / p).st_gid)
        for p in (
            *("sg/a", "sg/b", "sg/c", "sg/l0", "sg/l42"),
            *("sg2/a", "sg2/b", "sg2/c", "sg2/l0"),
            *("top", "m/a", "m/b", "m/c"),
        )
    }
    assert owners == {
        "sg/a": (0, 0),
        "sg/b": (0, 42),
        "sg/c": (0, 0),
        "sg/l0": (0, 0),
        "sg/l42": (0, 42),
        "sg2/l0": (0, 0),
        "sg2/a": (0, 42),
        "sg2/b": (0, 0),
        "sg2/c": (1000, 42),
        "top": (0, 0),
        "m/a": (0, 0),
        "m/b": (0, 0),
        "m/c": (0, 42),
    }


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_file_modes_are_exact_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    modes = [0o644, 0o755, 0o664, 0o775, 0o600, 0o444, 0o000, 0o777, 0o1755, 0o2755, 0o4755]
    layer = make_tar([Member(f"f{m:o}", data=b"x", mode=m) for m in modes])
    root = tmp_path / "rootfs"
    old = os.umask(umask)
    try:
        apply(root, layer)
    finally:
        os.umask(old)
    got = {m: stat.S_IMODE(os.lstat(root / f"f{m:o}").st_mode) for m in modes}
    assert got == {m: m for m in modes}


def _default_acl(user: int, group: int, other: int) -> bytes:
    """A ``system.posix_acl_default`` value (version 2, USER_OBJ, GROUP_OBJ, OTHER entries)."""
    import struct

    entries = [(0x01, user), (0x04, group), (0x20, other)]
    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, 0xFFFFFFFF) for tag, perm in entries
    )


def test_file_modes_are_exact_under_a_default_acl(tmp_path: Path) -> None:
    """A default ACL replaces the umask for new files: the mode must still be the layer's."""
    root = tmp_path / "rootfs"
    (root / "acl").mkdir(parents=True)
    os.setxattr(root / "acl", "system.posix_acl_default", _default_acl(7, 0, 0))
    probe = root / "acl" / "probe"
    os.close(os.open(probe, os.O_CREAT | os.O_WRONLY, 0o644))
    assert stat.S_IMODE(os.lstat(probe).st_mode) == 0o600, "the default ACL is not in effect"
    probe.unlink()
    apply(root, make_tar([Member("acl/f", data=b"x", mode=0o644), Member("acl/g", mode=0o755)]))
    assert stat.S_IMODE(os.lstat(root / "acl/f").st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(root / "acl/g").st_mode) == 0o755


def test_replacing_a_directory_within_one_layer_drops_its_cached_descriptor(
    tmp_path: Path,
) -> None:
    """``d/`` is cached for its children; once ``d`` becomes a symlink, ``d/g`` must follow it."""
    root = tmp_path / "rootfs"
    apply(
        root,
        make_tar(
            [
                Member("d/", tarfile.DIRTYPE),
                Member("d/f", data=b"f"),
                Member("e/", tarfile.DIRTYPE),
                Member("d", tarfile.SYMTYPE, linkname="e"),
                Member("d/g", data=b"g"),
                Member("e/h", data=b"h"),
                Member("d2/", tarfile.DIRTYPE),
                Member("d2/x", data=b"1"),
                Member("d2/x", data=b"2"),
                Member("d2/x", tarfile.SYMTYPE, linkname="/etc/passwd"),
                Member("d2/x", data=b"3"),
            ]
        ),
    )
    assert os.readlink(root / "d") == "e"
    assert sorted(os.listdir(root / "e")) == ["g", "h"], "d/g went through the new symlink"
    assert sorted(os.listdir(root)) == ["d", "d2", "e"]
    assert (root / "d2/x").read_bytes() == b"3" and not (root / "d2/x").is_symlink()


# --- whiteouts -------------------------------------------------------------------


def lower(root: Path) -> None:
    apply(
        root,
        make_tar(
            [
                Member("a/", tarfile.DIRTYPE),
                Member("a/keep", data=b"k"),
                Member("a/gone", data=b"g"),
                Member("a/sub/", tarfile.DIRTYPE),
                Member("a/sub/deep", data=b"d"),
                Member("o/", tarfile.DIRTYPE, mode=0o711),
                Member("o/old1", data=b"1"),
                Member("o/old-dir/", tarfile.DIRTYPE),
                Member("o/old-dir/x", data=b"x"),
            ]
        ),
    )


def test_whiteout_deletes_files_and_whole_directories(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    lower(root)
    stats = apply(
        root,
        make_tar(
            [
                Member("a/.wh.gone"),
                Member("a/.wh.sub"),
                Member("a/.wh.never-existed"),
                Member("nodir/.wh.x"),
            ]
        ),
    )
    assert sorted(os.listdir(root / "a")) == ["keep"]
    assert not (root / "nodir").exists(), "a whiteout in a missing dir creates nothing"
    assert stats.whiteouts == 3  # type: ignore[attr-defined]
    assert not any(".wh." in p for p in listing(root)), "whiteouts are never written as files"


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_directory_hides_lower_children_but_keeps_its_own(
    tmp_path: Path, marker_first: bool
) -> None:
    root = tmp_path / "rootfs"
    lower(root)
    own = [
        Member("o/", tarfile.DIRTYPE, mode=0o755),
        Member("o/-first", data=b"sorts before the marker"),
        Member("o/new", data=b"n"),
    ]
    marker = Member("o/.wh..wh..opq")
    members = [own[0], marker, *own[1:]] if marker_first else [*own, marker]
    stats = apply(root, make_tar(members))
    assert sorted(os.listdir(root / "o")) == ["-first", "new"]
    assert stat.S_IMODE(os.lstat(root / "o").st_mode) == 0o755
    assert stats.opaques == 1  # type: ignore[attr-defined]


def test_whiteout_does_not_hide_a_file_from_its_own_layer(tmp_path: Path) -> None:
    # image-spec layer.md: whiteouts only apply to lower layers
    root = tmp_path / "rootfs"
    apply(root, make_tar([Member("f", data=b"mine"), Member(".wh.f")]))
    assert (root / "f").read_bytes() == b"mine"


@pytest.mark.parametrize("name", [".wh..", ".wh...", "a/.wh..", ".wh."])
def test_whiteout_naming_the_directory_itself_or_its_parent_is_refused(
    tmp_path: Path, name: str
) -> None:
    root = tmp_path / "a" / "rootfs"
    lower(root)
    before = listing(tmp_path)
    with pytest.raises(InvalidDocumentError, match="whiteout names no file"):
        apply(root, make_tar([Member(name)]))
    assert listing(tmp_path) == before


def test_aufs_metadata_entries_are_ignored(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    stats = apply(root, make_tar([Member(".wh..wh.plnk/", tarfile.DIRTYPE), Member("f")]))
    assert listing(root) == ["f"]
    assert stats.skipped == 1  # type: ignore[attr-defined]


# --- security --------------------------------------------------------------------


@pytest.fixture
def jail(tmp_path: Path) -> tuple[Path, Path]:
    """A rootfs two levels below tmp_path, and a sentinel dir beside it holding a secret."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not touch")
    (tmp_path / "secret").write_bytes(b"top secret")
    rootfs = tmp_path / "a" / "b" / "rootfs"
    rootfs.mkdir(parents=True)
    return rootfs, outside


def _untouched(tmp_path: Path, rootfs: Path, before: list[str]) -> None:
    after = [p for p in listing(tmp_path) if not p.startswith("a/b/rootfs/")]
    assert after == [p for p in before if not p.startswith("a/b/rootfs/")]
    assert (tmp_path / "outside" / "secret").read_bytes() == b"do not touch"
    assert (tmp_path / "secret").read_bytes() == b"top secret"
    assert os.lstat(tmp_path / "outside" / "secret").st_nlink == 1
    assert os.lstat(tmp_path / "secret").st_nlink == 1


@pytest.mark.parametrize(
    "name", ["../../x", "../../../x", "a/../../../../x", "./../x", "ok/../../x"]
)
def test_dotdot_member_is_refused(jail: tuple[Path, Path], tmp_path: Path, name: str) -> None:
    rootfs, _ = jail
    before = listing(tmp_path)
    with pytest.raises(UnsafeLayerError, match=r"'\.\.' component") as ei:
        apply(rootfs, make_tar([Member(name, data=b"pwned")]), layer="sha256:abc")
    assert "sha256:abc" in str(ei.value) and ei.value.hint
    _untouched(tmp_path, rootfs, before)


def test_absolute_member_lands_inside_the_rootfs(jail: tuple[Path, Path], tmp_path: Path) -> None:
    # containerd strips the leading "/" (filepath.Clean + RootPath): /etc/x means ROOTFS/etc/x
    rootfs, outside = jail
    before = listing(tmp_path)
    target = f"{outside}/secret"
    apply(rootfs, make_tar([Member(target, data=b"pwned"), Member("/etc/x", data=b"x")]))
    assert (rootfs / target.lstrip("/")).read_bytes() == b"pwned"
    assert (rootfs / "etc/x").read_bytes() == b"x"
    _untouched(tmp_path, rootfs, before)


@pytest.mark.parametrize(
    "link",
    ["/", "../../..", "../../../../../../..", "OUTSIDE", "/../../OUTSIDE", "x/../../../OUTSIDE"],
)
def test_file_written_through_a_symlink_stays_inside(
    jail: tuple[Path, Path], tmp_path: Path, link: str
) -> None:
    rootfs, outside = jail
    link = link.replace("OUTSIDE", str(outside))
    before = listing(tmp_path)
    apply(
        rootfs,
        make_tar(
            [
                Member("evil", tarfile.SYMTYPE, linkname=link),
                Member("evil/secret", data=b"pwned"),
                Member("evil/newdir/", tarfile.DIRTYPE),
                Member("evil/newdir/f", data=b"pwned"),
                Member("evil/.wh.secret"),  # whiteout through the link: also confined
            ]
        ),
    )
    _untouched(tmp_path, rootfs, before)
    written = [p for p in listing(rootfs) if p.endswith("newdir/f")]
    assert len(written) == 1, "the write happened, inside the rootfs"


def test_chained_and_looping_symlinks(jail: tuple[Path, Path], tmp_path: Path) -> None:
    rootfs, outside = jail
    before = listing(tmp_path)
    apply(
        rootfs,
        make_tar(
            [
                Member("l1", tarfile.SYMTYPE, linkname="l2/.."),
                Member("l2", tarfile.SYMTYPE, linkname="/../l3"),
                Member("l3", tarfile.SYMTYPE, linkname=str(outside)),
                Member("l1/f", data=b"pwned"),
            ]
        ),
    )
    _untouched(tmp_path, rootfs, before)
    loop = make_tar(
        [
            Member("p", tarfile.SYMTYPE, linkname="q"),
            Member("q", tarfile.SYMTYPE, linkname="p"),
            Member("p/f"),
        ]
    )
    with pytest.raises(UnsafeLayerError, match="too many symlinks"):
        apply(rootfs, loop)


def test_replacing_a_symlink_never_writes_through_it(
    jail: tuple[Path, Path], tmp_path: Path
) -> None:
    rootfs, outside = jail
    before = listing(tmp_path)
    secret_mode = os.stat(outside / "secret").st_mode
    apply(rootfs, make_tar([Member("s", tarfile.SYMTYPE, linkname=f"{outside}/secret")]))
    apply(rootfs, make_tar([Member("s", data=b"pwned", mode=0o777)]))
    _untouched(tmp_path, rootfs, before)
    assert (rootfs / "s").read_bytes() == b"pwned" and not (rootfs / "s").is_symlink()
    # and metadata calls on a symlink member never follow it
    apply(
        rootfs,
        make_tar([Member("s2", tarfile.SYMTYPE, linkname=f"{outside}/secret", mode=0o777, uid=99)]),
    )
    assert os.stat(outside / "secret").st_mode == secret_mode
    _untouched(tmp_path, rootfs, before)
    assert os.stat(outside / "secret").st_uid == os.geteuid()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([Member("h", tarfile.LNKTYPE, linkname="/etc/passwd")], "target is not in the rootfs"),
        ([Member("h", tarfile.LNKTYPE, linkname="../../secret")], r"'\.\.' component"),
        ([Member("h", tarfile.LNKTYPE, linkname="../../../secret")], r"'\.\.' component"),
        ([Member("h", tarfile.LNKTYPE, linkname="OUTSIDE/secret")], "target is not in the rootfs"),
        (
            [
                Member("evil", tarfile.SYMTYPE, linkname="OUTSIDE"),
                Member("h", tarfile.LNKTYPE, linkname="evil/secret"),
            ],
            "target is not in the rootfs",
        ),
        (
            [
                Member("evil", tarfile.SYMTYPE, linkname="../../.."),
                Member("h", tarfile.LNKTYPE, linkname="evil/secret"),
            ],
            "target is not in the rootfs",
        ),
        (
            [Member("d/", tarfile.DIRTYPE), Member("h", tarfile.LNKTYPE, linkname="d")],
            "names a directory",
        ),
        ([Member("h", tarfile.LNKTYPE, linkname="./")], "rootfs itself"),
    ],
)
def test_hardlink_out_of_the_rootfs_is_refused(
    jail: tuple[Path, Path], tmp_path: Path, members: list[Member], message: str
) -> None:
    rootfs, outside = jail
    for m in members:
        m.linkname = m.linkname.replace("OUTSIDE", str(outside))
    before = listing(tmp_path)
    with pytest.raises(UnsafeLayerError, match=message) as ei:
        apply(rootfs, make_tar(members))
    assert ei.value.hint
    _untouched(tmp_path, rootfs, before)


def test_hardlink_to_a_symlink_links_the_symlink_not_its_target(
    jail: tuple[Path, Path], tmp_path: Path
) -> None:
    rootfs, outside = jail
    before = listing(tmp_path)
    apply(
        rootfs,
        make_tar(
            [
                Member("s", tarfile.SYMTYPE, linkname=f"{outside}/secret"),
                Member("h", tarfile.LNKTYPE, linkname="s"),
            ]
        ),
    )
    assert os.readlink(rootfs / "h") == f"{outside}/secret"
    _untouched(tmp_path, rootfs, before)


def test_overlay_private_xattrs_are_not_applied(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    stats = apply(
        root,
        make_tar(
            [
                Member(
                    "d/",
                    tarfile.DIRTYPE,
                    pax={
                        "SCHILY.xattr.trusted.overlay.opaque": "y",
                        "SCHILY.xattr.user.overlay.redirect": "/x",
                    },
                )
            ]
        ),
    )
    assert os.listxattr(root / "d") == []
    assert sum("overlayfs xattr" in w for w in stats.warnings) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "parts"),
    [("./a/b", ["a", "b"]), ("/a//b/", ["a", "b"]), ("./", []), ("/", []), ("a/./b", ["a", "b"])],
)
def test_member_names_normalise_like_containerd(name: str, parts: list[str]) -> None:
    assert member_components(name) == parts


def test_file_under_a_regular_file_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    with pytest.raises(LayerFormatError, match="'f' is not a directory"):
        apply(root, make_tar([Member("f", data=b"x"), Member("f/g", data=b"y")]))


# --- damaged streams and diff IDs -------------------------------------------------


def _layer() -> bytes:
    return make_tar(
        [
            Member("a", data=os.urandom(5000)),
            Member("b", data=b"x" * 700),
            Member("c/", tarfile.DIRTYPE),
        ]
    )


@pytest.mark.parametrize("cut", [100, 512, 700, 1024, 6144, 6656, 7168, -1024, -513])
def test_truncated_plain_tar_is_detected(tmp_path: Path, cut: int) -> None:
    raw = _layer()
    data = raw[:cut] if cut > 0 else raw[: _payload_end(raw) + 1024 + cut]
    with pytest.raises((LayerTruncatedError, LayerFormatError)) as ei:
        apply(tmp_path / f"r{cut}", data, layer="sha256:feed")
    assert "sha256:feed" in str(ei.value)
    assert ei.value.hint


def _payload_end(raw: bytes) -> int:
    """Offset of the end-of-archive marker in a tar written by tarfile."""
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        tf.getmembers()
        return tf.offset


def test_truncation_reports_truncated_not_just_invalid(tmp_path: Path) -> None:
    raw = _layer()
    end = _payload_end(raw)
    for cut in (1000, end, end + 512):
        with pytest.raises(LayerTruncatedError, match=r"ends|without an end-of-archive marker"):
            apply(tmp_path / f"t{cut}", raw[:cut])
    # a complete tar with exactly two zero blocks (Go's writer) is fine
    apply(tmp_path / "ok", raw[: end + 1024])


@pytest.mark.parametrize("comp", ["gzip", "zstd"])
def test_truncated_compressed_layer_is_detected(tmp_path: Path, comp: str) -> None:
    raw = _layer()
    blob = gzip.compress(raw) if comp == "gzip" else zstandard.ZstdCompressor().compress(raw)
    for cut in (len(blob) // 2, len(blob) - 4, len(blob) - 1):
        with pytest.raises(LayerCorruptError) as ei:
            apply(tmp_path / f"{comp}{cut}", blob[:cut], compression=comp, layer="sha256:cafe")
        assert isinstance(ei.value, IntegrityError)
        assert "sha256:cafe" in str(ei.value)


def test_corrupt_gzip_and_non_tar_input(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(_layer()))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(LayerCorruptError, match=r"cannot decompress|ends early"):
        apply(tmp_path / "g", bytes(blob), compression="gzip")
    with pytest.raises(LayerFormatError, match=r"not a tar archive|invalid tar"):
        apply(tmp_path / "n", b"this is not a tar archive at all" * 40)
    with pytest.raises(LayerFormatError):
        apply(tmp_path / "z", gzip.compress(_layer()))  # gzip data declared as plain tar


def test_diff_id_is_sha256_of_the_uncompressed_stream_including_padding(tmp_path: Path) -> None:
    raw = _layer()
    assert len(raw) % 10240 == 0  # tarfile pads to a record: the padding is part of the diff ID
    stats = apply(
        tmp_path / "r", gzip.compress(raw), compression="gzip", expected_diff_id=sha256(raw)
    )
    assert stats.diff_id == sha256(raw) and stats.size == len(raw)  # type: ignore[attr-defined]


def test_diff_id_mismatch_raises(tmp_path: Path) -> None:
    raw = _layer()
    wrong = sha256(raw + b"x")
    with pytest.raises(DigestMismatchError, match=r"sha256:beef.*config says") as ei:
        apply(tmp_path / "r", raw, expected_diff_id=wrong, layer="sha256:beef")
    assert sha256(raw) in str(ei.value) and wrong in str(ei.value)
    assert ei.value.exit_code == 6


# --- external producer -------------------------------------------------------------


@pytest.mark.usefixtures("root_only")
def test_layer_written_by_gnu_tar_extracts_to_the_same_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    build(
        src,
        {
            "d": Node("dir", mode=0o750, uid=3, gid=4),
            "d/f": Node("file", b"hello", mode=0o640, uid=1000, gid=1000, cap=True),
            "d/h": Node("hardlink", target="d/f"),
            "d/s": Node("symlink", target="../nowhere"),
            "p": Node("fifo", mode=0o600),
            "n" * 150: Node("file", b"long name", mtime=T + 9),
        },
    )
    tarball = tmp_path / "gnu.tgz"
    subprocess.run(
        [
            "tar",
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-C",
            str(src),
            "-czf",
            str(tarball),
            ".",
        ],
        check=True,
    )
    dest = tmp_path / "dest"
    with open(tarball, "rb") as fh:
        dest.mkdir()
        extract_layer(fh, dest, compression="auto")
    assert describe(dest) == describe(src)


def test_bodies_of_skipped_members_do_not_derail_the_stream(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    stats = apply(
        root,
        make_tar(
            [
                Member("./", data=b"root entry as a file with a body"),
                Member(".wh.x", data=b"whiteout with a body" * 50),
                Member(".wh..wh.aufs", data=b"meta"),
                Member("dev/", tarfile.DIRTYPE),
                Member("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
                Member("after", data=b"still aligned"),
            ]
        ),
        privileged=False,
    )
    assert (root / "after").read_bytes() == b"still aligned"
    assert stats.files == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("offset", [148, 0, 124, 257])
def test_damaged_header_is_a_format_error(tmp_path: Path, offset: int) -> None:
    raw = bytearray(make_tar([Member("a", data=b"x"), Member("b", data=b"y")]))
    raw[512 * 2 + offset] ^= 0x5A  # second member's header (PAX-free names: one header each)
    with pytest.raises(LayerFormatError, match=r"checksum|not octal") as ei:
        apply(tmp_path / "r", bytes(raw), layer="sha256:0bad")
    assert "sha256:0bad" in str(ei.value) and "byte 1024" in str(ei.value)


def test_gnu_base256_numbers_and_global_pax_headers(tmp_path: Path) -> None:
    gnu = make_tar([Member("big-ids", data=b"b", uid=2**33, gid=2**22)], fmt=tarfile.GNU_FORMAT)
    root = tmp_path / "r1"
    stats = apply(root, gnu, privileged=False)
    assert "8589934592:4194304" in " ".join(stats.warnings)  # type: ignore[attr-defined]
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"mtime": "1234.5"}
    ) as tf:
        ti = tarfile.TarInfo("g")
        tf.addfile(ti, io.BytesIO(b""))
    root = tmp_path / "r2"
    apply(root, buf.getvalue())
    assert os.lstat(root / "g").st_mtime_ns == 1234_500_000_000, "a global PAX mtime applies"


def test_sparse_members_are_refused_clearly(tmp_path: Path) -> None:
    sparse = make_tar(
        [Member("s", data=b"x", pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0"})]
    )
    with pytest.raises(LayerFormatError, match="sparse"):
        apply(tmp_path / "r", sparse)


def test_missing_rootfs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LayerApplyError, match="cannot open rootfs") as ei:
        extract_layer(io.BytesIO(make_tar([Member("f")])), tmp_path / "nope")
    assert ei.value.hint


@pytest.mark.usefixtures("root_only")
def test_xattrs_on_entries_that_cannot_be_opened(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    stats = apply(
        root,
        make_tar(
            [
                Member(
                    "s",
                    tarfile.SYMTYPE,
                    linkname="/etc/passwd",
                    pax={"SCHILY.xattr.trusted.t": "on-link"},
                ),
                Member(
                    "p",
                    tarfile.FIFOTYPE,
                    pax={"SCHILY.xattr.trusted.t": "on-fifo", "SCHILY.xattr.user.u": "x"},
                ),
            ]
        ),
    )
    assert os.getxattr(root / "s", "trusted.t", follow_symlinks=False) == b"on-link"
    assert os.getxattr(root / "p", "trusted.t", follow_symlinks=False) == b"on-fifo"
    # the kernel allows user.* only on files and directories: a warning, not a failure
    assert any("user.u not set" in w for w in stats.warnings)  # type: ignore[attr-defined]
