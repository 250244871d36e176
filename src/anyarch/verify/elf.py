"""Just enough ELF to tell which CPU a binary is for, from its first bytes.

``exec format error`` is the one failure every multi-architecture image meets
sooner or later: a ``COPY`` of a binary built on the host, a download of the
wrong release asset, a build stage that ran for the wrong platform.  The ELF
header says who the binary is for in its first 64 bytes (class, byte order,
``e_machine``), so :mod:`anyarch.verify` can check every binary of an image
without reading more than that.  Two more things are cheap and worth having:

* the program headers (right after the ELF header in every linker's output)
  name the dynamic loader (``PT_INTERP``); a loader the image lacks fails with
  a misleading "no such file or directory";
* for 32-bit ARM, which one Docker architecture (``arm``) covers several ABIs
  of, ``e_flags`` says hard- or soft-float and the ``.ARM.attributes``
  section (found through the section headers, which sit at the end of the
  file) says the oldest CPU the code runs on (``Tag_CPU_arch``).  The reader
  keeps only the file's tail for those, and only for 32-bit ARM binaries.

Everything here is pure: it parses bytes it is given and never raises on
malformed input (a damaged or truncated binary is "not identifiable", not an
error of the verifier).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "ARCHES",
    "EF_ARM_ABI_FLOAT_HARD",
    "EF_ARM_ABI_FLOAT_SOFT",
    "ELF_MAGIC",
    "HEAD_SIZE",
    "ArchSpec",
    "ArmAttributes",
    "ElfInfo",
    "arch_level_for_variant",
    "arm_cpu_level",
    "describe_machine",
    "guess_platform",
    "parse_arm_attributes",
    "parse_arm_tail",
    "parse_elf",
]

ELF_MAGIC = b"\x7fELF"

#: How much of an ELF file's start the reader keeps: the 64-byte header, the
#: program headers and the loader path.  Linkers put all three in the first
#: page (GNU ld: interpreter at 0x238 or 0x318; Go: at 0xfe4), so one page
#: suffices; anything beyond it is reported as "loader unknown", never guessed.
HEAD_SIZE = 4096

#: How much of a 32-bit ARM binary's end the reader keeps to find
#: ``.ARM.attributes`` and the section header table (both are written last).
ARM_TAIL_SIZE = 64 * 1024

# e_machine values (ELF gABI / <elf.h>)
EM_SPARC = 2
EM_386 = 3
EM_MIPS = 8
EM_SPARC32PLUS = 18
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SPARCV9 = 43
EM_IA_64 = 50
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
PT_INTERP = 3
SHT_ARM_ATTRIBUTES = 0x70000003

#: ``e_flags`` bits of ARM EABI version 5 binaries (ARM IHI 0044, "ELF for the Arm Architecture").
EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400
EF_ARM_EABIMASK = 0xFF000000

_MACHINE_NAMES = {
    EM_SPARC: "SPARC",
    EM_386: "Intel 80386",
    EM_MIPS: "MIPS",
    EM_SPARC32PLUS: "SPARC32+",
    EM_PPC: "PowerPC",
    EM_PPC64: "PowerPC64",
    EM_S390: "IBM S/390",
    EM_ARM: "ARM",
    EM_SPARCV9: "SPARC V9",
    EM_IA_64: "IA-64",
    EM_X86_64: "x86-64",
    EM_AARCH64: "AArch64",
    EM_RISCV: "RISC-V",
    EM_LOONGARCH: "LoongArch",
}


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """What an ELF binary for one OCI architecture looks like: machine, class, byte order."""

    machine: int
    bits: int  # 32 or 64 (ELFCLASS32/64)
    big_endian: bool

    def describe(self) -> str:
        """``x86-64 64-bit LSB``: the words ``file(1)`` uses, so users recognise them."""
        return f"{describe_machine(self.machine)} {self.bits}-bit {'MSB' if self.big_endian else 'LSB'}"


#: OCI/Go architecture name → the ELF binaries that run natively on it.
ARCHES: dict[str, ArchSpec] = {
    "amd64": ArchSpec(EM_X86_64, 64, False),
    "386": ArchSpec(EM_386, 32, False),
    "arm64": ArchSpec(EM_AARCH64, 64, False),
    "arm64be": ArchSpec(EM_AARCH64, 64, True),
    "arm": ArchSpec(EM_ARM, 32, False),
    "armbe": ArchSpec(EM_ARM, 32, True),
    "ppc64le": ArchSpec(EM_PPC64, 64, False),
    "ppc64": ArchSpec(EM_PPC64, 64, True),
    "ppc": ArchSpec(EM_PPC, 32, True),
    "s390x": ArchSpec(EM_S390, 64, True),
    "s390": ArchSpec(EM_S390, 32, True),
    "riscv64": ArchSpec(EM_RISCV, 64, False),
    "riscv": ArchSpec(EM_RISCV, 32, False),
    "mips64le": ArchSpec(EM_MIPS, 64, False),
    "mips64": ArchSpec(EM_MIPS, 64, True),
    "mipsle": ArchSpec(EM_MIPS, 32, False),
    "mips": ArchSpec(EM_MIPS, 32, True),
    "loong64": ArchSpec(EM_LOONGARCH, 64, False),
    "sparc64": ArchSpec(EM_SPARCV9, 64, True),
    "amd64p32": ArchSpec(EM_X86_64, 32, False),  # x32
}

#: Binaries that a 64-bit kernel of the key architecture runs through its 32-bit
#: compatibility layer: they work on most hosts, but not where that layer is
#: compiled out or the CPU lacks it (e.g. AArch32 on recent Arm server cores).
COMPAT: dict[str, tuple[ArchSpec, ...]] = {
    "amd64": (ARCHES["386"], ARCHES["amd64p32"]),
    "arm64": (ARCHES["arm"],),
    "s390x": (ARCHES["s390"],),
    "mips64le": (ARCHES["mipsle"],),
    "mips64": (ARCHES["mips"],),
    "ppc64": (ARCHES["ppc"],),
    "sparc64": (ArchSpec(EM_SPARC, 32, True), ArchSpec(EM_SPARC32PLUS, 32, True)),
}


def describe_machine(machine: int) -> str:
    """A human name for ``e_machine`` (``EM_<n>`` when unknown)."""
    return _MACHINE_NAMES.get(machine, f"EM_{machine}")


def guess_platform(spec: ArchSpec) -> str | None:
    """The OCI architecture a binary of this shape is native to, for messages (``arm64``)."""
    for name, s in ARCHES.items():
        if s == spec:
            return name
    return None


@dataclass(frozen=True, slots=True)
class ArmAttributes:
    """The two ``aeabi`` build attributes that decide where a 32-bit ARM binary runs."""

    cpu_arch: int | None = None  # Tag_CPU_arch (6): 10 = v7, 14 = v8-A, ...
    vfp_args: int | None = None  # Tag_ABI_VFP_args (28): 0 base (soft), 1 VFP registers (hard)


@dataclass(frozen=True, slots=True)
class ElfInfo:
    """What the first page of an ELF file (and, for 32-bit ARM, its end) says."""

    bits: int
    big_endian: bool
    machine: int
    type: int
    flags: int
    #: The ``PT_INTERP`` path; ``None`` for a static binary.
    interpreter: str | None
    #: False when the program headers lie beyond the bytes read: ``interpreter`` is unknown.
    phdrs_seen: bool
    #: ``e_shoff``/``e_shentsize``/``e_shnum``: where the section headers are (for ARM attributes).
    shoff: int = 0
    shentsize: int = 0
    shnum: int = 0
    arm: ArmAttributes | None = None

    @property
    def spec(self) -> ArchSpec:
        return ArchSpec(self.machine, self.bits, self.big_endian)

    @property
    def is_program(self) -> bool:
        """An executable or shared object: what ``execve`` or the loader maps (not ``.o``, core)."""
        return self.type in (ET_EXEC, ET_DYN)

    @property
    def static(self) -> bool | None:
        """True without a loader, None when the program headers were not seen."""
        return None if not self.phdrs_seen else self.interpreter is None

    @property
    def arm_float(self) -> str | None:
        """``hard``, ``soft`` or None (unknown) for a 32-bit ARM binary.

        ``e_flags`` decides when the binary is EABI version 5 and sets one of
        the two float bits (every current toolchain); otherwise the
        ``Tag_ABI_VFP_args`` build attribute, when it was read.
        """
        if self.machine != EM_ARM:
            return None
        if (self.flags & EF_ARM_EABIMASK) >> 24 == 5:
            if self.flags & EF_ARM_ABI_FLOAT_HARD:
                return "hard"
            if self.flags & EF_ARM_ABI_FLOAT_SOFT:
                return "soft"
        if self.arm is not None and self.arm.vfp_args is not None:
            return "hard" if self.arm.vfp_args == 1 else "soft"
        return None

    def wants_arm_tail(self) -> bool:
        """Whether the ARM build attributes should be read from the file's end."""
        return self.machine == EM_ARM and self.bits == 32 and self.shnum > 0


#: The ELF header after ``e_ident`` (from ``e_type`` to ``e_shstrndx``) by class:
#: only ``e_entry``, ``e_phoff`` and ``e_shoff`` are wider in 64-bit files.
_EHDR_FORMAT = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
#: Where that header ends: the bytes a file of each class must at least have.
_EHDR_END = {32: 52, 64: 64}


def parse_elf(head: bytes) -> ElfInfo | None:
    """Parse the start of a file; None if it is not a usable ELF header.

    ``head`` is at least the first 64 bytes (fewer only when the file is
    shorter, which then is not an ELF program).  Program headers are read
    when ``head`` holds them.
    """
    if len(head) < 52 or not head.startswith(ELF_MAGIC):
        return None
    ei_class, ei_data = head[4], head[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        return None
    bits = 32 if ei_class == 1 else 64
    big = ei_data == 2
    e = ">" if big else "<"
    if len(head) < _EHDR_END[bits]:
        return None
    try:
        (
            etype,
            machine,
            _v,
            _entry,
            phoff,
            shoff,
            flags,
            _eh,
            phentsize,
            phnum,
            shentsize,
            shnum,
            _shstrndx,
        ) = struct.unpack_from(e + _EHDR_FORMAT[bits], head, 16)
    except struct.error:
        return None
    interp, seen = _interpreter(head, e, bits, phoff, phentsize, phnum)
    return ElfInfo(
        bits=bits,
        big_endian=big,
        machine=machine,
        type=etype,
        flags=flags,
        interpreter=interp,
        phdrs_seen=seen,
        shoff=shoff,
        shentsize=shentsize,
        shnum=shnum,
    )


def _interpreter(
    head: bytes, e: str, bits: int, phoff: int, phentsize: int, phnum: int
) -> tuple[str | None, bool]:
    want = 32 if bits == 32 else 56
    if phnum == 0:
        return None, True
    if phentsize < want or phoff + phentsize * phnum > len(head):
        return None, False
    for i in range(phnum):
        off = phoff + i * phentsize
        if bits == 32:
            p_type, p_offset, _va, _pa, p_filesz = struct.unpack_from(e + "IIIII", head, off)
        else:
            p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
                e + "IIQQQQ", head, off
            )
        if p_type != PT_INTERP:
            continue
        if p_filesz == 0 or p_filesz > 4096 or p_offset + p_filesz > len(head):
            return None, False
        path = head[p_offset : p_offset + p_filesz].split(b"\0", 1)[0]
        return path.decode("utf-8", "surrogateescape"), True
    return None, True


def parse_arm_tail(info: ElfInfo, tail: bytes, file_size: int) -> ArmAttributes | None:
    """Find ``.ARM.attributes`` through the section headers, using only the file's last bytes.

    ``tail`` is the last ``len(tail)`` bytes of a ``file_size``-byte file.
    Returns None when the section headers or the attributes section are not
    inside ``tail`` (then nothing is known, nothing is guessed).
    """
    start = file_size - len(tail)
    e = ">" if info.big_endian else "<"
    if info.shentsize < 40 or info.shoff < start:
        return None
    end = info.shoff + info.shentsize * info.shnum
    if end > file_size:
        return None
    for i in range(info.shnum):
        off = info.shoff - start + i * info.shentsize
        _name, sh_type, _flags, _addr, sh_offset, sh_size = struct.unpack_from(
            e + "IIIIII", tail, off
        )
        if sh_type != SHT_ARM_ATTRIBUTES:
            continue
        if sh_offset < start or sh_offset + sh_size > file_size:
            return None
        return parse_arm_attributes(
            tail[sh_offset - start : sh_offset - start + sh_size], info.big_endian
        )
    return None


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated ULEB128")


def _ntbs(data: bytes, pos: int) -> int:
    end = data.find(b"\0", pos)
    if end < 0:
        raise ValueError("unterminated string")
    return end + 1


def parse_arm_attributes(section: bytes, big_endian: bool = False) -> ArmAttributes | None:
    """Read Tag_CPU_arch and Tag_ABI_VFP_args from an ``.ARM.attributes`` section.

    Format (ARM IHI 0045, "Addenda to the ABI", section 2.2): ``'A'``, then
    vendor subsections ``<u32 length> "vendor\\0" <file-scope tag 1> <u32 size>
    <attributes>``; only the ``aeabi`` vendor's file-scope attributes matter.
    An attribute is ``<uleb tag> <value>``: NUL-terminated strings for tags 4,
    5, 65, 67 and odd tags ≥ 32, ULEB128 + string for 32, ULEB128 otherwise.
    """
    if not section or section[0] != 0x41:  # 'A'
        return None
    e = ">" if big_endian else "<"
    pos = 1
    try:
        while pos + 4 <= len(section):
            (length,) = struct.unpack_from(e + "I", section, pos)
            if length < 4 or pos + length > len(section):
                return None
            sub = section[pos : pos + length]
            pos += length
            vend_end = sub.find(b"\0", 4)
            if vend_end < 0 or sub[4:vend_end] != b"aeabi":
                continue
            p = vend_end + 1
            while p + 5 <= len(sub):
                scope = sub[p]
                (size,) = struct.unpack_from(e + "I", sub, p + 1)
                if size < 5:
                    return None
                if scope == 1:  # Tag_File
                    return _file_attributes(sub[p + 5 : p + size])
                p += size
    except (ValueError, struct.error):
        return None
    return None


def _file_attributes(data: bytes) -> ArmAttributes:
    cpu_arch: int | None = None
    vfp_args: int | None = None
    pos = 0
    try:
        while pos < len(data):
            tag, pos = _uleb(data, pos)
            if tag in (4, 5, 65, 67) or (tag > 32 and tag % 2 == 1):
                pos = _ntbs(data, pos)
            elif tag == 32:  # Tag_compatibility: flag, vendor name
                _, pos = _uleb(data, pos)
                pos = _ntbs(data, pos)
            else:
                value, pos = _uleb(data, pos)
                if tag == 6:
                    cpu_arch = value
                elif tag == 28:
                    vfp_args = value
    except ValueError:
        pass
    return ArmAttributes(cpu_arch=cpu_arch, vfp_args=vfp_args)


# Tag_CPU_arch → architecture version (5 = ARMv5, 6 = ARMv6, 7 = ARMv7, 8 = ARMv8...).
# fmt: off
_CPU_ARCH_LEVEL = {
    0: 4, 1: 4, 2: 4,           # pre-v4, v4, v4T
    3: 5, 4: 5, 5: 5,           # v5T, v5TE, v5TEJ
    6: 6, 7: 6, 8: 6, 9: 6,     # v6, v6KZ, v6T2, v6K
    10: 7,                      # v7 (A/R)
    11: 6, 12: 6, 13: 7,        # v6-M, v6S-M, v7E-M
    14: 8, 15: 8, 16: 8, 17: 8, 18: 8, 19: 8, 20: 8, 21: 8,  # v8-A, v8-R, v8-M, v8.x-A
    22: 9,                      # v9-A
}

_CPU_ARCH_NAMES = {
    0: "pre-v4", 1: "v4", 2: "v4T", 3: "v5T", 4: "v5TE", 5: "v5TEJ", 6: "v6", 7: "v6KZ",
    8: "v6T2", 9: "v6K", 10: "v7", 11: "v6-M", 12: "v6S-M", 13: "v7E-M", 14: "v8-A",
    15: "v8-R", 16: "v8-M.baseline", 17: "v8-M.mainline", 18: "v8.1-A", 19: "v8.2-A",
    20: "v8.3-A", 21: "v8.1-M.mainline", 22: "v9-A",
}
# fmt: on


def arm_cpu_level(cpu_arch: int) -> tuple[int, str]:
    """(architecture version, name) for a Tag_CPU_arch value, e.g. ``(7, "v7")``."""
    return _CPU_ARCH_LEVEL.get(cpu_arch, 99), "ARM" + _CPU_ARCH_NAMES.get(cpu_arch, f"?{cpu_arch}")


def arch_level_for_variant(variant: str) -> int | None:
    """The newest ARM architecture version an ``arm/<variant>`` image may require (v7 → 7)."""
    if len(variant) >= 2 and variant[0] == "v" and variant[1:].isdigit():
        return int(variant[1:])
    return None
