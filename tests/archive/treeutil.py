"""Build file trees from specs, describe trees for comparison, craft raw tars.

A tree "description" is what a user of the image would notice: for every path
its type, permission bits, owner, size, whole-second mtime, content hash,
link target, device number and layer-worthy xattrs, plus which paths are the
same file (hardlink groups).  Two trees with equal descriptions are the same
image filesystem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# a valid v2 file capability: cap_net_raw (bit 13) permitted + effective
CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")


def xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    """File capabilities and ``user.*`` xattrs: what a layer is meant to carry."""
    names = sorted(os.listxattr(path, follow_symlinks=False))
    keep = [n for n in names if n == "security.capability" or n.startswith("user.")]
    return tuple((n, os.getxattr(path, n, follow_symlinks=False)) for n in keep)


def describe(root: Path) -> dict[str, Any]:
    """Everything observable about the tree under ``root`` (the root itself excluded)."""
    out: dict[str, Any] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            ap = os.path.join(dirpath, name)
            rel = os.path.relpath(ap, root)
            st = os.lstat(ap)
            kind = stat.S_IFMT(st.st_mode)
            entry: dict[str, Any] = {
                "type": kind,
                "perm": oct(stat.S_IMODE(st.st_mode)),
                "owner": (st.st_uid, st.st_gid),
                "mtime": st.st_mtime_ns // 1_000_000_000,
                "xattrs": xattrs(ap),
            }
            if stat.S_ISREG(st.st_mode):
                entry["size"] = st.st_size
                entry["sha"] = hashlib.sha256(Path(ap).read_bytes()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                entry["link"] = os.readlink(ap)
                del entry["perm"]  # symlink permissions mean nothing on Linux
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            out[rel] = entry
    # hardlink groups, by membership (inode numbers differ between trees)
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    out["<hardlinks>"] = groups
    return out


def listing(root: Path) -> list[str]:
    """Every path under ``root`` (for "nothing was written here" checks)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@dataclasses.dataclass
class Node:
    """One path of a tree spec."""

    kind: str  # file | dir | symlink | hardlink | fifo | chr
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    target: str = ""  # symlink target, or hardlink source path
    cap: bool = False
    user_xattr: bytes | None = None
    rdev: tuple[int, int] = (1, 3)


def build(root: Path, spec: dict[str, Node]) -> None:
    """Create ``spec`` under ``root`` with exact metadata; parents must be in the spec.

    A hardlink's ``target`` names a ``file`` node of the same spec.
    """
    root.mkdir(parents=True, exist_ok=True)
    order = sorted(spec, key=lambda p: p.split("/"))
    # hardlinks last: their source may sort after them
    for path in [p for p in order if spec[p].kind != "hardlink"] + [
        p for p in order if spec[p].kind == "hardlink"
    ]:
        node = spec[path]
        ap = root / path
        if node.kind == "dir":
            ap.mkdir()
        elif node.kind == "file":
            ap.write_bytes(node.data)
        elif node.kind == "symlink":
            os.symlink(node.target, ap)
        elif node.kind == "hardlink":
            os.link(root / node.target, ap)
            continue  # metadata belongs to the inode, set by its first name
        elif node.kind == "fifo":
            os.mkfifo(ap)
        elif node.kind == "chr":
            os.mknod(ap, stat.S_IFCHR | 0o600, os.makedev(*node.rdev))
        else:
            raise ValueError(node.kind)
        os.chown(ap, node.uid, node.gid, follow_symlinks=False)
        if node.user_xattr is not None and node.kind in ("file", "dir"):
            os.setxattr(ap, "user.anyarch-test", node.user_xattr)
        if node.kind != "symlink":
            os.chmod(ap, node.mode)
        if node.cap and node.kind == "file":
            os.setxattr(ap, "security.capability", CAP_NET_RAW)
    # mtimes last, deepest first, so creating children does not move them
    for path in sorted(spec, key=lambda p: p.split("/"), reverse=True):
        node = spec[path]
        if node.kind != "hardlink":
            os.utime(root / path, (node.mtime, node.mtime), follow_symlinks=False)


@dataclasses.dataclass
class Member:
    """A raw tar member for hand-made (often hostile) layers."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    pax: dict[str, str] | None = None
    devmajor: int = 0
    devminor: int = 0


def make_tar(members: Iterable[Member], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar holding exactly ``members`` (tarfile writes whatever name it is given)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for m in members:
            ti = tarfile.TarInfo(m.name)
            ti.type = m.kind
            ti.mode, ti.uid, ti.gid, ti.mtime = m.mode, m.uid, m.gid, m.mtime
            ti.linkname = m.linkname
            ti.devmajor, ti.devminor = m.devmajor, m.devminor
            if m.pax:
                ti.pax_headers = dict(m.pax)
            if m.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                ti.size = len(m.data)
                tf.addfile(ti, io.BytesIO(m.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
