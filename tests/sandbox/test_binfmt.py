"""The emulation probe, on this host's real binfmt_misc and on fabricated ones."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from anyarch.errors import EmulationUnavailableError, InvalidPlatformError
from anyarch.sandbox import binfmt
from anyarch.sandbox.binfmt import (
    COMMON_PLATFORMS,
    TINY_ARM,
    TINY_I386,
    Target,
    can_execute,
    doctor_report,
    elf_header,
    is_static_elf,
    parse_entry,
    probe,
    require,
)
from anyarch.sandbox.spec import RunSpec, oci_runtime_config
from anyarch.sandbox.users import ExecUser

REAL = Path("/proc/sys/fs/binfmt_misc")
QEMU_AARCH64_STATIC = Path("/usr/bin/qemu-aarch64-static")

# Debian's qemu-user-static registrations, as the kernel prints them.
AARCH64 = (
    "7f454c460201010000000000000000000200b700",
    "ffffffffffffff00fffffffffffffffffeffffff",
)
RISCV64 = (
    "7f454c460201010000000000000000000200f300",
    "ffffffffffffff00fffffffffffffffffeffffff",
)
ARM = (
    "7f454c4601010100000000000000000002002800",
    "ffffffffffffff00fffffffffffffffffeffffff",
)
X86_64 = (
    "7f454c4602010100000000000000000002003e00",
    "fffffffffffefe00fffffffffffffffffeffffff",
)


def fake_binfmt(
    path: Path, entries: dict[str, tuple[str, str, str, str]], *, status: str = "enabled"
) -> Path:
    """A binfmt_misc directory: name -> (state, interpreter, flags, (magic, mask))."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "register").touch()
    (path / "status").write_text(status + "\n")
    for name, (state, interpreter, flags, magic_mask) in entries.items():
        magic, mask = magic_mask.split("/")
        (path / name).write_text(
            f"{state}\ninterpreter {interpreter}\nflags: {flags}\noffset 0\n"
            f"magic {magic}\nmask {mask}\n"
        )
    return path


def mm(pair: tuple[str, str]) -> str:
    return f"{pair[0]}/{pair[1]}"


@pytest.fixture
def amd64_host() -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("these expectations are for an x86_64 host")


# --- this host, for real -----------------------------------------------------


def test_arm64_is_emulated_with_the_fix_binary_flag(
    amd64_host: None, require_binfmt: Callable[[str], None]
) -> None:
    require_binfmt("qemu-aarch64")
    status = probe("linux/arm64")
    assert status.how == "emulated"
    assert status.handler == "qemu-aarch64"
    assert "F" in status.flags
    assert (
        status.interpreter
        == parse_entry("qemu-aarch64", (REAL / "qemu-aarch64").read_text()).interpreter
    )
    assert status.static is True
    assert status.fix == () and not status.needs_interpreter_mount


def test_s390x_is_emulated_when_registered(
    amd64_host: None, require_binfmt: Callable[[str], None]
) -> None:
    require_binfmt("qemu-s390x")
    status = probe("linux/s390x")
    assert (status.how, status.handler) == ("emulated", "qemu-s390x")


def test_host_platform_and_386_are_native_on_amd64(amd64_host: None) -> None:
    assert probe("linux/amd64").how == "native"
    assert probe("linux/x86_64").how == "native"
    status = probe("linux/386")
    assert status.how == "native" and "runs 386 natively" in status.reason


def test_the_32_bit_probe_programs_really_run(
    amd64_host: None, require_binfmt: Callable[[str], None]
) -> None:
    # TINY_I386 runs natively; TINY_ARM runs through qemu-arm here, proving
    # the bytes are a valid ARM program for the arm64 hosts that run it natively.
    assert can_execute(TINY_I386)
    require_binfmt("qemu-arm")
    assert can_execute(TINY_ARM)
    assert not can_execute(b"#!/nonexistent/interpreter\n")


def test_doctor_report_covers_the_common_platforms_in_order() -> None:
    report = doctor_report()
    assert [s.platform for s in report] == list(COMMON_PLATFORMS)
    assert len(COMMON_PLATFORMS) == 9
    for status in report:
        assert status.how in ("native", "emulated", "unavailable")
        assert (status.how == "unavailable") == bool(status.fix)


def test_is_static_elf() -> None:
    assert is_static_elf("/bin/sh") is False  # dynamically linked on Debian
    if QEMU_AARCH64_STATIC.exists():
        assert is_static_elf(QEMU_AARCH64_STATIC) is True
    assert is_static_elf("/etc/hostname") is None
    assert is_static_elf("/nonexistent") is None


# --- fabricated hosts --------------------------------------------------------


def test_unregistered_arch_is_unavailable_with_fix_commands(tmp_path: Path) -> None:
    fake = fake_binfmt(tmp_path / "b", {"qemu-aarch64": ("enabled", "/x", "F", mm(AARCH64))})
    status = probe("linux/s390x", binfmt_dir=fake, host_machine="x86_64")
    assert status.how == "unavailable"
    assert status.reason == "no binfmt_misc handler"
    sudo = "" if os.geteuid() == 0 else "sudo "
    assert status.fix == (
        f"{sudo}apt-get install qemu-user-static binfmt-support",
        f"{sudo}update-binfmts --enable qemu-s390x",
    )
    with pytest.raises(EmulationUnavailableError) as info:
        require("linux/s390x", binfmt_dir=fake, host_machine="x86_64")
    assert str(info.value) == (
        "cannot run linux/s390x binaries on this linux/amd64 host: no binfmt_misc handler"
    )
    assert info.value.hint is not None
    assert "anyarch doctor" in info.value.hint
    assert "apt-get install qemu-user-static binfmt-support" in info.value.hint
    assert info.value.exit_code == 8


def test_registered_arch_in_a_fake_dir_is_emulated(tmp_path: Path) -> None:
    fake = fake_binfmt(
        tmp_path / "b", {"qemu-aarch64": ("enabled", "/usr/bin/qemu", "OCF", mm(AARCH64))}
    )
    status = probe("linux/arm64/v8", binfmt_dir=fake, host_machine="x86_64")
    assert (status.platform, status.how, status.flags) == ("linux/arm64", "emulated", "OCF")
    assert require("linux/arm64", binfmt_dir=fake, host_machine="x86_64") == status


def test_disabled_handler_is_unavailable_with_the_enable_command(tmp_path: Path) -> None:
    fake = fake_binfmt(
        tmp_path / "b", {"qemu-riscv64": ("disabled", "/usr/bin/q", "F", mm(RISCV64))}
    )
    status = probe("linux/riscv64", binfmt_dir=fake, host_machine="x86_64")
    assert status.how == "unavailable"
    assert status.reason == "binfmt_misc handler qemu-riscv64 is disabled"
    assert status.fix[-1].endswith("update-binfmts --enable qemu-riscv64")


def test_binfmt_misc_globally_disabled(tmp_path: Path) -> None:
    fake = fake_binfmt(
        tmp_path / "b",
        {"qemu-aarch64": ("enabled", "/usr/bin/q", "F", mm(AARCH64))},
        status="disabled",
    )
    status = probe("linux/arm64", binfmt_dir=fake, host_machine="x86_64")
    assert status.how == "unavailable"
    assert status.fix[0].startswith("echo 1 |") and status.fix[0].endswith(str(fake / "status"))


def test_binfmt_misc_not_mounted_puts_the_mount_command_first(tmp_path: Path) -> None:
    empty = tmp_path / "not-mounted"
    empty.mkdir()
    status = probe("linux/arm64", binfmt_dir=empty, host_machine="x86_64")
    assert status.how == "unavailable"
    assert status.fix[0].endswith(f"mount -t binfmt_misc binfmt_misc {empty}")
    assert status.fix[-1].endswith("update-binfmts --enable qemu-aarch64")


def test_handler_without_f_flag_and_missing_interpreter_cannot_serve_containers(
    tmp_path: Path,
) -> None:
    fake = fake_binfmt(
        tmp_path / "b", {"qemu-aarch64": ("enabled", "/nonexistent/qemu", "P", mm(AARCH64))}
    )
    status = probe("linux/arm64", binfmt_dir=fake, host_machine="x86_64")
    assert status.how == "unavailable"
    assert "lacks the F flag" in status.reason
    assert status.fix


def test_handler_without_f_flag_gets_its_static_interpreter_bind_mounted(
    tmp_path: Path,
) -> None:
    if not QEMU_AARCH64_STATIC.exists():
        pytest.skip("needs /usr/bin/qemu-aarch64-static (apt-get install qemu-user-static)")
    fake = fake_binfmt(
        tmp_path / "b",
        {"qemu-aarch64": ("enabled", str(QEMU_AARCH64_STATIC), "", mm(AARCH64))},
    )
    status = probe("linux/arm64", binfmt_dir=fake, host_machine="x86_64")
    assert status.how == "emulated" and status.static is True
    assert status.needs_interpreter_mount
    spec = RunSpec(tmp_path / "rootfs", ["/bin/true"], platform="linux/arm64")
    config = oci_runtime_config(spec, user=ExecUser(0, 0, (), "/"), emulation=status)
    mount = next(m for m in config["mounts"] if m["destination"] == str(QEMU_AARCH64_STATIC))
    assert mount["source"] == os.path.realpath(QEMU_AARCH64_STATIC)
    assert "ro" in mount["options"]


def test_a_32_bit_handler_does_not_match_64_bit_binaries(tmp_path: Path) -> None:
    # qemu-arm must not be taken for arm64, nor x86_64 for 386.
    fake = fake_binfmt(
        tmp_path / "b",
        {
            "qemu-arm": ("enabled", "/q", "F", mm(ARM)),
            "qemu-x86_64": ("enabled", "/q", "F", mm(X86_64)),
        },
    )
    assert probe("linux/arm64", binfmt_dir=fake, host_machine="s390x").how == "unavailable"
    assert probe("linux/arm/v7", binfmt_dir=fake, host_machine="s390x").handler == "qemu-arm"
    assert probe("linux/386", binfmt_dir=fake, host_machine="s390x").how == "unavailable"
    assert probe("linux/amd64", binfmt_dir=fake, host_machine="s390x").handler == "qemu-x86_64"


def test_arm64_host_runs_arm_natively_and_needs_qemu_for_amd64(tmp_path: Path) -> None:
    fake = fake_binfmt(tmp_path / "b", {})
    report = {
        s.platform: s
        for s in doctor_report(
            ["linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/amd64"],
            binfmt_dir=fake,
            host_machine="aarch64",
        )
    }
    assert report["linux/arm64"].how == "native"
    assert report["linux/arm/v7"].how == "native"
    assert report["linux/arm/v6"].how == "native"
    assert report["linux/amd64"].how == "unavailable"
    assert report["linux/amd64"].fix[-1].endswith("update-binfmts --enable qemu-x86_64")


def test_armv6_host_cannot_run_armv7_natively(tmp_path: Path) -> None:
    fake = fake_binfmt(tmp_path / "b", {})
    assert probe("linux/arm/v6", binfmt_dir=fake, host_machine="armv7l").how == "native"
    assert probe("linux/arm/v7", binfmt_dir=fake, host_machine="armv6l").how == "unavailable"


def test_handlers_matching_by_extension_or_other_magic_are_ignored(tmp_path: Path) -> None:
    fake = fake_binfmt(tmp_path / "b", {})
    (fake / "jar").write_text(
        "enabled\ninterpreter /usr/bin/jexec\nflags: \noffset 0\nmagic 504b0304\n"
    )
    (fake / "exe").write_text("enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n")
    assert probe("linux/arm64", binfmt_dir=fake, host_machine="x86_64").how == "unavailable"


def test_non_linux_platform_is_unavailable_here(tmp_path: Path) -> None:
    status = probe("windows/amd64", binfmt_dir=tmp_path, host_machine="x86_64")
    assert status.how == "unavailable" and "only linux containers" in status.reason


@pytest.mark.parametrize("bad", ["arm64", "linux/", "/arm64", "linux/arm/v7/x"])
def test_malformed_platform_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidPlatformError):
        probe(bad)


def test_target_normalisation() -> None:
    assert str(Target.parse("linux/arm")) == "linux/arm/v7"
    assert str(Target.parse("Linux/AArch64")) == "linux/arm64"
    assert str(Target.parse("linux/arm64/v8")) == "linux/arm64"


def test_elf_header_matches_the_real_qemu_magic() -> None:
    entry = parse_entry(
        "qemu-s390x",
        "enabled\ninterpreter /q\nflags: F\noffset 0\n"
        "magic 7f454c4602020100000000000000000000020016\n"
        "mask fffffffffffffffcfffffffffffffffffffeffff\n",
    )
    assert entry.matches(elf_header("s390x", 2))
    assert entry.matches(elf_header("s390x", 3))  # PIE
    assert not entry.matches(elf_header("ppc64", 2))
    assert not entry.matches(elf_header("arm64", 2))
    assert binfmt.elf_header("arm64")[:4] == b"\x7fELF"
