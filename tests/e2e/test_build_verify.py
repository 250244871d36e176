"""`anyarch build --verify`: the build fails when a platform's image holds another platform's binaries."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _amd64_busybox(debs: Path, dest: Path) -> None:
    deb = sorted(debs.glob("busybox-static_*_amd64.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest / "x")], check=True)
    (dest / "tool").write_bytes((dest / "x" / "bin" / "busybox").read_bytes())
    subprocess.run(["rm", "-rf", str(dest / "x")], check=True)


def test_build_verify_catches_wrong_arch_binary(anyarch, busybox_layout, busybox_debs, tmp_path):
    anyarch("import", "--name", "localhost/busybox:1.35", str(busybox_layout), check=True)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    _amd64_busybox(busybox_debs, ctx)
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:1.35\nCOPY --chmod=755 tool /usr/bin/tool\n")
    ok = anyarch("build", "--verify", "-t", "good:1", "--platform", "linux/amd64", "--progress", "quiet", str(ctx))
    assert ok.code == 0, ok
    assert "0 errors" in ok.err
    bad = anyarch("build", "--verify", "-t", "bad:1", "--platform", "linux/amd64,linux/arm64", "--progress", "quiet", str(ctx))
    assert bad.code == 7, bad
    assert "AV002" in bad.err and "usr/bin/tool" in bad.err and "linux/arm64" in bad.err
    assert "failed verification" in bad.err and "Traceback" not in bad.err
