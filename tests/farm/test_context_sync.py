"""Sending a build context to a node: once, only what it lacks, exactly as the build sees it.

The node here is the local machine (same code path as an SSH node, without
ssh); its cache directory is a temporary ``XDG_CACHE_HOME``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from anyarch.build.context import EntryKind, StatCache, open_context
from anyarch.cli.farm_build import context_spec
from anyarch.errors import NodeError
from anyarch.farm import protocol
from anyarch.farm.config import NodeConfig
from anyarch.farm.context_sync import ContextSpec, send_context, sync_context
from anyarch.farm.nodes import NodeSession
from anyarch.farm.transport import LocalTransport
from anyarch.store import Store

MTIME = 1_600_000_000_123_456_789


@pytest.fixture
def node(tmp_path: Path, shim: Path, monkeypatch: pytest.MonkeyPatch) -> NodeSession:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "node-cache"))
    return NodeSession(NodeConfig("local", "local"), LocalTransport("local"), prefix=[str(shim)])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "src" / "deep").mkdir(parents=True)
    (c / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (c / "src" / "app.py").write_text("print('hi')\n")
    (c / "src" / "deep" / "data.bin").write_bytes(os.urandom(300_000))
    (c / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(c / "run.sh", 0o750)
    os.utime(c / "run.sh", ns=(MTIME, MTIME))
    os.symlink("src/app.py", c / "link")
    os.link(c / "src" / "app.py", c / "hard.py")
    (c / "same1.txt").write_text("same content\n")
    (c / "same2.txt").write_text("same content\n")
    (c / "secret.env").write_text("TOKEN=1\n")
    (c / "build").mkdir()
    (c / "build" / "out.o").write_bytes(b"\0" * 10)
    (c / ".dockerignore").write_text("secret.env\nbuild\n")
    return c


def _files(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    return out


def test_first_sync_sends_what_the_build_sees(node: NodeSession, store: Store, ctx: Path) -> None:
    spec = context_spec(ctx, store)
    res = sync_context(node, spec)
    snap = Path(res.snapshot)
    got = _files(snap / "ctx")
    assert "secret.env" not in got and "build" not in got and "build/out.o" not in got
    assert set(got) == {
        ".dockerignore", "Dockerfile", "src", "src/app.py", "src/deep", "src/deep/data.bin",
        "run.sh", "link", "hard.py", "same1.txt", "same2.txt",
    }  # fmt: skip
    assert got == {k: v for k, v in _files(ctx).items() if k in got}
    # identical contents travel once; the hard link is not content at all
    distinct = {e.digest for e in spec.entries if e.kind == "f" and not e.hardlink_to}
    assert res.files_sent == len(distinct) + 0  # the Dockerfile is in the context: same content
    assert res.bytes_sent == sum({e.digest: e.size for e in spec.entries if e.kind == "f"}.values())
    st = os.stat(snap / "ctx" / "run.sh")
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o750, MTIME)
    a, h = os.stat(snap / "ctx" / "src" / "app.py"), os.stat(snap / "ctx" / "hard.py")
    assert (a.st_ino, a.st_nlink) == (h.st_ino, 2)
    s1, s2 = os.stat(snap / "ctx" / "same1.txt"), os.stat(snap / "ctx" / "same2.txt")
    assert s1.st_ino != s2.st_ino  # same bytes, separate files: not turned into hard links
    assert (snap / "df" / "Dockerfile").read_text() == "FROM scratch\nCOPY . /\n"


def test_unchanged_context_sends_nothing_the_second_time(
    node: NodeSession, store: Store, ctx: Path
) -> None:
    first = sync_context(node, context_spec(ctx, store))
    second = sync_context(node, context_spec(ctx, store))
    assert (second.snapshot, second.files_sent, second.bytes_sent) == (first.snapshot, 0, 0)


def test_a_changed_file_is_the_only_thing_sent(node: NodeSession, store: Store, ctx: Path) -> None:
    first = sync_context(node, context_spec(ctx, store))
    (ctx / "src" / "app.py").write_text("print('changed!')\n")
    second = sync_context(node, context_spec(ctx, store))
    assert second.snapshot != first.snapshot
    assert (second.files_sent, second.bytes_sent) == (1, len("print('changed!')\n"))
    snap = Path(second.snapshot) / "ctx"
    assert (snap / "src" / "app.py").read_text() == "print('changed!')\n"
    assert (snap / "src" / "deep" / "data.bin").read_bytes() == (
        ctx / "src" / "deep" / "data.bin"
    ).read_bytes()
    assert (
        Path(first.snapshot) / "ctx" / "src" / "app.py"
    ).read_text() == "print('hi')\n"  # snapshots are immutable


def test_dockerfile_specific_ignore_file_goes_next_to_the_dockerfile(
    node: NodeSession, store: Store, ctx: Path
) -> None:
    (ctx / "app.Dockerfile").write_text("FROM scratch\n")
    (ctx / "app.Dockerfile.dockerignore").write_text("src\n")
    res = sync_context(node, context_spec(ctx, store, dockerfile=ctx / "app.Dockerfile"))
    snap = Path(res.snapshot)
    assert not (snap / "ctx" / "src").exists()
    assert (snap / "ctx" / "secret.env").exists()  # .dockerignore is not the one in force
    assert (snap / "df" / "app.Dockerfile.dockerignore").read_text() == "src\n"


def test_a_file_changed_in_flight_is_refused(node: NodeSession, store: Store, ctx: Path) -> None:
    spec = context_spec(ctx, store)
    bad = dataclasses.replace(
        spec, opener=lambda rel: io.BytesIO(b"X" * (ctx / rel).stat().st_size)
    )
    with pytest.raises(NodeError) as e:
        sync_context(node, bad)
    assert e.value.message.startswith(
        "node local (local) could not receive the build context: a context file sent as sha256:"
    )
    assert e.value.hint == "a file changed while it was being sent; run the build again"
    leftovers = list(
        (Path(os.environ["XDG_CACHE_HOME"]) / "anyarch" / "farm" / "contexts").iterdir()
    )
    assert [p.name for p in leftovers if not p.name.startswith(".lock")] == []


def test_a_build_session_refuses_a_file_changed_in_flight_before_building(
    node: NodeSession, store: Store, ctx: Path
) -> None:
    """``farm-node build --context-on-stdin`` syncs first, on the same stream; a file
    that does not match its digest ends the session with the node's own complaint."""
    spec = context_spec(ctx, store)
    bad = dataclasses.replace(
        spec, opener=lambda rel: io.BytesIO(b"X" * (ctx / rel).stat().st_size)
    )
    proc = node.start_anyarch(
        ["farm-node", "build", "--context-on-stdin", "--platform", "linux/amd64"]
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        with pytest.raises(NodeError) as e:
            send_context(node.name, bad, proc.stdin, proc.stdout)
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert e.value.message.startswith(
        "node local could not receive the build context: a context file sent as sha256:"
    )
    assert e.value.hint == "a file changed while it was being sent; run the build again"
    assert proc.returncode == 1


def test_the_nodes_build_finds_every_digest_in_its_stat_cache(
    node: NodeSession, store: Store, ctx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node verified each file as it arrived: its build must not read the context again
    (except a file written just now, which the stat cache never trusts)."""
    old = MTIME
    for dirpath, _dirs, names in os.walk(ctx):
        for n in names:
            os.utime(Path(dirpath) / n, ns=(old, old), follow_symlinks=False)
    (ctx / "fresh.txt").write_text("written a moment ago\n")
    node_store = tmp_path / "node-store"
    monkeypatch.setenv("ANYARCH_STORE", str(node_store))
    spec = context_spec(ctx, store)
    res = sync_context(node, spec)
    snap = Path(res.snapshot)
    cache = StatCache(node_store / "cache" / "stat.db")
    tree = open_context(snap / "ctx", dockerfile=snap / "df" / "Dockerfile", cache=cache)
    files = [e for e in tree.walk(include_build_files=False) if e.kind is EntryKind.FILE]
    digests = tree.digests(files)
    assert digests == {e.path: e.digest for e in spec.entries if e.kind == "f"}
    assert tree.files_read == 1 and cache.misses == 1  # fresh.txt only
    assert cache.hits == len(files) - 1
    cache.close()


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("p", "../escape", "bad path '../escape'"),
        ("p", "/etc/passwd", "bad path '/etc/passwd'"),
        ("h", "../../etc/shadow", "bad path '../../etc/shadow'"),
        ("d", "sha256:../../x" + "0" * 56, "bad digest"),
    ],
)
def test_the_node_refuses_manifests_that_escape(
    node: NodeSession, store: Store, ctx: Path, field: str, value: str, complaint: str
) -> None:
    spec = context_spec(ctx, store)
    manifest = json.loads(spec.manifest_bytes())
    entry = next(e for e in manifest["entries"] if e["t"] == "f")
    entry[field] = value
    res = node.run_anyarch(["farm-node", "context-need"], input=json.dumps(manifest).encode())
    assert res.returncode == 9
    assert complaint in res.err_text


def test_stream_framing_round_trip_and_cuts() -> None:
    buf = io.BytesIO()
    protocol.write_json(buf, protocol.EVENT, {"a": 1})
    protocol.write_blob(buf, "sha256:" + "0" * 64, 5, io.BytesIO(b"hello"))
    protocol.write_end(buf)
    data = buf.getvalue()
    r = io.BytesIO(data)
    assert protocol.read_frame(r).obj == {"a": 1}
    blob = protocol.read_frame(r)
    assert blob.kind == protocol.BLOB and blob.body is not None and blob.body.read() == b"hello"
    assert protocol.read_frame(r).kind == protocol.END
    for cut in (0, 5, len(data) - 12):
        r = io.BytesIO(data[:cut])
        with pytest.raises(protocol.StreamCut):
            while True:
                fr = protocol.read_frame(r)
                if fr.body is not None:
                    fr.body.drain()
                if fr.kind == protocol.END:
                    break
    with pytest.raises(protocol.ProtocolError):
        protocol.read_frame(io.BytesIO(b"Q" + b"\0" * 8))


def test_manifest_identity_ignores_nothing_that_matters(store: Store, ctx: Path) -> None:
    a = context_spec(ctx, store)
    os.utime(ctx / "run.sh", ns=(MTIME + 1, MTIME + 1))
    b = context_spec(ctx, store)
    assert (
        a.snapshot_id != b.snapshot_id
    )  # mtimes reach the image unless SOURCE_DATE_EPOCH clamps them
    assert isinstance(a, ContextSpec)


def _manifest_stream(raw: bytes) -> io.BytesIO:
    buf = io.BytesIO()
    protocol.write_json_bytes(buf, protocol.MANIFEST, raw)
    buf.seek(0)
    return buf


def test_an_unchanged_context_is_known_by_the_digest_of_its_manifest(
    node: NodeSession, store: Store, ctx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second sync of a big context costs one digest on the node, not a parse of every entry."""
    from anyarch.farm import node as node_side

    spec = context_spec(ctx, store)
    first = sync_context(node, spec)
    sent = io.BytesIO()
    with pytest.raises(protocol.StreamCut):  # no answer on the other stream: only what was sent
        send_context("local", spec, sent, io.BytesIO())
    sent.seek(0)
    frame = protocol.read_frame(sent)
    assert frame.kind == protocol.MANIFEST and frame.raw == spec.manifest_bytes()  # canonical

    def no_parsing(raw: object) -> dict[str, object]:
        raise AssertionError("the manifest of a known snapshot was parsed")

    out = io.BytesIO()
    with monkeypatch.context() as m:
        m.setattr(node_side, "_parse_manifest", no_parsing)
        known = node_side.context_sync(_manifest_stream(spec.manifest_bytes()), out)
    assert known == first.snapshot
    out.seek(0)
    assert protocol.read_frame(out).obj == {"snapshot": first.snapshot, "need": []}
    # the same manifest spelled differently (an older coordinator): found the long way
    other = json.dumps(json.loads(spec.manifest_bytes()), indent=1).encode()
    assert other != spec.manifest_bytes()
    assert node_side.context_sync(_manifest_stream(other), io.BytesIO()) == first.snapshot
