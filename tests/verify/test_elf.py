"""ELF header parsing, checked against real Debian binaries and against readelf's view of them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from verifykit import EF_ARM_SOFT, ELF_SHAPES, elf_bytes, require_tool

from anyarch.verify import elf

DEB_ARCH = {"amd64": "amd64", "arm64": "arm64", "armhf": "arm", "i386": "386"}


@pytest.fixture(scope="module")
def busybox_bins(busybox_debs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = {}
    for deb_arch, arch in DEB_ARCH.items():
        (deb,) = sorted(busybox_debs.glob(f"busybox-static_*_{deb_arch}.deb"))[-1:]
        dest = tmp_path_factory.mktemp(deb_arch)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
        out[arch] = (dest / "bin" / "busybox").read_bytes()
    return out


@pytest.mark.parametrize("arch", sorted(DEB_ARCH.values()))
def test_real_binaries(busybox_bins, arch):
    data = busybox_bins[arch]
    info = elf.parse_elf(data[: elf.HEAD_SIZE])
    assert info is not None
    assert info.spec == elf.ARCHES[arch]
    assert info.is_program and info.static is True  # busybox-static
    assert elf.guess_platform(info.spec) == arch


def test_real_armhf_attributes_match_readelf(busybox_bins, tmp_path):
    readelf = require_tool("readelf")
    data = busybox_bins["arm"]
    info = elf.parse_elf(data[: elf.HEAD_SIZE])
    assert info is not None and info.wants_arm_tail()
    attrs = elf.parse_arm_tail(info, data[-elf.ARM_TAIL_SIZE :], len(data))
    assert attrs is not None
    p = tmp_path / "busybox"
    p.write_bytes(data)
    text = subprocess.run(
        [readelf, "-A", str(p)], capture_output=True, text=True, check=True
    ).stdout
    assert "Tag_CPU_arch: v7" in text and attrs.cpu_arch == 10
    assert "Tag_ABI_VFP_args: VFP registers" in text and attrs.vfp_args == 1
    assert info.arm_float == "hard"  # e_flags 0x5000400
    assert elf.arm_cpu_level(attrs.cpu_arch) == (7, "ARMv7")


@pytest.mark.parametrize("arch", sorted(ELF_SHAPES))
def test_synthetic_headers(arch):
    data = elf_bytes(arch, interp="/lib/ld.so")
    info = elf.parse_elf(data)
    assert info is not None
    assert (info.machine, info.bits, info.big_endian) == ELF_SHAPES[arch]
    assert info.interpreter == "/lib/ld.so" and info.static is False


def test_not_elf_or_truncated():
    assert elf.parse_elf(b"#!/bin/sh\n") is None
    assert elf.parse_elf(elf_bytes("amd64")[:40]) is None
    assert elf.parse_elf(b"\x7fELF\x03\x01" + bytes(60)) is None  # bad class
    # program headers beyond what was read: loader unknown, not "static"
    info = elf.parse_elf(elf_bytes("amd64", interp="/lib64/ld-linux-x86-64.so.2")[:64])
    assert info is not None and info.phdrs_seen is False and info.static is None


def test_arm_float_from_flags_and_attributes():
    soft = elf.parse_elf(elf_bytes("arm", flags=EF_ARM_SOFT))
    assert soft is not None and soft.arm_float == "soft"
    data = elf_bytes("arm", flags=0x05000000, arm_attrs=(10, 1))
    info = elf.parse_elf(data)
    assert info is not None and info.arm_float is None
    attrs = elf.parse_arm_tail(info, data, len(data))
    assert attrs == elf.ArmAttributes(cpu_arch=10, vfp_args=1)


def test_arm_attributes_parser_skips_strings_and_other_vendors():
    body = (
        bytes([5])
        + b"8-A\0"
        + bytes([67])
        + b"2.09\0"
        + bytes([32, 1])
        + b"gnu\0"
        + bytes([6, 14, 28, 0])
    )
    aeabi = b"aeabi\0" + bytes([1]) + (5 + len(body)).to_bytes(4, "little") + body
    other = b"gnu\0" + bytes([1, 6, 0, 0, 0, 6])
    section = (
        b"A"
        + (4 + len(other)).to_bytes(4, "little") + other
        + (4 + len(aeabi)).to_bytes(4, "little") + aeabi
    )  # fmt: skip
    assert elf.parse_arm_attributes(section) == elf.ArmAttributes(cpu_arch=14, vfp_args=0)
    assert elf.parse_arm_attributes(b"B" + section[1:]) is None
    assert elf.parse_arm_attributes(section[:12]) is None


def test_variant_levels():
    assert [elf.arch_level_for_variant(v) for v in ("v5", "v6", "v7", "v8", "", "x")] == [
        5,
        6,
        7,
        8,
        None,
        None,
    ]
    assert elf.arm_cpu_level(14) == (8, "ARMv8-A")
    assert elf.describe_machine(62) == "x86-64" and elf.describe_machine(9999) == "EM_9999"
