"""The build cache and reproducibility, observed through the build's own JSON progress."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from buildkit_kit import Builder, Result, make_context

from helpers.common import require_tool
from helpers.registry import RegistryServer, skopeo_args

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


def test_registry_cache_round_trip_between_fresh_stores(
    builder: Builder,
    fresh_builder: Builder,
    new_builder: Callable[[str], Builder],
    tmp_path: Path,
    registry: RegistryServer,
    repo: str,
) -> None:
    ctx = _aged_context(tmp_path)
    ref = f"{registry.host}/{repo}:cache"
    # two "machines" export one platform each to the same ref: neither overwrites the other
    builder.build("--platform", "linux/amd64", "--cache-to", f"type=registry,ref={ref}", str(ctx))
    fresh_builder.build(
        "--platform", "linux/arm64", "--cache-to", f"type=registry,ref={ref}", str(ctx)
    )
    exe = require_tool("skopeo")
    raw = json.loads(
        subprocess.run(
            [exe, "inspect", *skopeo_args(registry), "--raw", f"docker://{ref}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert sorted(m["platform"]["architecture"] for m in raw["manifests"]) == ["amd64", "arm64"]
    # a third, fresh store builds both platforms from that cache without running a step
    third = new_builder("store3")
    r = third.build(
        "--platform",
        PLATS,
        "--cache-from",
        f"type=registry,ref={ref}",
        "--progress",
        "json",
        str(ctx),
    )
    steps = r.finished_steps()
    assert len(steps) == 8 and all(e["cached"] for e in steps), _ran(r)
    assert third.image(r.events("result")[0]["digest"], "linux/arm64").read("b.copy") == b"B\n"


def test_local_cache_round_trip(builder: Builder, fresh_builder: Builder, tmp_path: Path) -> None:
    ctx = _aged_context(tmp_path)
    cache = tmp_path / "cache-dir"
    builder.build("--platform", PLATS, "--cache-to", f"type=local,dest={cache}", str(ctx))
    assert (cache / "oci-layout").is_file()
    r = fresh_builder.build(
        "--platform",
        PLATS,
        "--cache-from",
        f"type=local,src={cache}",
        "--progress",
        "json",
        str(ctx),
    )
    assert _ran(r) == []
    assert (
        fresh_builder.image(r.events("result")[0]["digest"], "linux/arm64").read("arch")
        == b"aarch64\n"
    )
