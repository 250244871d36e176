"""``--output``: OCI archives and layouts, docker archives, local directories and tars."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

from buildkit_kit import Builder, make_context

from helpers.common import require_tool

BASE = "localhost/busybox:1.35"
DOCKERFILE = f"FROM {BASE}\nCOPY hello.txt /hello.txt\nRUN uname -m > /arch\n"


def _skopeo_json(*args: str) -> dict[str, object]:
    exe = require_tool("skopeo")
    out = subprocess.run([exe, *args], capture_output=True, text=True, check=True, timeout=120)
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def test_oci_archive_and_layout(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"hello.txt": "hi\n"}, DOCKERFILE)
    archive = tmp_path / "out" / "image.tar"
    layout = tmp_path / "layout"
    builder.build(
        "-t",
        "app:2",
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        f"type=oci,dest={archive}",
        "--output",
        f"type=oci,dest={layout},tar=false",
        str(ctx),
    )
    digest = str(builder.store.lookup("app:2").descriptor.digest)
    with tarfile.open(archive) as tf:
        names = tf.getnames()
        index = json.loads(tf.extractfile("index.json").read())  # type: ignore[union-attr]
    assert "oci-layout" in names
    assert index["manifests"][0]["digest"] == digest
    raw = _skopeo_json("inspect", "--raw", f"oci-archive:{archive}")
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64", "arm64"]  # type: ignore[index]
    arm = _skopeo_json("inspect", "--override-arch", "arm64", f"oci:{layout}:2")
    assert arm["Architecture"] == "arm64"
    assert sorted(p.name for p in layout.iterdir()) == ["blobs", "index.json", "oci-layout"]


def test_docker_archive(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"hello.txt": "hi\n"}, DOCKERFILE)
    out = tmp_path / "docker.tar"
    builder.build("-t", "app:d", "--output", f"type=docker,dest={out}", str(ctx))
    with tarfile.open(out) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["app:d"]
    assert len(manifest[0]["Layers"]) == 3
    info = _skopeo_json("inspect", f"docker-archive:{out}")
    assert info["Architecture"] == "amd64"
    # a docker archive holds one platform: several are refused with a hint
    r = builder.build(
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        f"type=docker,dest={out}",
        str(ctx),
        code=2,
    )
    assert "type=oci" in r.hint_line()


def test_local_and_tar_outputs(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"hello.txt": "hi\n"}, DOCKERFILE)
    local = tmp_path / "rootfs"
    builder.build("--platform", "linux/arm64", "--output", f"type=local,dest={local}", str(ctx))
    assert (local / "arch").read_text() == "aarch64\n"
    assert (local / "hello.txt").read_text() == "hi\n"
    assert (local / "bin" / "busybox").is_file()
    multi = tmp_path / "multi"
    builder.build(
        "--platform", "linux/amd64,linux/arm/v7", "--output", f"type=local,dest={multi}", str(ctx)
    )
    assert (multi / "linux_amd64" / "arch").read_text() == "x86_64\n"
    assert (multi / "linux_arm_v7" / "arch").read_text() == "armv7l\n"
    r = builder.build("--progress", "quiet", "--output", "type=tar,dest=-", str(ctx))
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        members = {m.name: m for m in tf.getmembers()}
        assert tf.extractfile("arch").read() == b"x86_64\n"  # type: ignore[union-attr]
    assert members["bin/busybox"].isfile()
    assert members["hello.txt"].uid == 0
