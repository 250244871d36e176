"""Each binary rule on images written byte by byte: it fires on the bad case and stays quiet on the good one."""

from __future__ import annotations

from typing import Any

import pytest
from verifykit import (
    EF_ARM_HARD,
    EF_ARM_SOFT,
    ELF_SHAPES,
    dirs,
    elf_bytes,
    file,
    symlink,
)

from anyarch.errors import InvalidInputError
from anyarch.verify import Report, Severity, verify_reference


def _verify(kit: Any, name: str, **kw: Any) -> Report:
    return verify_reference(kit.store, name, **kw)


def _rules(report: Report) -> list[str]:
    return [f.rule for f in report.findings]


def _one(kit: Any, name: str, platform: str, entries: list[Any], **image_kw: Any) -> Report:
    layer = kit.layer(entries)
    kit.tag(name, kit.image(platform, [layer], **image_kw))
    return _verify(kit, name)


# every architecture the table knows: its own binary passes, a foreign one fails
@pytest.mark.parametrize("arch", sorted(ELF_SHAPES))
def test_native_binary_passes_and_foreign_fails(kit, arch):
    platform = "linux/arm/v7" if arch == "arm" else f"linux/{arch}"
    flags = EF_ARM_HARD if arch == "arm" else 0
    good = _one(
        kit,
        "good",
        platform,
        [*dirs("usr", "usr/bin"), file("usr/bin/app", elf_bytes(arch, flags=flags))],
    )
    assert good.findings == [] and good.images[0].files_checked == 1
    foreign = "arm64" if arch != "arm64" else "amd64"
    bad = _one(
        kit, "bad", platform, [*dirs("usr", "usr/bin"), file("usr/bin/app", elf_bytes(foreign))]
    )
    assert _rules(bad) == ["AV002"], bad.findings
    assert bad.findings[0].path == "/usr/bin/app"


def test_byte_order_and_class_matter(kit):
    # EM_S390 but little-endian, and EM_X86_64 but 32-bit (x32): same machine, wrong shape
    le_s390 = _one(kit, "a", "linux/s390x", [file("bin/app", elf_bytes((22, 64, False)))])
    assert _rules(le_s390) == ["AV002"] and "IBM S/390 64-bit LSB" in le_s390.findings[0].message
    x32 = _one(kit, "b", "linux/amd64", [file("bin/app", elf_bytes((62, 32, False)))])
    assert _rules(x32) == ["AV003"]  # x32 runs through the compat layer


def test_compat_binary_is_a_warning(kit):
    r = _one(kit, "c", "linux/amd64", [file("bin/tool", elf_bytes("386"))])
    assert _rules(r) == ["AV003"] and r.findings[0].severity is Severity.WARNING
    assert r.exit_code() == 0 and r.exit_code(strict=True) == 1
    arm32 = _one(kit, "d", "linux/arm64", [file("bin/tool", elf_bytes("arm", flags=EF_ARM_HARD))])
    assert _rules(arm32) == ["AV003"]


def test_entrypoint_outside_bin_dirs(kit):
    r = _one(
        kit,
        "e",
        "linux/arm64",
        [file("app/server", elf_bytes("amd64"))],
        entrypoint=["/app/server"],
    )
    assert _rules(r) == ["AV002"] and r.findings[0].path == "/app/server"
    ok = _one(
        kit,
        "f",
        "linux/arm64",
        [file("app/server", elf_bytes("arm64"))],
        entrypoint=["/app/server"],
    )
    assert ok.findings == []


def test_entrypoint_found_on_path_and_relative_to_cmd(kit):
    entries = [*dirs("opt", "opt/bin"), file("opt/bin/serve", elf_bytes("amd64"))]
    r = _one(
        kit, "g", "linux/arm64", entries, cmd=["serve", "--port=80"], env=["PATH=/opt/bin:/usr/bin"]
    )
    assert _rules(r) == ["AV002"] and r.findings[0].path == "/opt/bin/serve"


def test_entrypoint_missing(kit):
    r = _one(kit, "h", "linux/amd64", [file("bin/sh", elf_bytes("amd64"))], entrypoint=["/app/run"])
    assert _rules(r) == ["AV008"] and r.findings[0].severity is Severity.WARNING


def test_entrypoint_data_file(kit):
    r = _one(kit, "i", "linux/amd64", [file("app/run", b"echo hello\n")], entrypoint=["/app/run"])
    assert _rules(r) == ["AV008", "AV015"]
    assert "neither an ELF binary nor a #! script" in r.findings[0].message


def test_missing_loader(kit):
    loader = "/lib/ld-linux-aarch64.so.1"
    bad = _one(kit, "j", "linux/arm64", [file("usr/bin/app", elf_bytes("arm64", interp=loader))])
    assert _rules(bad) == ["AV006"] and loader in bad.findings[0].message
    # merged /usr: /lib -> usr/lib, loader a symlink to the real file
    good = _one(kit, "k", "linux/arm64", [
        symlink("lib", "usr/lib"),
        *dirs("usr", "usr/lib", "usr/lib/aarch64-linux-gnu", "usr/bin"),
        file("usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", elf_bytes("arm64", etype=3)),
        symlink("usr/lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu/ld-linux-aarch64.so.1"),
        file("usr/bin/app", elf_bytes("arm64", interp=loader)),
    ])  # fmt: skip
    assert good.findings == [], good.findings


def test_script_entrypoint_interpreter(kit):
    script = file("app/start.sh", b"#!/bin/bash\nexec server\n")
    bad = _one(
        kit,
        "l",
        "linux/amd64",
        [script, file("bin/sh", elf_bytes("amd64"))],
        entrypoint=["/app/start.sh"],
    )
    assert _rules(bad) == ["AV006"] and "/bin/bash" in bad.findings[0].message
    good = _one(
        kit,
        "m",
        "linux/amd64",
        [script, file("bin/bash", elf_bytes("amd64"))],
        entrypoint=["/app/start.sh"],
    )
    assert good.findings == []
    # the interpreter itself must fit the platform
    foreign = _one(
        kit,
        "n",
        "linux/arm64",
        [script, file("opt/bash", elf_bytes("amd64")), symlink("bin/bash", "/opt/bash")],
        entrypoint=["/app/start.sh"],
    )
    assert _rules(foreign) == ["AV002"] and foreign.findings[0].path == "/opt/bash"


def test_script_env_interpreter(kit):
    script = file("app/main.py", b"#!/usr/bin/env python3\nprint(1)\n")
    base = [script, file("usr/bin/env", elf_bytes("amd64"))]
    bad = _one(kit, "o", "linux/amd64", base, cmd=["/app/main.py"])
    assert _rules(bad) == ["AV006"] and "'python3' via env" in bad.findings[0].message
    good = _one(
        kit,
        "p",
        "linux/amd64",
        [*base, file("usr/local/bin/python3", elf_bytes("amd64"))],
        cmd=["/app/main.py"],
    )
    assert good.findings == []


def test_foreign_os_executables(kit):
    macho = b"\xcf\xfa\xed\xfe" + bytes(60)
    pe = b"MZ" + bytes(62)
    java = b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(56)  # a class file, same magic as fat Mach-O
    r = _one(kit, "q", "linux/amd64", [
        file("usr/bin/tool", macho), file("usr/bin/tool.exe", pe), file("usr/bin/Main.class", java),
        file("usr/bin/ok", elf_bytes("amd64")),
    ])  # fmt: skip
    assert sorted((f.rule, f.path) for f in r.findings) == [
        ("AV007", "/usr/bin/tool"),
        ("AV007", "/usr/bin/tool.exe"),
    ]


def test_arm_float_abi(kit):
    soft_dyn = elf_bytes("arm", flags=EF_ARM_SOFT, interp="/lib/ld-linux.so.3")
    loader = file("lib/ld-linux.so.3", elf_bytes("arm", flags=EF_ARM_SOFT, etype=3))
    r = _one(kit, "r", "linux/arm/v7", [file("bin/app", soft_dyn), loader])
    (f,) = [f for f in r.findings if f.path == "/bin/app"]
    assert f.rule == "AV004" and f.severity is Severity.ERROR
    static = _one(kit, "s", "linux/arm/v7", [file("bin/app", elf_bytes("arm", flags=EF_ARM_SOFT))])
    assert _rules(static) == ["AV004"] and static.findings[0].severity is Severity.WARNING
    # soft-float is right for arm/v6 and arm/v5 (Debian armel)
    v6 = _one(kit, "t", "linux/arm/v6", [file("bin/app", elf_bytes("arm", flags=EF_ARM_SOFT))])
    assert v6.findings == []
    # no float bits in e_flags: the Tag_ABI_VFP_args build attribute decides
    by_attr = _one(
        kit,
        "u",
        "linux/arm/v7",
        [file("bin/app", elf_bytes("arm", flags=0x05000000, arm_attrs=(10, 0)))],
    )
    assert _rules(by_attr) == ["AV004"]


def test_arm_cpu_arch_attribute(kit):
    # built for ARMv8-A (AArch32), labelled arm/v7: illegal instruction on ARMv7 CPUs
    v8 = elf_bytes("arm", flags=EF_ARM_HARD, arm_attrs=(14, 1), pad_to=200_000)
    r = _one(kit, "v", "linux/arm/v7", [file("bin/app", v8)])
    assert _rules(r) == ["AV005"] and "ARMv8-A" in r.findings[0].message
    # ARMv6 code in an arm/v7 image is fine (v7 CPUs run it)
    v6 = elf_bytes("arm", flags=EF_ARM_HARD, arm_attrs=(6, 1))
    assert _one(kit, "w", "linux/arm/v7", [file("bin/app", v6)]).findings == []
    # the attributes sit before the tail the reader keeps: nothing is guessed
    far = elf_bytes("arm", flags=EF_ARM_HARD, arm_attrs=(14, 1), pad_to=200_000, gap=100_000)
    assert _one(kit, "x", "linux/arm/v7", [file("bin/app", far)]).findings == []
    near = elf_bytes("arm", flags=EF_ARM_HARD, arm_attrs=(14, 1), pad_to=200_000, gap=30_000)
    assert _rules(_one(kit, "x2", "linux/arm/v7", [file("bin/app", near)])) == ["AV005"]


def test_all_files_checks_elf_everywhere(kit):
    entries = [
        file("usr/bin/node", elf_bytes("arm64")),
        file("app/node_modules/sharp/build/sharp.node", elf_bytes("amd64", etype=3)),
        file("app/obj/x.o", elf_bytes("amd64", etype=1)),  # relocatable objects are not programs
    ]
    default = _one(kit, "y", "linux/arm64", entries)
    assert default.findings == []
    deep = _verify(kit, "y", all_files=True)
    assert _rules(deep) == ["AV009"]
    assert deep.findings[0].path == "/app/node_modules/sharp/build/sharp.node"
    assert deep.findings[0].severity is Severity.WARNING
    assert deep.images[0].files_checked == 2


def test_nothing_to_check_is_info(kit):
    r = _one(kit, "z", "linux/amd64", [file("etc/motd", b"hello\n")])
    assert _rules(r) == ["AV015"] and r.exit_code(strict=True) == 0


def test_windows_images_are_not_elf_checked(kit):
    r = _one(
        kit,
        "win",
        "windows/amd64",
        [file("Files/app.exe", b"MZ" + bytes(62))],
        entrypoint=["C:\\app.exe"],
    )
    assert r.findings == []


def test_unknown_profile_is_refused(kit):
    kit.tag("a", kit.image("linux/amd64", [kit.layer([file("bin/a", elf_bytes("amd64"))])]))
    with pytest.raises(InvalidInputError, match="unknown verify profile"):
        _verify(kit, "a", profile="heroku")


def test_platform_less_entry_warns(kit):
    img = kit.image("linux/amd64", [kit.layer([file("bin/a", elf_bytes("amd64"))])])
    kit.tag("idx", kit.index([img, kit.relabel(img, None)]))
    r = _verify(kit, "idx")
    assert _rules(r) == ["AV013"]


def test_unknown_architecture_is_noted_not_failed(kit):
    r = _one(kit, "wasm", "wasip1/wasm", [file("app.wasm", b"\0asm\x01\0\0\0")])
    assert (
        _rules(r) == ["AV015"] and "no ELF rules for architecture 'wasm'" in r.findings[0].message
    )
    assert r.exit_code(strict=True) == 0
