"""Foreign and multiple platforms: QEMU-emulated RUN, one index, shared steps, failures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from buildkit_kit import Builder, make_context

from helpers.common import require_tool
from helpers.registry import RegistryServer, skopeo_args

BASE = "localhost/busybox:1.35"
UNAME = f'FROM {BASE}\nRUN uname -m > /arch\nCMD ["cat", "/arch"]\n'


def _skopeo(*args: str) -> str:
    exe = require_tool("skopeo")
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout


def test_foreign_platforms_run_under_emulation(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {}, UNAME)
    r = builder.build(
        "-t", "app:linux-arm64", "--platform", "linux/arm64", "--progress", "json", str(ctx)
    )
    img = builder.image("app:linux-arm64")
    assert img.read("arch") == b"aarch64\n"
    assert img.config["architecture"] == "arm64" and img.config["os"] == "linux"
    inspect = builder("image", "inspect", "app:linux-arm64", "-f", "{{.Os}}/{{.Architecture}}")
    assert inspect.out.strip() == "linux/arm64"
    [plat] = r.events("platform")
    assert (plat["platform"], plat["how"], plat["status"]) == ("linux/arm64", "emulated", "ok")

    builder.build("-t", "app:linux-arm", "--platform", "linux/arm/v7", str(ctx))
    img = builder.image("app:linux-arm")
    assert img.read("arch") == b"armv7l\n"
    assert (img.config["architecture"], img.config["variant"]) == ("arm", "v7")
    run = builder("run", "--platform", "linux/arm/v7", "app:linux-arm")
    assert run.out == "armv7l\n"


def test_three_platforms_one_index_pushed(
    builder: Builder, tmp_path: Path, registry: RegistryServer, repo: str
) -> None:
    ctx = make_context(tmp_path / "ctx", {}, UNAME)
    ref = f"{registry.host}/{repo}:1"
    r = builder.build(
        "-t", ref, "--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--push", str(ctx)
    )
    index = builder.index(ref)
    assert index.media_type == "application/vnd.oci.image.index.v1+json"
    platforms = [
        (m.platform.os, m.platform.architecture, m.platform.variant)
        for m in index.manifests
        if m.platform
    ]
    assert platforms == [("linux", "amd64", ""), ("linux", "arm64", ""), ("linux", "arm", "v7")]
    for plat, arch in (
        ("linux/amd64", b"x86_64\n"),
        ("linux/arm64", b"aarch64\n"),
        ("linux/arm/v7", b"armv7l\n"),
    ):
        assert builder.image(ref, plat).read("arch") == arch
    # the summary table names every platform with how it ran
    table = r.err[r.err.index("PLATFORM") :]
    assert "linux/amd64    done     native" in table
    assert "linux/arm64    done     emulated" in table
    assert "linux/arm/v7   done     emulated" in table
    # skopeo reads the pushed index and agrees
    raw = json.loads(_skopeo("inspect", *skopeo_args(registry), "--raw", f"docker://{ref}"))
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64", "arm64", "arm"]
    assert raw == json.loads(builder.store.blobs.read(builder.store.lookup(ref).descriptor.digest))
    arm = json.loads(
        _skopeo(
            "inspect",
            *skopeo_args(registry),
            "--override-arch",
            "arm",
            "--override-variant",
            "v7",
            f"docker://{ref}",
        )
    )
    assert (arm["Architecture"], arm["Os"]) == ("arm", "linux")


def test_cross_compile_stage_runs_once(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM --platform=$BUILDPLATFORM {BASE} AS build
RUN echo "compiler ran on $(uname -m)" > /compiler
ARG TARGETARCH
RUN echo "binary for $TARGETARCH built on $(uname -m)" > /artifact
FROM {BASE}
COPY --from=build /compiler /artifact /out/
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    r = builder.build(
        "-t",
        "cc",
        "--platform",
        "linux/amd64,linux/arm64,linux/arm/v7",
        "--progress",
        "json",
        str(ctx),
    )
    done = [e for e in r.finished_steps() if e["status"] == "done" and not e["cached"]]
    compiler = [e for e in done if e["step"].startswith('RUN echo "compiler')]
    assert len(compiler) == 1, compiler
    assert compiler[0]["platform"] == "linux/amd64"
    assert compiler[0]["targets"] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    artifact = [e for e in done if e["step"].startswith('RUN echo "binary')]
    assert len(artifact) == 3 and {e["platform"] for e in artifact} == {"linux/amd64"}
    for plat, arch in (("linux/amd64", "amd64"), ("linux/arm64", "arm64"), ("linux/arm/v7", "arm")):
        img = builder.image("cc", plat)
        assert img.read("out/artifact") == f"binary for {arch} built on x86_64\n".encode()
        assert img.read("out/compiler") == b"compiler ran on x86_64\n"


def test_keep_going_keeps_the_platforms_that_built(builder: Builder, tmp_path: Path) -> None:
    dockerfile = (
        f'FROM {BASE}\nRUN [ "$(uname -m)" != armv7l ] || {{ echo "no arm for you"; exit 4; }}\n'
    )
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    plats = "linux/amd64,linux/arm64,linux/arm/v7"
    r = builder.build("-t", "kg", "--platform", plats, "--keep-going", str(ctx), code=7)
    index = builder.index("kg")
    assert [m.platform.architecture for m in index.manifests if m.platform] == ["amd64", "arm64"]
    table = r.err[r.err.index("PLATFORM") :]
    assert "linux/arm/v7   FAILED   emulated" in table
    assert "linux/arm/v7: Dockerfile:2:1: RUN" in table and "exit code: 4" in table
    assert r.error_line().startswith("Error: 1 of 3 platforms failed (linux/arm/v7)")
    assert "   no arm for you" in r.err
    # without --keep-going the failure fails the build and nothing is named
    r = builder.build("-t", "kg2", "--platform", plats, "--no-cache", str(ctx), code=7)
    assert "exit code: 4" in r.error_line()
    assert not any(e.name and e.name.endswith("/kg2:latest") for e in builder.store.entries())


def test_missing_emulation_fails_before_the_build(builder: Builder, tmp_path: Path) -> None:
    empty = tmp_path / "binfmt"
    empty.mkdir()
    (empty / "status").write_text("enabled\n")
    ctx = make_context(tmp_path / "ctx", {}, UNAME)
    r = builder.build(
        "--platform",
        "linux/arm64",
        "--progress",
        "json",
        str(ctx),
        env={"ANYARCH_BINFMT_DIR": str(empty)},
        code=8,
    )
    assert r.error_line().startswith(
        "Error: cannot run linux/arm64 binaries on this linux/amd64 host"
    )
    assert "anyarch doctor" in r.hint_line() and "qemu-user-static" in r.hint_line()
    assert r.events("step") == []  # nothing started


def test_platform_the_base_lacks(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {}, UNAME)
    r = builder.build("--platform", "linux/s390x", str(ctx), code=3)
    assert r.error_line() == (
        "Error: base image localhost/busybox:1.35 has no linux/s390x variant "
        "(it has: linux/amd64, linux/arm64, linux/arm/v7)"
    )
    assert "--platform" in r.hint_line()


def test_docker_manifest_list_format(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"f": "x"}, f"FROM {BASE}\nCOPY f /f\n")
    builder.build(
        "-t", "dl", "--platform", "linux/amd64,linux/arm64", "--index-format", "docker", str(ctx)
    )
    index = builder.index("dl")
    assert index.media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
    img = builder.image("dl", "linux/arm64")
    assert img.manifest.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert img.manifest.config.media_type == "application/vnd.docker.container.image.v1+json"
    assert {d.media_type for d in img.manifest.layers} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }


def test_tty_progress_view(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {}, UNAME)
    r = builder.build(
        "--progress", "tty", "--platform", "linux/amd64,linux/arm64", "-t", "tty", str(ctx)
    )
    assert "\x1b[" in r.err  # a live view, drawn with terminal escapes
    assert "=> [linux/arm64 stage-0 2/3] RUN uname -m > /arch  DONE" in r.err
    table = r.err[r.err.index("PLATFORM") :]
    assert "linux/arm64   done     emulated" in table


def test_platform_all_takes_the_base_images_platforms(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM --platform=$BUILDPLATFORM scratch AS tools
COPY f /f
FROM {BASE}
COPY --from=tools /f /f
"""
    ctx = make_context(tmp_path / "ctx", {"f": "x"}, dockerfile)
    r = builder.build("--platform", "all", "-t", "every", str(ctx))
    assert "=> platforms: linux/amd64, linux/arm64, linux/arm/v7" in r.err
    index = builder.index("every")
    assert [m.platform.architecture for m in index.manifests if m.platform] == [
        "amd64",
        "arm64",
        "arm",
    ]
    scratch_only = make_context(tmp_path / "s", {}, "FROM scratch\nENV A=1\n")
    r = builder.build("--platform", "all", str(scratch_only), code=2)
    assert "--platform all" in r.error_line()


def test_first_failure_stops_a_running_step_promptly(builder: Builder, tmp_path: Path) -> None:
    import time

    dockerfile = f"""\
FROM {BASE}
RUN if [ "$(uname -m)" = armv7l ]; then exit 9; fi; for i in $(seq 1 150); do echo tick $i; sleep 0.1; done
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    started = time.monotonic()
    r = builder.build(
        "--platform", "linux/amd64,linux/arm/v7", "--progress", "json", str(ctx), code=7
    )
    assert time.monotonic() - started < 12  # the amd64 loop alone takes 15 s
    assert "exit code: 9" in r.error_line()
    statuses = {e["platform"]: e["status"] for e in r.events("platform")}
    assert statuses == {"linux/amd64": "canceled", "linux/arm/v7": "failed"}
