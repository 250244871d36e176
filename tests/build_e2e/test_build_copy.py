"""COPY and ADD built for real: ignore rules, wildcards, ownership, modes, stages, archives, URLs."""

from __future__ import annotations

import bz2
import hashlib
import http.server
import io
import lzma
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildkit_kit import Builder, make_context

BASE = "localhost/busybox:1.35"


def test_dockerignore_and_wildcards(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "ctx",
        {
            "src/main.c": "int main;",
            "src/util.c": "int util;",
            "src/util.h": "#pragma once",
            "src/gen/out.o": "obj",
            "docs/readme.md": "doc",
            "docs/keep.md": "keep",
            "secret.env": "PASSWORD=x",
            ".dockerignore": "**/*.o\nsecret.env\ndocs\n!docs/keep.md\n",
        },
        f"FROM {BASE}\nCOPY src/*.c /c/\nCOPY . /all/\n",
    )
    builder.build("-t", "ign", str(ctx))
    img = builder.image("ign")
    assert sorted(m.name for m in img.layer(1) if m.type == "file") == ["c/main.c", "c/util.c"]
    all_files = sorted(m.name for m in img.layer(2) if m.type == "file")
    assert all_files == [
        "all/.dockerignore",
        "all/Dockerfile",
        "all/docs/keep.md",
        "all/src/main.c",
        "all/src/util.c",
        "all/src/util.h",
    ]


def test_chown_and_chmod(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "ctx",
        {"a.sh": "echo a", "dir/b.txt": "b", "dir/sub/c.txt": "c"},
        f"""\
FROM {BASE}
COPY --chown=nobody:nogroup --chmod=750 a.sh /bin/a.sh
COPY --chown=1234 dir /opt/dir/
COPY --chmod=u+x,go-r dir/b.txt /opt/sym.txt
""",
    )
    builder.build("-t", "own", str(ctx))
    img = builder.image("own")
    a = {m.name: m for m in img.layer(1)}["bin/a.sh"]
    assert (a.uid, a.gid, a.mode) == (65534, 65534, 0o750)
    copied = {m.name: m for m in img.layer(2)}
    assert (copied["opt/dir/b.txt"].uid, copied["opt/dir/b.txt"].gid) == (1234, 1234)
    assert (copied["opt/dir/sub"].uid, copied["opt/dir/sub"].type) == (1234, "dir")
    assert copied["opt/dir/b.txt"].mode == 0o644
    assert {m.name: m for m in img.layer(3)}["opt/sym.txt"].mode == 0o700


def test_chown_to_unknown_user_is_an_error(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"a": "a"}, f"FROM {BASE}\nCOPY --chown=ghost a /a\n")
    r = builder.build(str(ctx), code=7)
    assert (
        "Dockerfile:2:1: COPY --chown=ghost a /a [linux/amd64]: unable to find user ghost"
        in r.error_line()
    )


def test_copy_from_stage_and_image_link_parents_exclude(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"""\
FROM {BASE} AS build
RUN mkdir -p /out/bin && echo tool > /out/bin/tool && ln -s tool /out/bin/link
FROM scratch
COPY --from=build /out/ /
COPY --from={BASE} /etc/passwd /etc/passwd
COPY --link app.conf /etc/app.conf
COPY --parents src/a/x.txt src/b/y.txt /tree/
COPY --exclude=*.log --exclude=tmp logs/ /logs/
"""
    ctx = make_context(
        tmp_path / "ctx",
        {
            "app.conf": "conf",
            "src/a/x.txt": "x",
            "src/b/y.txt": "y",
            "logs/keep.txt": "keep",
            "logs/drop.log": "drop",
            "logs/tmp/t": "t",
        },
        dockerfile,
    )
    builder.build("-t", "stages", str(ctx))
    img = builder.image("stages")
    files = img.files()
    assert img.read("bin/tool") == b"tool\n"
    assert files["bin/link"].type == "symlink" and files["bin/link"].link == "tool"
    assert img.read("etc/passwd").startswith(b"root:x:0:0:")
    assert img.read("etc/app.conf") == b"conf"
    assert img.read("tree/src/a/x.txt") == b"x" and img.read("tree/src/b/y.txt") == b"y"
    assert sorted(k for k in files if k.startswith("logs/")) == ["logs/keep.txt"]


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_add_unpacks_local_archives(builder: Builder, tmp_path: Path) -> None:
    import gzip

    plain = _tar_bytes({"pkg/readme": b"plain"})
    archives = {
        "a.tar": plain,
        "b.tar.gz": gzip.compress(_tar_bytes({"pkg/gz": b"gzip"}), mtime=0),
        "c.tar.bz2": bz2.compress(_tar_bytes({"pkg/bz": b"bzip2"})),
        "d.tar.xz": lzma.compress(_tar_bytes({"pkg/xz": b"xz"})),
        "notatar.gz": gzip.compress(b"just some text", mtime=0),
    }
    lines = [f"FROM {BASE}"] + [f"ADD {name} /x/" for name in archives]
    try:
        import zstandard

        archives["e.tar.zst"] = zstandard.ZstdCompressor().compress(
            _tar_bytes({"pkg/zst": b"zstd"})
        )
        lines.append("ADD e.tar.zst /x/")
    except ImportError:  # pragma: no cover - zstandard is optional
        pass
    ctx = make_context(tmp_path / "ctx", archives, "\n".join(lines) + "\n")
    builder.build("-t", "add", str(ctx))
    img = builder.image("add")
    files = img.files()
    assert img.read("x/pkg/readme") == b"plain"
    assert files["x/pkg/readme"].mode == 0o640
    assert img.read("x/pkg/gz") == b"gzip"
    assert img.read("x/pkg/bz") == b"bzip2"
    assert img.read("x/pkg/xz") == b"xz"
    assert img.read("x/notatar.gz") == archives["notatar.gz"]  # not a tar: copied as is
    if "e.tar.zst" in archives:
        assert img.read("x/pkg/zst") == b"zstd"
    assert "x/a.tar" not in files


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[str]:
    """A throw-away HTTP server on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "tool.sh").write_text("#!/bin/sh\necho downloaded\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_add_url_with_checksum(builder: Builder, tmp_path: Path, http_files: str) -> None:
    digest = "sha256:" + hashlib.sha256(b"#!/bin/sh\necho downloaded\n").hexdigest()
    ctx = make_context(
        tmp_path / "ctx",
        {},
        f"FROM {BASE}\nADD --checksum={digest} --chmod=755 {http_files}/tool.sh /usr/local/bin/\n"
        "RUN tool.sh > /out\n",
    )
    builder.build("-t", "url", str(ctx))
    img = builder.image("url")
    assert img.read("out") == b"downloaded\n"
    assert img.files()["usr/local/bin/tool.sh"].mode == 0o755
    wrong = "sha256:" + "0" * 64
    bad = make_context(
        tmp_path / "bad", {}, f"FROM {BASE}\nADD --checksum={wrong} {http_files}/tool.sh /t\n"
    )
    r = builder.build(str(bad), code=6)
    assert "Dockerfile:2:1: ADD" in r.error_line() and "--checksum expects" in r.error_line()


def test_copy_heredoc_and_hardlinks(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"data/one": "same inode"}, None)
    os.link(ctx / "data" / "one", ctx / "data" / "two")
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE}\nARG WHO=world\nCOPY <<EOF /greeting\nhello $WHO\nEOF\nCOPY data/ /data/\n"
    )
    builder.build("-t", "hd", str(ctx))
    img = builder.image("hd")
    assert img.read("greeting") == b"hello world\n"
    members = {m.name: m for m in img.layer(-1)}
    kinds = sorted((members["data/one"].type, members["data/two"].type))
    assert kinds == ["file", "hardlink"]
    assert img.read("data/two") == b"same inode"


def test_copy_never_reads_outside_the_context(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx", {"ok.txt": "ok"}, None)
    (ctx / "shadow").symlink_to("/etc/shadow")
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY . /ctx/\n")
    builder.build("-t", "links", str(ctx))
    img = builder.image("links")
    link = img.files()["ctx/shadow"]
    assert link.type == "symlink" and link.link == "/etc/shadow"
    host_shadow = Path("/etc/shadow").read_bytes() if Path("/etc/shadow").exists() else b""
    for m in img.layer(-1):
        assert not host_shadow or host_shadow not in m.data
    # naming the link follows it *inside* the context, where there is no /etc/shadow
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY shadow /s\n")
    r = builder.build(str(ctx), code=7)
    assert "COPY shadow /s" in r.error_line() and "not found in build context" in r.error_line()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY ../outside /s\n")
    r = builder.build(str(ctx), code=7)
    assert "outside the build context" in r.error_line()


def test_copy_source_matching_nothing(builder: Builder, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path / "ctx", {"a.txt": "a"}, f"FROM {BASE}\nCOPY a.txt /\nCOPY *.jpg /img/\n"
    )
    r = builder.build("--progress", "json", str(ctx), code=7)
    assert r.error_line() == (
        "Error: Dockerfile:3:1: COPY *.jpg /img/ [linux/amd64]: COPY failed: no source files "
        f"were specified (\"*.jpg\" matched nothing in build context '{ctx}')"
    )
    assert r.hint_line() == "Hint: check the wildcard"
    assert r.events("step") == []  # found before any step ran
