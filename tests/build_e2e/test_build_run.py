"""RUN in crun: environment, user, working directory, shell, heredocs, mounts, network, failures."""

from __future__ import annotations

from pathlib import Path

from buildkit_kit import Builder, make_context

BASE = "localhost/busybox:1.35"


def test_run_sees_env_user_workdir_and_shell(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE}
ENV COLOR=blue
ARG LEVEL=3
WORKDIR /work
RUN echo "$COLOR $LEVEL $(pwd) $HOME" > /tmp/env.txt
SHELL ["/bin/sh", "-c", "echo shell-was-used > /tmp/shell.txt; eval \\"$1\\"", "--"]
RUN true
SHELL ["/bin/sh", "-c"]
USER nobody
RUN id -u > /tmp/uid.txt && id -g > /tmp/gid.txt
RUN ["/bin/sh", "-c", "echo exec form > /tmp/exec.txt"]
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build("-t", "runenv", str(ctx))
    img = builder.image("runenv")
    assert img.read("tmp/env.txt") == b"blue 3 /work /root\n"
    assert img.read("tmp/shell.txt") == b"shell-was-used\n"
    assert img.read("tmp/uid.txt") == b"65534\n"
    assert img.read("tmp/gid.txt") == b"65534\n"
    files = img.files()
    assert (files["tmp/uid.txt"].uid, files["tmp/uid.txt"].gid) == (65534, 65534)
    assert img.read("tmp/exec.txt") == b"exec form\n"
    # the ARG used by the RUN is in its history line, as BuildKit writes it
    assert any(h["created_by"].startswith("RUN |1 LEVEL=3 /bin/sh -c echo") for h in img.history)
    # mount points for /etc/hosts and /etc/resolv.conf leave nothing behind in the layers
    for i in range(1, len(img.manifest.layers)):
        assert "etc" not in img.layer_names(i), img.layer_names(i)


def test_heredocs_run_as_scripts(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE}
RUN <<EOF
#!/bin/sh
echo "from a script: $0" > /script.txt
EOF
RUN <<EOF
echo one > /lines.txt
echo two >> /lines.txt
EOF
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build("-t", "heredoc", str(ctx))
    img = builder.image("heredoc")
    assert img.read("script.txt") == b"from a script: /dev/pipes/EOF\n"
    assert img.read("lines.txt") == b"one\ntwo\n"


def test_deleted_files_become_whiteouts(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"FROM {BASE}\nRUN rm /etc/group && mkdir -p /d && echo x > /d/f\nRUN rm -r /d\n"
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build("-t", "wh", str(ctx))
    img = builder.image("wh")
    assert "etc/.wh.group" in img.layer_names(1)
    assert img.layer_names(2) == [".wh.d"]
    files = img.files()
    assert "etc/group" not in files and "d" not in files and "etc/passwd" in files


def test_run_mounts_cache_bind_tmpfs(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE} AS helper
RUN echo from-stage > /made
FROM {BASE}
ARG ROUND
RUN --mount=type=cache,target=/cache echo "$ROUND" >> /cache/log && cat /cache/log > /seen-cache
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/in.txt > /seen-bind && ! touch /mnt/w 2>/dev/null
RUN --mount=type=bind,from=helper,source=/made,target=/m cat /m > /seen-stage
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo temp > /scratch/t; grep " /scratch " /proc/mounts | cut -d" " -f3 > /seen-tmpfs'
"""
    ctx = make_context(tmp_path / "ctx", {"data/in.txt": "bound\n"}, dockerfile)
    builder.build("--build-arg", "ROUND=first", "-t", "m1", str(ctx))
    builder.build("--build-arg", "ROUND=second", "-t", "m2", str(ctx))
    img = builder.image("m2")
    assert img.read("seen-cache") == b"first\nsecond\n"  # the cache outlived the first build
    assert img.read("seen-bind") == b"bound\n"
    assert img.read("seen-stage") == b"from-stage\n"
    assert img.read("seen-tmpfs") == b"tmpfs\n"
    files = img.files()
    for gone in ("cache", "mnt", "m", "scratch"):
        assert gone not in files, f"mount point /{gone} leaked into the image"


def test_secrets_reach_run_but_never_a_layer(builder: Builder, tmp_path: Path) -> None:
    secret = tmp_path / "token.txt"
    secret.write_text("s3cr3t-value")
    dockerfile = f"""\
FROM {BASE}
RUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok | wc -c > /len-file
RUN --mount=type=secret,id=tok,env=TOKEN sh -c 'echo ${{#TOKEN}} > /len-env'
RUN --mount=type=secret,id=missing,required=false test ! -e /run/secrets/missing
"""
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build("--secret", f"id=tok,src={secret}", "-t", "sec", str(ctx))
    img = builder.image("sec")
    assert img.read("len-file").strip() == b"12"
    assert img.read("len-env").strip() == b"12"
    for i in range(len(img.manifest.layers)):
        for m in img.layer(i):
            assert b"s3cr3t" not in m.data
            assert not m.name.startswith("run/secrets")
    assert "s3cr3t" not in str(img.config)
    # a required secret that was not given is a clear error (the cache alone would not ask)
    r = builder.build("--no-cache", "-t", "sec2", str(ctx), code=7)
    assert "secret 'tok' is required but was not given" in r.error_line()
    assert "--secret id=tok" in r.hint_line()


def test_network_none_has_only_loopback(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"FROM {BASE}\nRUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /ifaces\n"
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    builder.build("--network", "none", "-t", "nonet", str(ctx))
    assert builder.image("nonet").read("ifaces") == b"lo\n"


def test_failing_run_reports_step_exit_code_and_output(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"FROM {BASE}\nRUN echo preparing\nRUN echo compiling && echo 'boom: no such thing' >&2 && exit 3\n"
    ctx = make_context(tmp_path / "ctx", {}, dockerfile)
    r = builder.build("-t", "bad", str(ctx), code=7)
    err = r.error_line()
    assert err.startswith("Error: Dockerfile:3:1: RUN echo compiling")
    assert "[linux/amd64]" in err and "exit code: 3" in err
    assert "boom: no such thing" in r.hint_line()
    assert "   boom: no such thing" in r.err  # the output tail, buildx style
    assert "linux/amd64   FAILED" in r.err
    assert len(r.err.strip().splitlines()[-1]) < 300
    # nothing was tagged
    assert not any(e.name == "docker.io/library/bad:latest" for e in builder.store.entries())


def test_unknown_user_at_run_time(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {}, f"FROM {BASE}\nUSER ghost\nRUN true\n")
    r = builder.build(str(ctx), code=7)
    assert r.error_line() == (
        "Error: Dockerfile:3:1: RUN true [linux/amd64]: unable to find user ghost: "
        "no matching entries in passwd file"
    )
    assert "adduser" in r.hint_line()


def test_relative_store_path_still_mounts_overlays(builder: Builder, tmp_path: Path) -> None:
    """``--store ./dir`` works like an absolute path: overlay snapshots, not the slow copy fallback.

    (The store's paths are used from other working directories -- overlay
    mounts, the container runtime -- so a relative root once made the overlay
    probe fail and every rootfs was copied instead.)
    """
    ctx = make_context(tmp_path / "ctx", {}, f"FROM {BASE}\nRUN echo ran > /ran\n")
    r = builder(
        "--store", "store", "build", "-t", "rel:1", str(ctx),
        cwd=tmp_path,
        env={"ANYARCH_SNAPSHOTTER": "overlay"},  # an error, not a fallback, if it cannot mount
    )  # fmt: skip
    assert "overlayfs cannot be mounted" not in r.err
    assert builder.image("rel:1").read("ran") == b"ran\n"
