"""The layer snapshot cache and rootfs assembly, on real overlayfs and with the copy fallback.

Needs root (overlay mounts, whiteout devices); a visible skip otherwise, a
failure in CI.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anyarch.archive.layer import Entry, write_layer
from anyarch.build import snapshots
from anyarch.build.rootfs import mounts_under
from anyarch.build.snapshots import (
    SnapshotMode,
    chain_ids,
    prepare_rootfs,
    remove_snapshots,
    snapshot_root,
    sweep_leftovers,
    unreferenced_snapshots,
)
from anyarch.errors import DigestMismatchError, InvalidInputError
from anyarch.oci import ContainerConfig, Descriptor, Digest, ImageConfig, Manifest
from anyarch.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _root(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        msg = "snapshot tests need root (overlay mounts, whiteout devices)"
        if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    monkeypatch.delenv(snapshots.ENV_SNAPSHOTTER, raising=False)


# --- building test images ------------------------------------------------------------

LOWER = [
    Entry("a", "dir", 0o755),
    Entry("a/f1", data=b"one\n"),
    Entry("a/sub", "dir", 0o750, uid=7, gid=8),
    Entry("a/sub/x", data=b"x\n", mode=0o600),
    Entry("del.txt", data=b"delete me\n"),
    Entry("keep.txt", data=b"keep\n"),
    Entry("link", "symlink", 0o777, link="keep.txt"),
    Entry("opq", "dir", 0o755),
    Entry("opq/old", data=b"old\n"),
    Entry("opq/olddir", "dir", 0o755),
    Entry("opq/olddir/deep", data=b"deep\n"),
    Entry("rep", "dir", 0o755),
    Entry("rep/inside", data=b"inside\n"),
    Entry("gone", "dir", 0o755),
    Entry("gone/child", data=b"child\n"),
]

UPPER = [
    Entry(".wh.del.txt"),  # delete a file
    Entry(".wh.gone"),  # delete a whole directory
    Entry("a/.wh.f1"),  # delete a file inside a directory the layer does not list
    Entry("a/f2", data=b"two\n"),
    Entry("opq", "dir", 0o711),  # replace a directory's contents (opaque)
    Entry("opq/.wh..wh..opq"),
    Entry("opq/new", data=b"new\n"),
    Entry("rep", "file", 0o644, data=b"now a file\n"),  # a directory replaced by a file
    Entry("keep.txt", data=b"kept, changed\n"),
]


def put_image(
    store: Store, name: str, layers: list[list[Entry]], *, bad_diff_id: bool = False
) -> None:
    """Write layers, config and manifest into the store and tag them ``name``."""
    descs, diff_ids = [], []
    for entries in layers:
        buf = io.BytesIO()
        res = write_layer(entries, buf)
        store.blobs.put(buf.getvalue())
        descs.append(Descriptor(res.media_type, Digest.parse(res.digest), res.size))
        diff_ids.append(Digest.parse(res.diff_id))
    if bad_diff_id:
        diff_ids[-1] = Digest.of(b"something else")
    config = ImageConfig.build(
        architecture="amd64",
        os="linux",
        diff_ids=diff_ids,
        config=ContainerConfig(cmd=("sh",)),
    )
    store.blobs.put(config.raw)
    manifest = Manifest.build(config.descriptor(), descs)
    store.blobs.put(manifest.raw)
    store.tag(name, manifest.descriptor())


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """What a user of the rootfs sees: type, mode, owner, and content or link target."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                extra: object = p.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            else:
                extra = None
            out[rel] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                extra,
            )
    return out


EXPECTED = {
    "a": "dir",
    "a/f2": b"two\n",
    "a/sub": "dir",
    "a/sub/x": b"x\n",
    "keep.txt": b"kept, changed\n",
    "link": "keep.txt",
    "opq": "dir",
    "opq/new": b"new\n",
    "rep": b"now a file\n",
}


def check_merged(root: Path) -> dict[str, tuple[object, ...]]:
    t = tree(root)
    assert sorted(t) == sorted(EXPECTED)
    for path, want in EXPECTED.items():
        kind, _mode, _uid, _gid, extra = t[path]
        if want == "dir":
            assert kind == stat.S_IFDIR, path
        else:
            assert extra == want, path
    assert t["a/sub"][1:4] == (0o750, 7, 8)  # metadata of a dir only a lower layer lists
    assert t["opq"][1] == 0o711
    return t


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def resolved(store: Store, name: str) -> tuple[Manifest, ImageConfig]:
    img = store.resolve(name)
    return img.manifest, img.config


# --- chain IDs --------------------------------------------------------------------------


def test_chain_ids_follow_the_image_spec_formula() -> None:
    d = [f"sha256:{c * 64}" for c in "abc"]
    c1 = "sha256:" + hashlib.sha256(f"{d[0]} {d[1]}".encode()).hexdigest()
    c2 = "sha256:" + hashlib.sha256(f"{c1} {d[2]}".encode()).hexdigest()
    assert [str(c) for c in chain_ids(d)] == [d[0], c1, c2]
    assert chain_ids([]) == ()


# --- whiteouts, both modes --------------------------------------------------------------


def test_overlay_mode_applies_whiteouts_and_stores_overlay_whiteouts(store: Store) -> None:
    put_image(store, "wh:1", [LOWER, UPPER])
    manifest, config = resolved(store, "wh:1")
    with prepare_rootfs(store, manifest, config, mode="overlay") as m:
        assert m.mode == "overlay"
        check_merged(m.rootfs)
        assert m.rootfs in mounts_under(m.rootfs)
    top = snapshot_root(store) / m.chain_ids[1].hex / "fs"
    # the layer-2 snapshot holds overlay whiteouts, not OCI .wh. files
    for deleted in ("del.txt", "gone", "a/f1"):
        st = (top / deleted).lstat()
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, deleted
    assert not [p for p in top.rglob(".wh.*")]
    # the layer-1 snapshot holds only layer 1
    bottom = snapshot_root(store) / m.chain_ids[0].hex / "fs"
    assert (bottom / "del.txt").read_bytes() == b"delete me\n"
    assert not (bottom / "a" / "f2").exists()
    assert not mounts_under(store.root)


def test_copy_mode_gives_the_same_tree_as_overlay(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_image(store, "wh:1", [LOWER, UPPER])
    manifest, config = resolved(store, "wh:1")
    with prepare_rootfs(store, manifest, config, mode="overlay") as m:
        over = check_merged(m.rootfs)
    monkeypatch.setenv(snapshots.ENV_SNAPSHOTTER, "copy")  # forced the way a user would
    with prepare_rootfs(store, manifest, config) as c:
        assert c.mode == "copy" and c.upper is None
        assert check_merged(c.rootfs) == over
        assert c.extracted == c.chain_ids  # the full-rootfs kind is its own cache


def test_writes_never_reach_the_cache(store: Store) -> None:
    put_image(store, "wh:1", [LOWER, UPPER])
    manifest, config = resolved(store, "wh:1")
    modes: tuple[SnapshotMode, ...] = ("overlay", "copy")
    for mode in modes:
        with prepare_rootfs(store, manifest, config, mode=mode, track_changes=True) as m:
            with open(m.rootfs / "keep.txt", "ab") as f:  # in place, through any hardlink
                f.write(b"appended\n")
            (m.rootfs / "a" / "sub" / "x").unlink()
            changes = {c.path: c.kind.name for c in m.changes()}
            assert changes.get("keep.txt") in ("ADD", "MODIFY"), (mode, changes)
            assert changes.get("a/sub/x") == "DELETE", (mode, changes)
        with prepare_rootfs(store, manifest, config, mode=mode) as again:
            assert again.extracted == ()
            check_merged(again.rootfs)


# --- the cache --------------------------------------------------------------------------


def test_second_prepare_extracts_nothing(store: Store) -> None:
    put_image(store, "wh:1", [LOWER, UPPER])
    manifest, config = resolved(store, "wh:1")
    first = prepare_rootfs(store, manifest, config, mode="overlay")
    first.cleanup()
    assert first.extracted == first.chain_ids and len(first.chain_ids) == 2
    marker = snapshot_root(store) / first.chain_ids[1].hex / ".complete"
    before = marker.stat().st_mtime_ns
    second = prepare_rootfs(store, manifest, config, mode="overlay")
    try:
        assert second.extracted == ()
        check_merged(second.rootfs)
    finally:
        second.cleanup()
    assert marker.stat().st_mtime_ns == before
    # an image sharing only the first layer reuses its snapshot
    put_image(store, "wh:2", [LOWER, [Entry("other", data=b"o")]])
    m2, c2 = resolved(store, "wh:2")
    with prepare_rootfs(store, m2, c2, mode="overlay") as third:
        assert third.extracted == third.chain_ids[1:]
        assert (third.rootfs / "del.txt").exists() and (third.rootfs / "other").exists()


def test_wrong_diff_id_publishes_nothing(store: Store) -> None:
    put_image(store, "bad:1", [LOWER, UPPER], bad_diff_id=True)
    manifest, config = resolved(store, "bad:1")
    with pytest.raises(DigestMismatchError):
        prepare_rootfs(store, manifest, config, mode="overlay")
    ids = chain_ids(config.diff_ids)
    root = snapshot_root(store)
    assert (root / ids[0].hex / ".complete").is_file()  # the good layer below is kept
    assert not (root / ids[1].hex).exists()
    assert [p.name for p in (root / ".tmp").iterdir()] == []
    assert not mounts_under(store.root)


def test_dest_must_be_empty(store: Store, tmp_path: Path) -> None:
    put_image(store, "wh:1", [LOWER])
    manifest, config = resolved(store, "wh:1")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "junk").touch()
    with pytest.raises(InvalidInputError):
        prepare_rootfs(store, manifest, config, dest, mode="overlay")
    (dest / "junk").unlink()
    with prepare_rootfs(store, manifest, config, dest, mode="overlay") as m:
        assert m.rootfs == dest / "rootfs" and m.upper == dest / "upper"
    assert dest.is_dir() and list(dest.iterdir()) == []  # the caller's dir stays, emptied


CONCURRENT = r"""
import sys, time, json
from pathlib import Path
from anyarch.store import Store
from anyarch.build.snapshots import prepare_rootfs
store = Store(Path(sys.argv[1]))
img = store.resolve(sys.argv[2])
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
m = prepare_rootfs(store, img.manifest, img.config, mode=sys.argv[4])
names = sorted(p.name for p in m.rootfs.iterdir())
print(json.dumps({"extracted": [str(d) for d in m.extracted], "names": names}))
m.cleanup()
"""


@pytest.mark.parametrize("mode", ["overlay", "copy"])
def test_two_processes_prepare_the_same_chain_once(
    store: Store, tmp_path: Path, mode: SnapshotMode
) -> None:
    # big enough that the extractions would overlap without the lock
    big = [Entry(f"d{i}", "dir", 0o755) for i in range(20)] + [
        Entry(f"d{i}/f{j}", data=os.urandom(2048)) for i in range(20) for j in range(50)
    ]
    put_image(store, "big:1", [big, LOWER, UPPER])
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(store.root), "big:1", str(go), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
        results.append(json.loads(out))
    extracted = [d for r in results for d in r["extracted"]]
    _, config = resolved(store, "big:1")
    assert sorted(extracted) == sorted(str(c) for c in chain_ids(config.diff_ids))
    for r in results:
        assert "d19" in r["names"] and "keep.txt" in r["names"] and "del.txt" not in r["names"]
    with prepare_rootfs(store, *resolved(store, "big:1"), mode=mode) as m:
        assert m.extracted == ()
        assert len(list((m.rootfs / "d7").iterdir())) == 50
        assert (m.rootfs / "keep.txt").read_bytes() == b"kept, changed\n"


# --- gc hooks ---------------------------------------------------------------------------


def test_unreferenced_snapshots_and_leases(store: Store) -> None:
    put_image(store, "wh:1", [LOWER, UPPER])
    manifest, config = resolved(store, "wh:1")
    prepare_rootfs(store, manifest, config, mode="overlay").cleanup()
    prepare_rootfs(store, manifest, config, mode="copy").cleanup()
    assert unreferenced_snapshots(store) == []
    store.untag("wh:1")
    stale = unreferenced_snapshots(store)
    assert len(stale) == 4  # two layers, two kinds
    ids = chain_ids(config.diff_ids)
    assert unreferenced_snapshots(store, keep=[ids[0]]) == [
        p for p in stale if p.name != ids[0].hex
    ]
    # a mounted rootfs leases its lower snapshots: gc must not pull them away
    with prepare_rootfs(store, manifest, config, mode="overlay") as m:
        removed = remove_snapshots(store, stale)
        assert sorted(removed) == sorted(p for p in stale if p.parent.name == "full")
        assert (m.rootfs / "keep.txt").read_bytes() == b"kept, changed\n"
    assert sorted(remove_snapshots(store, unreferenced_snapshots(store))) == sorted(
        p for p in stale if p.parent.name != "full"
    )
    assert unreferenced_snapshots(store) == []


CRASH = r"""
import os, sys
from pathlib import Path
from anyarch.store import Store
from anyarch.build.snapshots import prepare_rootfs
store = Store(Path(sys.argv[1]))
img = store.resolve(sys.argv[2])
m = prepare_rootfs(store, img.manifest, img.config, mode="overlay")
print(m.rootfs, flush=True)
os._exit(0)  # a crash: no cleanup
"""


def test_sweep_removes_what_a_crashed_process_left(store: Store) -> None:
    put_image(store, "wh:1", [LOWER, UPPER])
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    out = subprocess.run(
        [sys.executable, "-c", CRASH, str(store.root), "wh:1"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    left = Path(out)
    assert left in mounts_under(store.root)
    # while we are alive, our own scratch dirs are not swept
    manifest, config = resolved(store, "wh:1")
    with prepare_rootfs(store, manifest, config, mode="overlay") as mine:
        assert sweep_leftovers(store) == 1
        assert mine.rootfs.is_dir() and (mine.rootfs / "keep.txt").exists()
    assert not left.exists()
    assert not mounts_under(store.root)
    assert [p for p in (snapshot_root(store) / ".tmp").iterdir()] == []


# --- placement on ext4 ---------------------------------------------------------------


def _attrs(path: Path) -> str:
    return subprocess.run(
        ["lsattr", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()[0]


def test_new_trees_start_in_a_block_group_of_their_own(tmp_path: Path, store: Store) -> None:
    """The scratch parents of unpacked layers and build trees carry ext4's top-directory hint.

    On ext4 without a journal an unpack right after a large delete is 3-5x slower
    when its tree shares block groups with the deleted inodes; the hint (``chattr
    +T``) makes the allocator start each new tree elsewhere.  Not inherited: the
    trees themselves keep their files together.
    """
    fs_type = subprocess.run(
        ["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    if fs_type != "ext2/ext3":
        pytest.skip(f"the hint exists on ext2/3/4 only; {tmp_path} is on {fs_type}")
    cache = snapshots._Cache(store)
    assert "T" in _attrs(cache.tmp)
    tree, lock = cache.new_tmp("unpack-")
    try:
        (tree / "usr").mkdir()
        assert "T" not in _attrs(tree) and "T" not in _attrs(tree / "usr")
    finally:
        lock.release(unlink=True)


def test_the_hint_is_harmless_where_unsupported() -> None:
    from anyarch._util.fs import mark_top_directory

    assert mark_top_directory("/proc") is False  # procfs refuses it: no error, no change
    assert mark_top_directory("/nonexistent/dir") is False
