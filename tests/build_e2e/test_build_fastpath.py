"""The warm fast path (``anyarch.api.fastpath``): a rebuild where nothing changed replays
the last result; any change to what decides the result runs the real build.

``--debug`` makes the CLI say ``debug: build fast path: hit`` or why not; everything
else is observed from the JSON progress, the store and the image itself.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from buildkit_kit import Builder, Result, make_context

BASE = "localhost/busybox:1.35"
PLATS = "linux/amd64,linux/arm64"
AMD64 = "linux/amd64"

DOCKERFILE = f"""\
FROM {BASE}
ARG V=one
COPY . /ctx/
RUN echo "$V" > /v && cat /ctx/a.txt > /a.copy
ENV DONE=1
"""

FULL = {"ANYARCH_BUILD_FASTPATH": "0"}


def _settle() -> None:
    """Let the racy window pass: a context changed less than 2 s ago is never recorded."""
    time.sleep(2.1)


def _context(tmp_path: Path) -> Path:
    ctx = make_context(tmp_path / "ctx", {"a.txt": "A\n", "b.txt": "B\n"}, DOCKERFILE)
    _settle()
    return ctx


def _build(builder: Builder, ctx: Path, *args: str, platforms: str = AMD64, **kw: Any) -> Result:
    return builder(
        "--debug", "build", "--platform", platforms, "-t", "fp", "--progress", "json",
        *args, str(ctx), **kw,
    )  # fmt: skip


def _fast(r: Result) -> str:
    """What the fast path said: ``hit`` or the reason it did not apply."""
    said = [ln for ln in r.err.splitlines() if ln.startswith("debug: build fast path: ")]
    assert len(said) == 1, r
    return said[0].removeprefix("debug: build fast path: ")


def _digest(r: Result) -> str:
    digest: str = r.events("result")[0]["digest"]
    return digest


def _ran(r: Result) -> list[str]:
    return sorted(e["step"] for e in r.finished_steps() if not e["cached"])


def _step_view(r: Result) -> list[tuple[Any, ...]]:
    keys = ("platform", "targets", "step", "stage", "kind", "key", "status", "cached")
    return sorted(tuple(json.dumps(e[k]) for k in keys) for e in r.events("step"))


def _meta_without_times(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    for plat in doc["anyarch.platforms"].values():
        plat.pop("seconds")
    return doc


def test_warm_rebuild_replays_what_a_cached_build_emits(builder: Builder, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    cold = _build(builder, ctx, platforms=PLATS)
    assert _fast(cold).startswith("no record") and len(_ran(cold)) == 4
    # the reference: a real warm build, with the fast path off
    full_iid, full_meta = tmp_path / "full.iid", tmp_path / "full.json"
    full = _build(
        builder, ctx, "--iidfile", str(full_iid), "--metadata-file", str(full_meta),
        platforms=PLATS, env=FULL,
    )  # fmt: skip
    assert "debug: build fast path" not in full.err and _ran(full) == []
    iid, meta = tmp_path / "fast.iid", tmp_path / "fast.json"
    warm = _build(
        builder, ctx, "--iidfile", str(iid), "--metadata-file", str(meta), platforms=PLATS
    )
    assert _fast(warm) == "hit"
    assert _digest(cold) == _digest(full) == _digest(warm)
    assert _step_view(warm) == _step_view(full)
    assert all(e["status"] == "done" and e["cached"] for e in warm.events("step"))

    def plats(r: Result) -> list[tuple[str, str, str, str]]:
        return sorted(
            (e["platform"], e["status"], e["how"], e["digest"]) for e in r.events("platform")
        )

    assert plats(warm) == plats(full) and len(plats(warm)) == 2
    drop_time = lambda e: {k: v for k, v in e.items() if k != "time"}  # noqa: E731
    assert [drop_time(e) for e in warm.events("result")] == [
        drop_time(e) for e in full.events("result")
    ]
    assert warm.events("result")[0]["steps"] == {"run": 0, "cached": 4}
    assert iid.read_text() == full_iid.read_text() == _digest(warm)
    assert _meta_without_times(meta) == _meta_without_times(full_meta)
    # the store still names the result, and plain output has the cached steps and the table
    assert str(builder.store.lookup("fp").descriptor.digest) == _digest(warm)
    plain = builder(
        "--debug", "build", "--platform", PLATS, "-t", "fp", "--progress", "plain", str(ctx)
    )
    assert _fast(plain) == "hit"
    assert plain.err.count("CACHED") == 4 and f"writing image {_digest(warm)} done" in plain.err
    assert "PLATFORM" in plain.err and "linux/arm64" in plain.err
    quiet = builder("build", "--platform", PLATS, "-t", "fp", "-q", str(ctx))
    assert quiet.out.strip() == _digest(warm)


def test_a_new_tag_on_a_replayed_build_is_added_to_the_store(
    builder: Builder, tmp_path: Path
) -> None:
    ctx = _context(tmp_path)
    cold = _build(builder, ctx)
    again = builder("--debug", "build", "--platform", AMD64, "-t", "other:v2", "-q", str(ctx))
    assert _fast(again) == "hit"
    assert again.out.strip() == _digest(cold)
    assert str(builder.store.lookup("other:v2").descriptor.digest) == _digest(cold)


def _change_file(ctx: Path, builder: Builder) -> tuple[tuple[str, ...], Callable[[Builder], None]]:
    (ctx / "a.txt").write_text("A2\n")

    def check(b: Builder) -> None:
        assert b.image("fp", AMD64).read("a.copy") == b"A2\n"

    return (), check


def _change_dockerfile(
    ctx: Path, builder: Builder
) -> tuple[tuple[str, ...], Callable[[Builder], None]]:
    (ctx / "Dockerfile").write_text(DOCKERFILE + "ENV MORE=1\n")

    def check(b: Builder) -> None:
        assert "MORE=1" in b.image("fp", AMD64).config["config"]["Env"]

    return (), check


def _change_build_arg(
    ctx: Path, builder: Builder
) -> tuple[tuple[str, ...], Callable[[Builder], None]]:
    def check(b: Builder) -> None:
        assert b.image("fp", AMD64).read("v") == b"two\n"

    return ("--build-arg", "V=two"), check


def _change_dockerignore(
    ctx: Path, builder: Builder
) -> tuple[tuple[str, ...], Callable[[Builder], None]]:
    (ctx / ".dockerignore").write_text("b.txt\n")

    def check(b: Builder) -> None:
        files = b.image("fp", AMD64).files()
        assert "ctx/a.txt" in files and "ctx/b.txt" not in files

    return (), check


def _retag_base(ctx: Path, builder: Builder) -> tuple[tuple[str, ...], Callable[[Builder], None]]:
    other = make_context(
        ctx.parent / "other", {"marker": "new base\n"}, f"FROM {BASE}\nCOPY marker /marker\n"
    )
    builder("build", "--platform", AMD64, "-t", "newbase", "-q", str(other))
    builder("tag", "newbase", BASE)

    def check(b: Builder) -> None:
        assert b.image("fp", AMD64).read("marker") == b"new base\n"

    return (), check


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_change_file, "the context changed"),
        (_change_dockerfile, "no record"),
        (_change_build_arg, "no record"),
        (_change_dockerignore, "the context changed"),
        (_retag_base, f"base image {BASE} is not in the store as it was"),
    ],
    ids=["context-file", "dockerfile", "build-arg", "dockerignore", "base-retagged"],
)
def test_any_change_runs_the_real_build(
    builder: Builder,
    tmp_path: Path,
    change: Callable[[Path, Builder], tuple[tuple[str, ...], Callable[[Builder], None]]],
    reason: str,
) -> None:
    ctx = _context(tmp_path)
    cold = _build(builder, ctx)
    assert _fast(_build(builder, ctx)) == "hit"
    args, check = change(ctx, builder)
    _settle()
    changed = _build(builder, ctx, *args)
    assert _fast(changed).startswith(reason), changed
    assert _digest(changed) != _digest(cold)
    assert _ran(changed), "a real build ran something"
    check(builder)
    # the real build recorded its result: the next identical build replays it
    again = _build(builder, ctx, *args)
    assert _fast(again) == "hit" and _digest(again) == _digest(changed)
    check(builder)


def test_a_collected_blob_makes_a_real_build(builder: Builder, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    cold = _build(builder, ctx)
    config = builder.image("fp", AMD64).manifest.config.digest
    blob = builder.store_dir / "blobs" / config.algorithm / config.hex
    blob.unlink()
    rebuilt = _build(builder, ctx)
    assert _fast(rebuilt) == f"blob {config} of the result is no longer in the store"
    assert _ran(rebuilt) == [], "every step is still in the build cache"
    assert _digest(rebuilt) == _digest(cold)
    assert blob.is_file(), "the real build wrote the config again"


def test_gc_drops_records_whose_result_was_collected(builder: Builder, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    _build(builder, ctx)
    records = builder.store_dir / "cache" / "fastpath"
    assert len(list(records.glob("*.json"))) == 1
    builder("gc")
    assert len(list(records.glob("*.json"))) == 1, "the image is still tagged: its record stays"
    builder("rmi", "fp")
    builder("gc")
    assert list(records.glob("*.json")) == []
    again = _build(builder, ctx)
    assert _fast(again) != "hit"
    assert builder.image("fp", AMD64).config["architecture"] == "amd64"


def test_options_a_record_cannot_stand_for_skip_it(builder: Builder, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    cold = _build(builder, ctx)
    time.sleep(1.1)  # steps run again stamp another second: another digest
    nocache = _build(builder, ctx, "--no-cache")
    assert "debug: build fast path" not in nocache.err and _ran(nocache)
    # --no-cache replaced the cached steps, so the record from before it is gone too
    after = _build(builder, ctx)
    assert _fast(after).startswith("no record")
    assert _digest(after) == _digest(nocache) != _digest(cold)
    out = tmp_path / "out"
    exported = _build(builder, ctx, "--output", f"type=local,dest={out}")
    assert "debug: build fast path" not in exported.err and (out / "a.copy").is_file()


def test_a_context_changed_just_before_the_build_is_not_recorded(
    builder: Builder, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path / "ctx", {"a.txt": "A\n"}, DOCKERFILE)
    _build(builder, ctx)  # the files are seconds old at most: racy
    assert _fast(_build(builder, ctx)).startswith("no record")


def test_a_moved_context_is_another_request(builder: Builder, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    _build(builder, ctx)
    moved = tmp_path / "moved"
    shutil.copytree(ctx, moved)
    _settle()
    assert _fast(_build(builder, moved)).startswith("no record")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A throw-away HTTP server on 127.0.0.1: the directory it serves and its URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_build_that_downloads_is_never_replayed(
    builder: Builder, tmp_path: Path, served: tuple[Path, str]
) -> None:
    root, url = served
    (root / "data.txt").write_text("v1\n")
    ctx = make_context(tmp_path / "ctx", {}, f"FROM {BASE}\nADD {url}/data.txt /data.txt\n")
    _settle()
    _build(builder, ctx)
    assert builder.image("fp", AMD64).read("data.txt") == b"v1\n"
    (root / "data.txt").write_text("v2\n")  # the context and the Dockerfile stay as they were
    again = _build(builder, ctx)
    assert _fast(again).startswith("no record")
    assert builder.image("fp", AMD64).read("data.txt") == b"v2\n"
