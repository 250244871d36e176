"""Single-platform builds of COPY and metadata instructions, read back from the store."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from buildkit_kit import Builder, make_context

BASE = "localhost/busybox:1.35"


def test_scratch_copy_env_cmd(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "ctx",
        {"hello.txt": "hello\n", "bin/tool": "#!/bin/sh\n"},
        'FROM scratch\nCOPY hello.txt /\nCOPY bin/ /usr/bin/\nENV GREETING=hi\nCMD ["/usr/bin/tool"]\n',
    )
    (ctx / "bin" / "tool").chmod(0o755)
    builder.build("-t", "scratchy:1", str(ctx))
    img = builder.image("scratchy:1")
    assert img.manifest.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert len(img.manifest.layers) == 2
    assert img.runtime["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "GREETING=hi",
    ]
    assert img.runtime["Cmd"] == ["/usr/bin/tool"]
    assert img.config["os"] == "linux" and img.config["architecture"] == "amd64"
    assert len(img.config["rootfs"]["diff_ids"]) == 2
    first = {m.name: m for m in img.layer(0)}
    assert first["hello.txt"].data == b"hello\n" and first["hello.txt"].mode == 0o644
    assert (first["hello.txt"].uid, first["hello.txt"].gid) == (0, 0)
    tool = {m.name: m for m in img.layer(1)}["usr/bin/tool"]
    assert tool.mode == 0o755
    created_by = [h["created_by"] for h in img.history]
    assert created_by == [
        "COPY hello.txt / # buildkit",
        "COPY bin/ /usr/bin/ # buildkit",
        "ENV GREETING=hi",
        'CMD ["/usr/bin/tool"]',
    ]
    assert [h.get("empty_layer", False) for h in img.history] == [False, False, True, True]
    assert all(h["created"] for h in img.history)


def test_from_busybox_copy_keeps_base_layers_and_history(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"a.txt": "A"}, f"FROM {BASE}\nCOPY a.txt /srv/a.txt\n")
    builder.build("-t", "app:copy", str(ctx))
    img = builder.image("app:copy")
    base = builder.image(BASE, "linux/amd64")
    assert img.manifest.layers[0].digest == base.manifest.layers[0].digest
    assert img.config["rootfs"]["diff_ids"][0] == base.config["rootfs"]["diff_ids"][0]
    assert img.history[0] == base.history[0]  # the base's history entry, timestamp included
    assert img.layer_names(-1) == ["srv", "srv/a.txt"]
    assert img.read("srv/a.txt") == b"A"
    assert img.read("bin/busybox")[:4] == b"\x7fELF"


def test_metadata_instructions_written_as_docker_does(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE} AS base
LABEL from.base=1
CMD ["inherited"]
FROM base
LABEL org.example.team=build version=2
EXPOSE 8080/tcp 53/udp
VOLUME /data
USER nobody:nogroup
WORKDIR /srv/app
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost:8080
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/app"]
MAINTAINER someone@example.com
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build("-t", "meta", "--label", "cli.label=yes", str(ctx))
    cfg = builder.image("meta").runtime
    assert cfg["Labels"] == {
        "from.base": "1",
        "org.example.team": "build",
        "version": "2",
        "cli.label": "yes",
    }
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["User"] == "nobody:nogroup"
    assert cfg["WorkingDir"] == "/srv/app"
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q localhost:8080"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["OnBuild"] == ["RUN echo triggered"]
    assert cfg["Entrypoint"] == ["/bin/app"]
    assert "Cmd" not in cfg  # ENTRYPOINT resets the Cmd the stage inherited, as in docker
    img = builder.image("meta")
    assert img.config["author"] == "someone@example.com"
    # WORKDIR made its directory, owned by the USER
    workdir = {m.name: m for m in img.layer(-1)}
    assert workdir["srv/app"].type == "dir"
    assert (workdir["srv/app"].uid, workdir["srv/app"].gid) == (65534, 65534)


def test_copy_only_build_needs_no_runtime_or_emulation(builder: Builder, tmp_path: Path) -> None:
    """A foreign platform with only COPY/ENV/LABEL builds with no crun and no QEMU."""
    ctx = make_context(
        tmp_path / "ctx", {"f": "x"}, f"FROM {BASE}\nCOPY f /f\nENV A=1\nLABEL l=v\n"
    )
    empty = tmp_path / "no-binfmt"
    empty.mkdir()
    builder.build(
        "--platform",
        "linux/arm64",
        "-t",
        "norun",
        str(ctx),
        env={"ANYARCH_RUNTIME": "no-such-runtime", "ANYARCH_BINFMT_DIR": str(empty)},
    )
    img = builder.image("norun")
    assert img.config["architecture"] == "arm64"
    assert img.read("f") == b"x"


def test_dockerfile_from_stdin_and_build_args_and_target(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"x": "1"})
    dockerfile = f"""\
ARG GREETING=default
FROM {BASE} AS first
ARG GREETING
ENV SEEN=$GREETING
FROM first AS second
LABEL second=1
"""
    builder.build(
        "-f",
        "-",
        "--build-arg",
        "GREETING=hello",
        "--target",
        "first",
        "-t",
        "t1",
        str(ctx),
        input=dockerfile.encode(),
    )
    cfg = builder.image("t1").runtime
    assert "SEEN=hello" in cfg["Env"]
    assert "Labels" not in cfg  # --target stopped at 'first'


def test_context_as_tar_on_stdin(builder: Builder, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (
            ("Dockerfile", f"FROM {BASE}\nCOPY msg /msg\n".encode()),
            ("msg", b"from a tar\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    builder.build("-t", "fromtar", "-", input=buf.getvalue())
    assert builder.image("fromtar").read("msg") == b"from a tar\n"


def test_per_arch_dockerfile_and_metadata_file(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"a": "arm!"})
    (ctx / "Dockerfile.linux-arm").write_text(f"FROM {BASE}\nCOPY a /a\n")
    meta = tmp_path / "meta.json"
    iid = tmp_path / "iid"
    r = builder.build(
        "-f",
        str(ctx / "Dockerfile.linux-arm"),
        "--platform",
        "linux/arm/v7",
        "-t",
        "app:linux-arm",
        "--metadata-file",
        str(meta),
        "--iidfile",
        str(iid),
        str(ctx),
    )
    img = builder.image("app:linux-arm")
    assert (img.config["architecture"], img.config.get("variant")) == ("arm", "v7")
    doc = json.loads(meta.read_text())
    digest = str(builder.store.lookup("app:linux-arm").descriptor.digest)
    assert iid.read_text() == digest
    assert doc["containerimage.digest"] == digest
    assert doc["image.name"] == "docker.io/library/app:linux-arm"
    plat = doc["anyarch.platforms"]["linux/arm/v7"]
    assert plat["digest"] == digest and plat["how"] == "native" and plat["status"] == "ok"
    assert "naming to docker.io/library/app:linux-arm done" in r.err


def test_no_tag_keeps_unnamed_image(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {}, "FROM scratch\nENV X=1\n")
    r = builder.build("-q", str(ctx))
    digest = r.out.strip()
    assert digest.startswith("sha256:")
    assert any(
        str(e.descriptor.digest) == digest and e.name is None for e in builder.store.entries()
    )


def test_named_build_contexts(builder: Builder, tmp_path: Path, busybox_layout: Path) -> None:
    assets = make_context(tmp_path / "assets", {"x.txt": "from assets\n", "sub/y": "y"})
    dockerfile = """\
FROM base
COPY --from=assets x.txt /x.txt
COPY --from=layout /etc/group /group
RUN --mount=type=bind,from=assets,target=/a cat /a/sub/y > /y
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build(
        "--platform",
        "linux/arm64",
        "-t",
        "named",
        "--build-context",
        f"base=docker-image://{BASE}",
        "--build-context",
        f"assets={assets}",
        "--build-context",
        f"layout=oci-layout://{busybox_layout}:latest",
        str(ctx),
    )
    img = builder.image("named")
    assert img.config["architecture"] == "arm64"
    assert img.read("x.txt") == b"from assets\n"
    x = {m.name: m for m in img.layer(1)}["x.txt"]
    assert (x.uid, x.gid) == (0, 0)
    assert img.read("group").startswith(b"root:x:0:")
    assert img.read("y") == b"y"
    # a directory is not an image: it cannot be a base
    bad = make_context(tmp_path / "bad", {}, "FROM assets\nRUN true\n")
    r = builder.build("--build-context", f"assets={assets}", str(bad), code=7)
    assert "build context 'assets' is a directory, not an image" in r.error_line()


def test_onbuild_triggers_and_zstd_layers(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "ctx", {"f": "child file\n"}, "FROM parent:1\nRUN cat /onbuild > /seen\n"
    )
    (ctx / "Dockerfile.parent").write_text(
        f"FROM {BASE}\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY f /from-child\n"
    )
    builder.build("-f", str(ctx / "Dockerfile.parent"), "-t", "parent:1", str(ctx))
    assert builder.image("parent:1").runtime["OnBuild"] == [
        "RUN echo triggered > /onbuild",
        "COPY f /from-child",
    ]
    builder.build("--compression", "zstd", "-t", "child:1", str(ctx))
    img = builder.image("child:1")
    assert img.read("seen") == b"triggered\n"
    assert img.read("from-child") == b"child file\n"
    assert "OnBuild" not in img.runtime  # triggers run once, in the child, as docker does
    assert [d.media_type for d in img.manifest.layers[1:]] == [
        "application/vnd.oci.image.layer.v1.tar+zstd"
    ] * 3
