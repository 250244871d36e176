"""Read an image from an OCI layout the way a runtime would see it, and compare two.

This is the differential tests' comparer.  It knows nothing about either
builder: it reads ``index.json`` → manifest → config and layer blobs of a
plain OCI image layout (``anyarch build --output type=oci,tar=false``,
``buildah push IMAGE oci:DIR``) and produces

* the **merged file tree** of all layers, OCI whiteouts applied (``.wh.NAME``
  hides a path of a *lower* layer, ``.wh..wh..opq`` empties a directory of
  its lower-layer contents, a non-directory replaces a whole subtree): for
  every path its type, permission bits, owner, content sha256 (regular
  files), link target (symlinks), device numbers, and which other paths are
  hard links to the same file;
* the **runtime config** fields a user sees (Env, Cmd, Entrypoint, ...),
  with zero values dropped (see :func:`runtime_config`).

:func:`compare` lists every difference as a :class:`Difference`; the test
decides which of them are allowed (see ``ALLOWED`` in the test module).
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import io
import json
import lzma
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}

#: Runtime-config fields compared (``config`` object of the image config).
CONFIG_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
)

#: Image-config top-level fields compared.
PLATFORM_FIELDS = ("os", "architecture", "variant")


# --- reading a layout -------------------------------------------------------------


def _blob(layout: Path, digest: str) -> bytes:
    algo, _, hexd = digest.partition(":")
    data = (layout / "blobs" / algo / hexd).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexd, f"blob {digest} in {layout} is corrupt"
    return data


def _platform_matches(platform: dict[str, Any] | None, wanted: str) -> bool:
    if platform is None:
        return False
    os_, _, rest = wanted.partition("/")
    arch, _, variant = rest.partition("/")
    return (
        platform.get("os") == os_
        and platform.get("architecture") == arch
        and (not variant or platform.get("variant") == variant)
    )


@dataclass
class LayoutImage:
    """One image of a layout: its manifest and config (parsed) and where its blobs are."""

    layout: Path
    manifest: dict[str, Any]
    config: dict[str, Any]

    def layer_blobs(self) -> list[bytes]:
        return [_blob(self.layout, d["digest"]) for d in self.manifest.get("layers", [])]


def read_image(layout: Path, platform: str) -> LayoutImage:
    """The image for ``platform`` in the layout (the only image when there is one)."""
    index = json.loads((layout / "index.json").read_text())
    candidates: list[dict[str, Any]] = list(index.get("manifests", []))
    chosen: dict[str, Any] | None = None
    while candidates:
        desc = candidates.pop(0)
        if desc.get("mediaType") in INDEX_TYPES:
            nested = json.loads(_blob(layout, desc["digest"]))
            candidates.extend(nested.get("manifests", []))
            continue
        if "platform" not in desc or _platform_matches(desc["platform"], platform):
            if chosen is not None and "platform" not in desc:
                raise AssertionError(f"{layout} holds more than one image and no platforms")
            chosen = desc
            if "platform" in desc:
                break
    assert chosen is not None, f"no image for {platform} in {layout}: {index}"
    manifest = json.loads(_blob(layout, chosen["digest"]))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    return LayoutImage(layout, manifest, config)


def _untar(blob: bytes) -> tarfile.TarFile:
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    elif blob[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        blob = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    elif blob[:6] == b"\xfd7zXZ\x00":
        blob = lzma.decompress(blob)
    elif blob[:3] == b"BZh":
        blob = bz2.decompress(blob)
    return tarfile.open(fileobj=io.BytesIO(blob), mode="r:")


# --- the merged tree --------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """What a runtime sees at one path (mtimes are deliberately not part of it)."""

    kind: str  # file, dir, symlink, char, block, fifo
    mode: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    sha256: str = ""  # regular files
    size: int = 0
    link: str = ""  # symlink target
    device: tuple[int, int] = (0, 0)
    hardlinks: tuple[str, ...] = ()  # other paths that are the same file
    inode: tuple[int, str] = field(default=(0, ""), compare=False)

    def describe(self) -> str:
        text = f"{self.kind} {self.mode:04o} {self.uid}:{self.gid}"
        if self.kind == "file":
            text += f" {self.size}B sha256:{self.sha256[:12]}"
        if self.kind == "symlink":
            text += f" -> {self.link}"
        if self.kind in ("char", "block"):
            text += f" {self.device[0]},{self.device[1]}"
        if self.hardlinks:
            text += f" (hard links: {', '.join(self.hardlinks)})"
        return text


_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def _norm(name: str) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _drop(tree: dict[str, Node], path: str, *, keep_self: bool = False) -> None:
    prefix = path + "/" if path else ""
    for key in [k for k in tree if k.startswith(prefix) or (k == path and not keep_self)]:
        del tree[key]


def merged_tree(image: LayoutImage) -> dict[str, Node]:
    """Path (no leading ``/``) → :class:`Node`, after applying every layer in order."""
    tree: dict[str, Node] = {}
    for index, blob in enumerate(image.layer_blobs()):
        with _untar(blob) as tf:
            members = [(m, _norm(m.name)) for m in tf.getmembers()]
            # Whiteouts hide lower layers only, wherever they sit in the tar.
            for _, name in members:
                parent, _, base = name.rpartition("/")
                if base == ".wh..wh..opq":
                    _drop(tree, parent, keep_self=True)
                elif base.startswith(".wh."):
                    _drop(tree, f"{parent}/{base[4:]}" if parent else base[4:])
            for m, name in members:
                base = name.rpartition("/")[2]
                if not name or base.startswith(".wh."):
                    continue
                old = tree.get(name)
                if old is not None and not (old.kind == "dir" and m.isdir()):
                    _drop(tree, name)
                parent = name.rpartition("/")[0]
                while parent and parent not in tree:  # an extractor makes missing parents
                    tree[parent] = Node("dir", 0o755, 0, 0, inode=(index, parent))
                    parent = parent.rpartition("/")[0]
                if m.islnk():
                    target = tree.get(_norm(m.linkname))
                    assert target is not None and target.kind == "file", (
                        f"layer {index}: hard link {name} -> {m.linkname} has no file to link to"
                    )
                    tree[name] = target
                    continue
                kind = _KINDS.get(m.type)
                assert kind is not None, f"layer {index}: {name} has tar type {m.type!r}"
                sha, size = "", 0
                if kind == "file":
                    fh = tf.extractfile(m)
                    assert fh is not None
                    data = fh.read()
                    sha, size = hashlib.sha256(data).hexdigest(), len(data)
                tree[name] = Node(
                    kind,
                    m.mode & 0o7777,
                    m.uid,
                    m.gid,
                    sha256=sha,
                    size=size,
                    link=m.linkname if kind == "symlink" else "",
                    device=(m.devmajor, m.devminor) if kind in ("char", "block") else (0, 0),
                    inode=(index, name),
                )
    groups: dict[tuple[int, str], list[str]] = {}
    for path, node in tree.items():
        if node.kind == "file":
            groups.setdefault(node.inode, []).append(path)
    out: dict[str, Node] = {}
    for path, node in tree.items():
        others = tuple(sorted(p for p in groups.get(node.inode, []) if p != path))
        out[path] = dataclasses.replace(node, hardlinks=others)
    return out


# --- the runtime config -----------------------------------------------------------------


def _zero(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def runtime_config(
    image: LayoutImage, *, ignore_labels: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The compared config fields, zero values dropped (an empty ``Volumes {}``,
    ``Entrypoint []``, ``WorkingDir ""`` or a ``0`` health-check duration means
    "not set" to every runtime; docker-format configs spell them out, OCI ones omit them).
    """
    cfg: dict[str, Any] = image.config.get("config") or {}
    out: dict[str, Any] = {}
    for key in CONFIG_FIELDS:
        value = cfg.get(key)
        if key == "Labels" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in ignore_labels}
        if key == "Healthcheck" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if v not in (0, None)}
        if not _zero(value):
            out[key] = value
    for key in PLATFORM_FIELDS:
        value = image.config.get(key)
        if not _zero(value):
            out[key] = value
    return out


# --- comparing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way the two images differ: a path (``where="tree"``) or a config field."""

    where: str  # "tree" or "config"
    key: str  # the path, or the config field name
    anyarch: Any  # Node / config value, or None when absent on that side
    buildah: Any

    def __str__(self) -> str:
        def show(v: Any) -> str:
            if v is None:
                return "(absent)"
            return v.describe() if isinstance(v, Node) else json.dumps(v, sort_keys=True)

        label = f"/{self.key}" if self.where == "tree" else f"config {self.key}"
        return f"{label}: anyarch {show(self.anyarch)} | buildah {show(self.buildah)}"


def compare_trees(ours: dict[str, Node], theirs: dict[str, Node]) -> list[Difference]:
    out = []
    for path in sorted(set(ours) | set(theirs)):
        a, b = ours.get(path), theirs.get(path)
        if a != b:
            out.append(Difference("tree", path, a, b))
    return out


def compare_configs(ours: dict[str, Any], theirs: dict[str, Any]) -> list[Difference]:
    out = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if a != b:
            out.append(Difference("config", key, a, b))
    return out
