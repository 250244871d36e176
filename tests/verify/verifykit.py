"""Helpers for the verify tests: synthetic ELF files and hand-assembled images in a store.

The busybox fixture gives real binaries for amd64, arm64 and arm/v7; every
other shape (big-endian s390x, a soft-float ARM binary, a dynamically linked
program whose loader is missing, a Mach-O file) is written here byte by byte,
following the ELF gABI layouts the verifier parses, so each rule can be made to
fire — and not fire — on purpose.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from anyarch.archive.layer import Entry, write_layer
from anyarch.oci import Descriptor, Digest, mediatype
from anyarch.oci.platform import Platform, parse
from anyarch.store import Store

# machine, bits, big endian
ELF_SHAPES: dict[str, tuple[int, int, bool]] = {
    "amd64": (62, 64, False),
    "386": (3, 32, False),
    "arm64": (183, 64, False),
    "arm": (40, 32, False),
    "ppc64le": (21, 64, False),
    "s390x": (22, 64, True),
    "riscv64": (243, 64, False),
    "mips64le": (8, 64, False),
}

EF_ARM_HARD = 0x05000400
EF_ARM_SOFT = 0x05000200


def require_tool(name: str) -> str:
    """As tests/conftest.py's: a missing tool fails in CI and skips visibly elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} is not installed (run scripts/bootstrap.sh)"
    if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def elf_bytes(
    arch: str | tuple[int, int, bool],
    *,
    interp: str | None = None,
    flags: int = 0,
    etype: int = 2,
    arm_attrs: tuple[int, int] | None = None,
    pad_to: int = 0,
    gap: int = 0,
) -> bytes:
    """A minimal ELF file: header, program headers (PT_LOAD, PT_INTERP), loader path.

    ``arm_attrs`` = (Tag_CPU_arch, Tag_ABI_VFP_args) appends an
    ``.ARM.attributes`` section and a section header table at the end, where
    linkers put them; ``pad_to`` grows the body (zeros) before them and ``gap``
    puts zeros between the attributes and the section headers.
    """
    machine, bits, big = ELF_SHAPES[arch] if isinstance(arch, str) else arch
    e = ">" if big else "<"
    ehsize, phentsize = (52, 32) if bits == 32 else (64, 56)
    phnum = 2 if interp else 1
    phoff = ehsize
    interp_off = phoff + phnum * phentsize
    interp_b = (interp.encode() + b"\0") if interp else b""
    body_end = max(interp_off + len(interp_b), pad_to)
    attrs = _arm_attributes(*arm_attrs, e) if arm_attrs else b""
    sections = b""
    shoff = shnum = shentsize = 0
    if attrs:
        attrs_off = body_end
        attrs += bytes(gap)
        shoff = attrs_off + len(attrs)
        shentsize, shnum = 40, 2
        null = bytes(40)
        attr_sh = struct.pack(
            e + "IIIIIIIIII", 0, 0x70000003, 0, 0, attrs_off, len(attrs) - gap, 0, 0, 1, 0
        )
        sections = null + attr_sh
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 2 if big else 1, 1, 0]) + bytes(8)
    if bits == 32:
        hdr = ident + struct.pack(
            e + "HHIIIIIHHHHHH", etype, machine, 1, 0x10000, phoff, shoff, flags, ehsize,
            phentsize, phnum, shentsize, shnum, 0,
        )  # fmt: skip
    else:
        hdr = ident + struct.pack(
            e + "HHIQQQIHHHHHH", etype, machine, 1, 0x400000, phoff, shoff, flags, ehsize,
            phentsize, phnum, shentsize, shnum, 0,
        )  # fmt: skip
    phdrs = b""
    if bits == 32:
        phdrs += struct.pack(e + "IIIIIIII", 1, 0, 0x10000, 0x10000, body_end, body_end, 5, 0x1000)
        if interp:
            phdrs += struct.pack(
                e + "IIIIIIII", 3, interp_off, 0, 0, len(interp_b), len(interp_b), 4, 1
            )
    else:
        phdrs += struct.pack(
            e + "IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, body_end, body_end, 0x1000
        )
        if interp:
            phdrs += struct.pack(
                e + "IIQQQQQQ", 3, 4, interp_off, 0, 0, len(interp_b), len(interp_b), 1
            )
    out = hdr + phdrs + interp_b
    out += bytes(body_end - len(out))
    return out + attrs + sections


def _arm_attributes(cpu_arch: int, vfp_args: int, e: str) -> bytes:
    attrs = bytes([5]) + b"7-A\0" + bytes([6, cpu_arch, 28, vfp_args])
    file_sub = bytes([1]) + struct.pack(e + "I", 5 + len(attrs)) + attrs
    vendor = b"aeabi\0"
    sub = struct.pack(e + "I", 4 + len(vendor) + len(file_sub)) + vendor + file_sub
    return b"A" + sub


def tar_bytes(entries: Sequence[Entry]) -> bytes:
    buf = io.BytesIO()
    write_layer(entries, buf, compress=False)
    return buf.getvalue()


class ImageKit:
    """Writes layers, configs, manifests and indexes straight into a store, and tags them."""

    def __init__(self, store_path: Path) -> None:
        self.store = Store(store_path)

    # -- blobs
    def put(self, data: bytes, media_type: str, **kw: Any) -> Descriptor:
        digest = self.store.blobs.put(data)
        return Descriptor(media_type, digest, len(data), **kw)

    def put_json(self, obj: dict[str, Any], media_type: str, **kw: Any) -> Descriptor:
        return self.put(json.dumps(obj, separators=(",", ":")).encode(), media_type, **kw)

    def read_json(self, digest: Digest | str) -> Any:
        d = digest if isinstance(digest, Digest) else Digest.parse(digest)
        return json.loads(self.store.blobs.read(d))

    # -- layers
    def layer(
        self, entries: Sequence[Entry], compression: str | None = "gzip"
    ) -> tuple[Descriptor, str]:
        """(descriptor, diff ID) of a new layer; compression gzip, zstd or None."""
        raw = tar_bytes(entries)
        diff_id = str(Digest.of(raw))
        if compression == "gzip":
            buf = io.BytesIO()
            write_layer(entries, buf, compress=True)
            return self.put(buf.getvalue(), mediatype.OCI_LAYER_GZIP), diff_id
        if compression == "zstd":
            import zstandard

            return self.put(
                zstandard.ZstdCompressor().compress(raw), mediatype.OCI_LAYER_ZSTD
            ), diff_id
        return self.put(raw, mediatype.OCI_LAYER), diff_id

    def raw_layer(
        self, tar: bytes, media_type: str = mediatype.OCI_LAYER
    ) -> tuple[Descriptor, str]:
        return self.put(tar, media_type), str(Digest.of(tar))

    # -- images
    def image(
        self,
        platform: str,
        layers: Sequence[tuple[Descriptor, str]],
        *,
        entrypoint: list[str] | None = None,
        cmd: list[str] | None = None,
        env: list[str] | None = None,
        config_platform: str | None = None,
        docker: bool = False,
        descriptor_platform: str | bool | None = True,
    ) -> Descriptor:
        """A manifest (OCI, or Docker with ``docker``); returns its descriptor with a platform."""
        cp = parse(config_platform or platform)
        config: dict[str, Any] = {
            "architecture": cp.architecture,
            "os": cp.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        }
        if cp.variant:
            config["variant"] = cp.variant
        if entrypoint is not None:
            config["config"]["Entrypoint"] = entrypoint
        if cmd is not None:
            config["config"]["Cmd"] = cmd
        if env is not None:
            config["config"]["Env"] = env
        cfg = self.put_json(config, mediatype.DOCKER_CONFIG if docker else mediatype.OCI_CONFIG)
        layer_descs = [
            Descriptor(
                mediatype.DOCKER_LAYER
                if docker and d.media_type == mediatype.OCI_LAYER_GZIP
                else d.media_type,
                d.digest,
                d.size,
            )
            for d, _ in layers
        ]
        mt = mediatype.DOCKER_MANIFEST if docker else mediatype.OCI_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt,
            "config": cfg.to_json(),
            "layers": [d.to_json() for d in layer_descs],
        }
        dp: Platform | None = None
        if descriptor_platform is True:
            dp = parse(platform)
        elif isinstance(descriptor_platform, str):
            dp = parse(descriptor_platform)
        return self.put_json(manifest, mt, platform=dp)

    def index(self, entries: Sequence[Descriptor], *, docker: bool = False) -> Descriptor:
        mt = mediatype.DOCKER_MANIFEST_LIST if docker else mediatype.OCI_INDEX
        doc = {"schemaVersion": 2, "mediaType": mt, "manifests": [d.to_json() for d in entries]}
        return self.put_json(doc, mt)

    def tag(self, name: str, desc: Descriptor) -> str:
        return self.store.tag(name, Descriptor(desc.media_type, desc.digest, desc.size))

    def entries_of(self, name: str) -> list[Descriptor]:
        """The entries of a stored index, as descriptors (platform included)."""
        top = self.store.lookup(name).descriptor
        doc = self.read_json(top.digest)
        return [Descriptor.from_json(m) for m in doc["manifests"]]

    def relabel(self, desc: Descriptor, platform: str | None) -> Descriptor:
        """The same manifest under another descriptor platform (None: no platform)."""
        return Descriptor(
            desc.media_type, desc.digest, desc.size, platform=parse(platform) if platform else None
        )


def file(path: str, data: bytes, mode: int = 0o755) -> Entry:
    return Entry(path, "file", mode, data=data)


def dirs(*paths: str) -> list[Entry]:
    return [Entry(p, "dir", 0o755) for p in paths]


def symlink(path: str, target: str) -> Entry:
    return Entry(path, "symlink", 0o777, link=target)


def hardlink(path: str, target: str) -> Entry:
    return Entry(path, "hardlink", 0o755, link=target)


def gnu_tar(members: Sequence[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A tar in another dialect than anyarch writes (GNU long names, or PAX)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o755
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
