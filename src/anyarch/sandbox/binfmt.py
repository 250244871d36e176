"""Can this host run a platform's binaries, natively or through binfmt_misc?

A RUN step for a foreign platform works only if the kernel hands that
platform's ELF files to an emulator (QEMU user mode) registered in
binfmt_misc.  Finding out *before* the step runs turns a cryptic ``exec
format error`` deep in a build into one clear message with the commands that
fix it, and ``anyarch doctor`` shows the same facts for every common platform.

The probe reads ``/proc/sys/fs/binfmt_misc/*`` (injectable, for tests) and
matches each handler's magic/mask against a synthetic ELF header of the
platform, exactly as the kernel would match a real binary.  It also reports
what matters inside a container:

* the ``F`` (fix-binary) flag: the kernel opened the interpreter at
  registration, so it works even though the container's rootfs has no QEMU;
* whether the interpreter is statically linked: without ``F`` anyarch must
  bind-mount it into the container, which only works for a static binary.

This module depends on nothing in anyarch but the error tree: platforms are
plain ``os/arch[/variant]`` strings.
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anyarch.errors import EmulationUnavailableError, InvalidPlatformError

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

#: What ``anyarch doctor`` checks when no platform list is given.
COMMON_PLATFORMS: tuple[str, ...] = (
    "linux/amd64",
    "linux/386",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
)

How = Literal["native", "emulated", "unavailable"]

EM_386, EM_MIPS, EM_PPC64, EM_S390, EM_ARM, EM_X86_64 = 3, 8, 21, 22, 40, 62
EM_AARCH64, EM_RISCV, EM_LOONGARCH = 183, 243, 258


@dataclass(frozen=True, slots=True)
class _Arch:
    """ELF identity of an architecture and the QEMU binary that emulates it."""

    elf_class: int  # 1 = 32-bit, 2 = 64-bit
    little_endian: bool
    machine: int
    qemu: str


_ARCHES: dict[str, _Arch] = {
    "amd64": _Arch(2, True, EM_X86_64, "x86_64"),
    "386": _Arch(1, True, EM_386, "i386"),
    "arm64": _Arch(2, True, EM_AARCH64, "aarch64"),
    "arm": _Arch(1, True, EM_ARM, "arm"),
    "ppc64le": _Arch(2, True, EM_PPC64, "ppc64le"),
    "ppc64": _Arch(2, False, EM_PPC64, "ppc64"),
    "s390x": _Arch(2, False, EM_S390, "s390x"),
    "riscv64": _Arch(2, True, EM_RISCV, "riscv64"),
    "mips64le": _Arch(2, True, EM_MIPS, "mips64el"),
    "mips64": _Arch(2, False, EM_MIPS, "mips64"),
    "mipsle": _Arch(1, True, EM_MIPS, "mipsel"),
    "mips": _Arch(1, False, EM_MIPS, "mips"),
    "loong64": _Arch(2, True, EM_LOONGARCH, "loongarch64"),
}

#: ``uname -m`` → (GOARCH, variant), for the host.
_MACHINES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "i386": ("386", ""),
    "i486": ("386", ""),
    "i586": ("386", ""),
    "i686": ("386", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv8l": ("arm", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "ppc64le": ("ppc64le", ""),
    "ppc64": ("ppc64", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "loongarch64": ("loong64", ""),
}


@dataclass(frozen=True, slots=True)
class Target:
    """A platform as ``os/arch[/variant]``, normalised the way containerd does.

    Only what emulation depends on: ``arm`` without a variant means ``v7``,
    ``arm64/v8`` means plain ``arm64``.
    """

    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse ``linux/arm64``, ``linux/arm/v7``...; raise InvalidPlatformError otherwise."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidPlatformError(
                f"invalid platform {text!r}: expected os/arch[/variant]",
                hint="write e.g. linux/arm64 or linux/arm/v7",
            )
        os_, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else ""
        arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386"}.get(
            arch, arch
        )
        if arch == "arm" and not variant:
            variant = "v7"
        if arch == "arm64" and variant == "v8":
            variant = ""
        return cls(os_, arch, variant)

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}" + (f"/{self.variant}" if self.variant else "")


def host_target(machine: str | None = None) -> Target:
    """The host's own platform, from ``uname -m`` (overridable for tests)."""
    m = machine or os.uname().machine
    if m in ("mips64", "mips"):
        arch = m + ("le" if sys.byteorder == "little" else "")
        return Target("linux", arch)
    arch, variant = _MACHINES.get(m, (m, ""))
    return Target("linux", arch, variant)


@dataclass(frozen=True, slots=True)
class BinfmtEntry:
    """One registered binfmt_misc handler, as its /proc file describes it."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes
    extension: str = ""

    def matches(self, header: bytes) -> bool:
        """Whether the kernel would hand a file starting with ``header`` to this handler."""
        if self.extension or not self.magic:
            return False
        window = header[self.offset : self.offset + len(self.magic)]
        if len(window) < len(self.magic):
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all((h ^ m) & k == 0 for h, m, k in zip(window, self.magic, mask, strict=False))


def parse_entry(name: str, text: str) -> BinfmtEntry:
    """Parse the text of ``/proc/sys/fs/binfmt_misc/NAME``."""
    enabled = False
    interpreter = flags = extension = ""
    offset = 0
    magic = mask = b""
    for line in text.splitlines():
        line = line.strip()
        if line in ("enabled", "disabled"):
            enabled = line == "enabled"
        elif line.startswith("interpreter "):
            interpreter = line.split(" ", 1)[1]
        elif line.startswith("flags:"):
            flags = line.split(":", 1)[1].strip()
        elif line.startswith("offset "):
            offset = int(line.split(" ", 1)[1])
        elif line.startswith("magic "):
            magic = bytes.fromhex(line.split(" ", 1)[1])
        elif line.startswith("mask "):
            mask = bytes.fromhex(line.split(" ", 1)[1])
        elif line.startswith("extension "):
            extension = line.split(" ", 1)[1]
    return BinfmtEntry(name, enabled, interpreter, flags, offset, magic, mask, extension)


def read_entries(binfmt_dir: Path = BINFMT_DIR) -> list[BinfmtEntry]:
    """Every handler registered in ``binfmt_dir`` (empty if it is not mounted)."""
    entries = []
    try:
        names = sorted(os.listdir(binfmt_dir))
    except OSError:
        return []
    for name in names:
        if name in ("register", "status"):
            continue
        try:
            text = (binfmt_dir / name).read_text(errors="replace")
        except OSError:
            continue
        with contextlib.suppress(ValueError):
            entries.append(parse_entry(name, text))
    return entries


def elf_header(arch: str, e_type: int = 2) -> bytes:
    """A 64-byte ELF header for ``arch`` (GOARCH), enough to match binfmt magics."""
    a = _ARCHES[arch]
    end = "<" if a.little_endian else ">"
    ident = bytes([0x7F, 0x45, 0x4C, 0x46, a.elf_class, 1 if a.little_endian else 2, 1, 0])
    ident += b"\0" * 8
    rest = struct.pack(end + "HHI", e_type, a.machine, 1)
    return (ident + rest).ljust(64, b"\0")


def is_static_elf(path: str | Path) -> bool | None:
    """True if ``path`` is an ELF file without PT_INTERP; None if unreadable or not ELF.

    A static interpreter is one the kernel can start inside any rootfs; a
    dynamic one needs its loader and libraries, which a container lacks.
    """
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                return None
            is64 = ident[4] == 2
            end = "<" if ident[5] == 1 else ">"
            if is64:
                (phoff,) = struct.unpack_from(end + "Q", ident, 32)
                phentsize, phnum = struct.unpack_from(end + "HH", ident, 54)
            else:
                (phoff,) = struct.unpack_from(end + "I", ident, 28)
                phentsize, phnum = struct.unpack_from(end + "HH", ident, 42)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return None
    for i in range(phnum):
        entry = table[i * phentsize : i * phentsize + 4]
        if len(entry) < 4:
            return None
        if struct.unpack(end + "I", entry)[0] == 3:  # PT_INTERP
            return False
    return True


# --- tiny programs that only exit(0): try-running them answers "can this CPU
# --- run 32-bit code natively?" (an amd64 kernel may lack IA32 emulation, an
# --- arm64 CPU may lack AArch32), which no file in /proc states reliably.


def _elf32(machine: int, flags: int, code: bytes, base: int) -> bytes:
    ehsize, phsize = 52, 32
    entry = base + ehsize + phsize
    ident = bytes([0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0]) + b"\0" * 8
    header = ident + struct.pack(
        "<HHIIIIIHHHHHH", 2, machine, 1, entry, ehsize, 0, flags, ehsize, phsize, 1, 0, 0, 0
    )
    size = ehsize + phsize + len(code)
    # PT_LOAD, offset 0, vaddr/paddr base, filesz/memsz size, flags R|X, align 0x1000
    phdr = struct.pack("<IIIIIIII", 1, 0, base, base, size, size, 5, 0x1000)
    return header + phdr + code


#: i386: mov eax,1 ; xor ebx,ebx ; int 0x80
TINY_I386 = _elf32(EM_386, 0, bytes.fromhex("b80100000031dbcd80"), 0x08048000)
#: ARM (EABI5, ARM mode): mov r0,#0 ; mov r7,#1 ; svc #0
TINY_ARM = _elf32(EM_ARM, 0x05000200, bytes.fromhex("0000a0e30170a0e3000000ef"), 0x00010000)


def can_execute(program: bytes) -> bool:
    """Whether the host kernel runs ``program`` (written to a temp file) to exit 0."""
    for directory in (None, os.environ.get("XDG_RUNTIME_DIR"), str(Path.home())):
        try:
            fd, path = tempfile.mkstemp(prefix=".anyarch-probe-", dir=directory)
        except (OSError, TypeError):
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(program)
            os.chmod(path, 0o700)
            try:
                return subprocess.run([path], timeout=10, check=False).returncode == 0
            except PermissionError:
                continue  # noexec filesystem: try the next directory
            except OSError:
                return False
            except subprocess.TimeoutExpired:
                return False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return False


def _native_compat(host: Target, target: Target) -> bytes | None:
    """The probe program if ``target`` may run natively as the host's 32-bit mode."""
    if host.arch == "amd64" and target.arch == "386":
        return TINY_I386
    if host.arch == "arm64" and target.arch == "arm" and target.variant in ("v5", "v6", "v7"):
        return TINY_ARM
    return None


def _arm_level(variant: str) -> int:
    try:
        return int(variant.lstrip("v"))
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class EmulationStatus:
    """How (and whether) this host runs a platform's binaries, and how to fix it.

    ``fix`` holds the exact shell commands that make an unavailable platform
    work (empty when nothing needs doing).  ``handler`` is the binfmt_misc
    entry name (``qemu-aarch64``).
    """

    platform: str
    how: How
    interpreter: str | None = None
    flags: str = ""
    static: bool | None = None
    fix: tuple[str, ...] = ()
    handler: str | None = None
    reason: str = ""

    @property
    def runnable(self) -> bool:
        """Whether a container of this platform can run here."""
        return self.how != "unavailable"

    @property
    def needs_interpreter_mount(self) -> bool:
        """Without ``F``, the kernel opens the interpreter inside the container.

        The sandbox then bind-mounts the (static) interpreter at the same path.
        """
        return self.how == "emulated" and "F" not in self.flags


def _sudo() -> str:
    return "" if os.geteuid() == 0 else "sudo "


def _install_fix(qemu: str) -> tuple[str, ...]:
    s = _sudo()
    return (
        f"{s}apt-get install qemu-user-static binfmt-support",
        f"{s}update-binfmts --enable qemu-{qemu}",
    )


def probe(
    platform: str,
    *,
    binfmt_dir: Path = BINFMT_DIR,
    host_machine: str | None = None,
    try_native: bool | None = None,
) -> EmulationStatus:
    """How this host runs ``platform`` binaries (native, emulated or not at all).

    ``binfmt_dir`` and ``host_machine`` are injectable so tests can describe
    another host.  ``try_native`` decides whether a 32-bit compat mode (386 on
    amd64, arm on arm64) is confirmed by running a tiny program; by default it
    is, unless ``host_machine`` describes a host other than this one (where a
    local try-run would prove nothing), and then compat mode is assumed.
    """
    if try_native is None:
        try_native = host_machine is None
    target = Target.parse(platform)
    host = host_target(host_machine)
    shown = str(target)
    s = _sudo()
    if target.os != "linux":
        return EmulationStatus(
            shown,
            "unavailable",
            reason=f"only linux containers run here, not {target.os}",
            fix=(f"build {shown} on a {target.os} node of a build farm (anyarch builder create)",),
        )
    if target.arch == host.arch and (
        target.arch != "arm" or _arm_level(target.variant) <= _arm_level(host.variant)
    ):
        return EmulationStatus(shown, "native", reason="host architecture")

    arch = _ARCHES.get(target.arch)
    if arch is None:
        return EmulationStatus(
            shown,
            "unavailable",
            reason=f"anyarch does not know the ELF machine of architecture {target.arch}",
            fix=(f"build {shown} on a native node of a build farm (anyarch builder create)",),
        )

    mounted = (binfmt_dir / "register").exists() or (binfmt_dir / "status").exists()
    globally_on = True
    with contextlib.suppress(OSError):
        globally_on = (binfmt_dir / "status").read_text().strip() != "disabled"
    entries = read_entries(binfmt_dir) if mounted else []
    headers = [elf_header(target.arch, 2), elf_header(target.arch, 3)]
    matching = [e for e in entries if any(e.matches(h) for h in headers)]
    enabled = [e for e in matching if e.enabled]

    if enabled and globally_on:
        entry = enabled[0]
        static = is_static_elf(entry.interpreter)
        if "F" not in entry.flags and static is not True:
            why = "is missing" if static is None else "is dynamically linked"
            return EmulationStatus(
                shown,
                "unavailable",
                interpreter=entry.interpreter,
                flags=entry.flags,
                static=static,
                handler=entry.name,
                reason=(
                    f"binfmt_misc handler {entry.name} lacks the F flag and its interpreter "
                    f"{entry.interpreter} {why}, so it cannot run inside a container"
                ),
                fix=(
                    f"{s}apt-get install qemu-user-static",
                    f"{s}update-binfmts --disable {entry.name}",
                    f"{s}update-binfmts --enable qemu-{arch.qemu}",
                ),
            )
        return EmulationStatus(
            shown,
            "emulated",
            interpreter=entry.interpreter,
            flags=entry.flags,
            static=static,
            handler=entry.name,
            reason=f"binfmt_misc handler {entry.name}",
        )

    compat = _native_compat(host, target)
    if compat is not None and (not try_native or can_execute(compat)):
        return EmulationStatus(shown, "native", reason=f"{host} runs {target.arch} natively")

    if not mounted:
        return EmulationStatus(
            shown,
            "unavailable",
            reason=f"binfmt_misc is not mounted at {binfmt_dir}",
            fix=(f"{s}mount -t binfmt_misc binfmt_misc {binfmt_dir}", *_install_fix(arch.qemu)),
        )
    if matching and not globally_on:
        return EmulationStatus(
            shown,
            "unavailable",
            interpreter=matching[0].interpreter,
            flags=matching[0].flags,
            handler=matching[0].name,
            reason="binfmt_misc is disabled",
            fix=(f"echo 1 | {s}tee {binfmt_dir / 'status'}",),
        )
    if matching:
        entry = matching[0]
        return EmulationStatus(
            shown,
            "unavailable",
            interpreter=entry.interpreter,
            flags=entry.flags,
            static=is_static_elf(entry.interpreter),
            handler=entry.name,
            reason=f"binfmt_misc handler {entry.name} is disabled",
            fix=(f"{s}update-binfmts --enable {entry.name}",),
        )
    return EmulationStatus(
        shown,
        "unavailable",
        reason="no binfmt_misc handler",
        fix=_install_fix(arch.qemu),
    )


def require(
    platform: str,
    *,
    binfmt_dir: Path = BINFMT_DIR,
    host_machine: str | None = None,
) -> EmulationStatus:
    """The platform's status if it can run here; else EmulationUnavailableError."""
    status = probe(platform, binfmt_dir=binfmt_dir, host_machine=host_machine)
    if status.runnable:
        return status
    host = host_target(host_machine)
    fix = "; ".join(status.fix)
    raise EmulationUnavailableError(
        f"cannot run {status.platform} binaries on this {host} host: {status.reason}",
        hint=f"run `anyarch doctor` for details; to fix: {fix}" if fix else "run `anyarch doctor`",
    )


def doctor_report(
    platforms: Iterable[str] | None = None,
    *,
    binfmt_dir: Path = BINFMT_DIR,
    host_machine: str | None = None,
) -> list[EmulationStatus]:
    """One status per platform (default: COMMON_PLATFORMS), for ``anyarch doctor``."""
    return [
        probe(p, binfmt_dir=binfmt_dir, host_machine=host_machine)
        for p in (COMMON_PLATFORMS if platforms is None else platforms)
    ]
