"""The build cache and reproducibility, observed through the build's own JSON progress."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from buildkit_kit import Builder, Result, make_context

BASE = "localhost/busybox:1.35"
PLATS = "linux/amd64,linux/arm64"

DOCKERFILE = f"""\
FROM {BASE}
COPY a.txt /a.txt
RUN cat /a.txt > /a.copy && uname -m > /arch
COPY b.txt /b.txt
RUN cat /b.txt > /b.copy
ENV DONE=1
"""


def _ran(r: Result) -> list[tuple[str, str]]:
    """(platform the image is for, step) of every step that really ran."""
    return sorted(
        (",".join(e["targets"]), e["step"])
        for e in r.finished_steps()
        if e["status"] == "done" and not e["cached"]
    )


def _aged_context(tmp_path: Path) -> Path:
    ctx = make_context(tmp_path / "ctx", {"a.txt": "A\n", "b.txt": "B\n"}, DOCKERFILE)
    past = time.time() - 3600  # older than the stat cache's racy window
    for p in ctx.iterdir():
        os.utime(p, (past, past))
    return ctx


def test_warm_rebuild_runs_nothing_and_reads_no_context_file(
    builder: Builder, tmp_path: Path
) -> None:
    ctx = _aged_context(tmp_path)
    meta = tmp_path / "meta.json"
    cold = builder.build("--platform", PLATS, "-t", "c", "--progress", "json", str(ctx))
    assert len(_ran(cold)) == 8
    warm = builder.build(
        "--platform", PLATS, "-t", "c", "--progress", "json", "--metadata-file", str(meta), str(ctx)
    )
    steps = warm.finished_steps()
    assert len(steps) == 8 and all(e["cached"] and e["status"] == "done" for e in steps), steps
    assert not [e for e in warm.events("step") if e["status"] == "running"]
    # the same image, byte for byte: cached steps keep the time they first ran
    assert cold.events("result")[0]["digest"] == warm.events("result")[0]["digest"]
    doc = json.loads(meta.read_text())
    assert doc["anyarch.steps"] == {"run": 0, "cached": 8}
    assert doc["anyarch.context"] == {"files_read": 0}


def test_changing_one_file_reruns_only_its_dependents(builder: Builder, tmp_path: Path) -> None:
    ctx = _aged_context(tmp_path)
    builder.build("--platform", PLATS, "-t", "c", str(ctx))
    os.utime(ctx / "a.txt")  # touched, same bytes: nothing to redo
    touched = builder.build("--platform", PLATS, "-t", "c", "--progress", "json", str(ctx))
    assert _ran(touched) == []
    (ctx / "b.txt").write_text("B2\n")
    changed = builder.build("--platform", PLATS, "-t", "c", "--progress", "json", str(ctx))
    assert _ran(changed) == [
        ("linux/amd64", "COPY b.txt /b.txt"),
        ("linux/amd64", "RUN cat /b.txt > /b.copy"),
        ("linux/arm64", "COPY b.txt /b.txt"),
        ("linux/arm64", "RUN cat /b.txt > /b.copy"),
    ]
    assert builder.image("c", "linux/arm64").read("b.copy") == b"B2\n"
    assert builder.image("c", "linux/arm64").read("arch") == b"aarch64\n"
    # --no-cache runs everything again
    again = builder.build("--platform", PLATS, "--no-cache", "--progress", "json", str(ctx))
    assert len(_ran(again)) == 8


def test_same_inputs_same_digest_in_two_fresh_stores(
    builder: Builder, fresh_builder: Builder, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path / "ctx", {"a.txt": "A\n", "b.txt": "B\n"}, DOCKERFILE)
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    one = builder.build("--platform", PLATS, "-q", str(ctx), env=env).out.strip()
    time.sleep(1.1)  # a different wall clock second for the second build
    (ctx / "a.txt").write_text("A\n")  # a newer mtime, same bytes
    two = fresh_builder.build("--platform", PLATS, "-q", str(ctx), env=env).out.strip()
    assert one.startswith("sha256:") and one == two
    idx = builder.index(one)
    img = builder.image(one, "linux/arm64")
    assert img.config["created"] == "2023-11-14T22:13:20Z"
    assert {h["created"] for h in img.history[1:]} == {"2023-11-14T22:13:20Z"}
    assert all(m.mtime <= 1700000000 for i in range(1, 5) for m in img.layer(i))
    assert len(idx.manifests) == 2
    # --source-date-epoch says the same as the environment variable
    three = fresh_builder.build(
        "--platform", PLATS, "-q", "--source-date-epoch", "1700000000", str(ctx)
    ).out.strip()
    assert three == one
