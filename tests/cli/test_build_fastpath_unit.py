"""The build's fast path without building: what it imports, what its fingerprint sees,
and the paths it computes without the modules that own them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anyarch.api import fastpath
from anyarch.cli import farm_flags
from anyarch.cli.main import Context
from anyarch.farm.config import FarmConfig
from anyarch.store import default_store_root


def test_a_warm_build_command_imports_no_store_oci_farm_planner_or_rich() -> None:
    code = (
        "import sys, anyarch.cli.main, anyarch.cli.build, anyarch.api.fastpath\n"
        "bad = [m for m in sys.modules if m.split('.')[:2] in (['anyarch', 'oci'], "
        "['anyarch', 'store'], ['anyarch', 'farm'], ['anyarch', 'plan'], ['anyarch', 'dockerfile'], "
        "['anyarch', 'registry'], ['anyarch', 'transfer']) or m.split('.')[0] in ('rich', 'httpx')]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"ANYARCH_STORE": "/somewhere/store"},
        {"XDG_DATA_HOME": "/xdg/data"},
        {"ANYARCH_STORE": "/s", "XDG_DATA_HOME": "/xdg/data"},
    ],
)
def test_store_root_is_the_stores_default(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    monkeypatch.delenv("ANYARCH_STORE", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert Context(None, False).store_root() == default_store_root()
    assert Context(Path("/given"), False).store_root() == Path("/given")


@pytest.mark.parametrize("xdg", [None, "/xdg/config"])
def test_builders_file_is_the_farm_configs(
    monkeypatch: pytest.MonkeyPatch, xdg: str | None
) -> None:
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert farm_flags.builders_file() == str(FarmConfig().builders_path)


def test_may_use_farm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not farm_flags.may_use_farm(None)
    assert not farm_flags.may_use_farm("default")
    assert farm_flags.may_use_farm("default", force=True)
    assert farm_flags.may_use_farm("mine")
    (tmp_path / "anyarch").mkdir()
    (tmp_path / "anyarch" / "builders.json").write_text("{}")
    assert farm_flags.may_use_farm(None)  # the farm config decides what is current


def _request(ctx: Path, **kw: object) -> fastpath.FastRequest:
    args: dict[str, object] = {
        "dockerfile": "FROM scratch\n",
        "dockerfile_path": str(ctx / "Dockerfile"),
        "context": str(ctx),
        "platforms": ["linux/amd64"],
        "build_args": {},
        "target": None,
        "labels": {},
        "network": "default",
        "compression": "gzip",
        "index_format": "oci",
        "epoch": None,
        "binfmt_dir": None,
        "all_platforms": False,
        "tags": ["t"],
    }
    args.update(kw)
    return fastpath.FastRequest(**args)  # type: ignore[arg-type]


def _fp(ctx: Path) -> str:
    return _request(ctx).context_fingerprint()


def test_context_fingerprint_sees_every_kind_of_change(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "sub" / "f").write_text("one")
    (ctx / "link").symlink_to("sub/f")
    first = _fp(ctx)
    assert _fp(ctx) == first  # stable while nothing changes
    seen = {first}

    def changed() -> None:
        fp = _fp(ctx)
        assert fp not in seen
        seen.add(fp)

    st = (ctx / "sub" / "f").stat()
    (ctx / "sub" / "f").write_text("two")  # same size; put the mtime back: the ctime still moves
    os.utime(ctx / "sub" / "f", ns=(st.st_atime_ns, st.st_mtime_ns))
    changed()
    os.utime(ctx / "sub" / "f")
    changed()
    (ctx / "link").unlink()
    (ctx / "link").symlink_to("sub")
    changed()
    (ctx / "sub" / "g").write_text("")
    changed()
    (ctx / "sub" / "g").chmod(0o600)
    changed()
    (ctx.parent / "x.dockerignore").write_text("*")
    assert _fp(ctx) in seen  # not a candidate ignore file of this Dockerfile
    (ctx / "Dockerfile.dockerignore").write_text("g\n")
    changed()


def test_a_fresh_context_is_racy_an_old_one_is_not(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("x")
    assert _request(ctx).racy
    past = time.time_ns() - 10 * fastpath.RACY_WINDOW_NS
    os.utime(ctx / "f", ns=(past, past))
    assert _request(ctx).racy  # the ctime moved when the mtime was set back
    time.sleep(fastpath.RACY_WINDOW_NS / 1e9 + 0.1)
    assert not _request(ctx).racy


def test_the_key_covers_the_options_but_not_the_tags(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    base = _request(ctx).key()
    assert _request(ctx, tags=["other"]).key() == base
    for kw in (
        {"dockerfile": "FROM scratch\nENV A=1\n"},
        {"platforms": ["linux/arm64"]},
        {"build_args": {"A": "1"}},
        {"target": "x"},
        {"labels": {"a": "b"}},
        {"network": "none"},
        {"compression": "zstd"},
        {"index_format": "docker"},
        {"epoch": 0},
        {"binfmt_dir": "/b"},
        {"all_platforms": True},
        {"dockerfile_path": str(ctx / "Other")},
    ):
        assert _request(ctx, **kw).key() != base, kw


class _Events:
    def __init__(self) -> None:
        self.steps: list[object] = []

    def on_step(self, event: object) -> None:
        self.steps.append(event)

    def on_platform(self, outcome: object) -> None:
        self.steps.append(outcome)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no record of this request"),
        (b"not json", "the record is malformed"),
        (json.dumps({"format": 0}).encode(), "the record is malformed"),
    ],
)
def test_no_usable_record_is_a_miss_that_emits_nothing(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    store = tmp_path / "store"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    req = _request(ctx)
    if content is not None:
        path = store / "cache" / "fastpath" / f"{req.key()}.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    events = _Events()
    result, reason = fastpath.replay(store, req, events)
    assert result is None and reason.startswith(why) and events.steps == []


def test_code_fingerprint_follows_the_modules_that_decide_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "anyarch"
    for rel in ("api/fastpath.py", "farm/node.py", "cli/build.py", "build/solver.py", "name.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("x")
    monkeypatch.setattr(fastpath, "__file__", str(pkg / "api" / "fastpath.py"))

    def fingerprint() -> str:
        monkeypatch.setattr(fastpath, "_code_fp", None)
        return fastpath._code_fingerprint()

    first = fingerprint()
    (pkg / "farm" / "node.py").write_text("changed")
    (pkg / "cli" / "build.py").write_text("changed")
    assert fingerprint() == first
    (pkg / "build" / "solver.py").write_text("changed")
    second = fingerprint()
    assert second != first
    (pkg / "name.py").write_text("changed")
    assert fingerprint() != second
