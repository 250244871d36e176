"""A failing platform stops the others promptly, even a RUN that prints nothing."""

from __future__ import annotations

import time


def test_failure_cancels_a_silent_run_on_another_platform(anyarch, busybox_layout, tmp_path):
    anyarch("import", "--name", "localhost/busybox:1.35", str(busybox_layout), check=True)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM localhost/busybox:1.35\n"
        "ARG TARGETARCH\n"
        'RUN if [ "$TARGETARCH" = amd64 ]; then sleep 1; exit 3; else sleep 60; fi\n'
    )
    t0 = time.monotonic()
    r = anyarch("build", "--platform", "linux/amd64,linux/arm64", "--progress", "plain", str(ctx))
    elapsed = time.monotonic() - t0
    assert r.code == 7, r
    assert "exit code: 3" in r.err
    assert elapsed < 40, f"the silent arm64 RUN was not stopped: {elapsed:.1f}s"
    table = r.err[r.err.index("PLATFORM") :].lower()
    assert "linux/amd64" in table and "failed" in table
    assert "linux/arm64" in table and "canceled" in table
