"""Hostile base layers and contexts: a build never writes or reads outside its rootfs/context."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
from pathlib import Path

import pytest
from buildkit_kit import Builder, make_context

from anyarch._util import canonjson
from anyarch.oci import Descriptor, mediatype
from anyarch.oci.platform import parse as parse_platform

BASE = "localhost/busybox:1.35"


def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti in members:
            body = data.get(ti.name)
            if body is not None:
                ti.size = len(body)
                tf.addfile(ti, io.BytesIO(body))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return ti


def _evil_image(builder: Builder, name: str, layer_tar: bytes) -> None:
    """Tag ``name``: the busybox amd64 image plus one hostile layer, written straight into the store."""
    store = builder.store
    base = store.resolve(BASE, parse_platform("linux/amd64"))
    blob = gzip.compress(layer_tar, mtime=0)
    digest = store.blobs.put(blob)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    cfg = json.loads(base.config.raw)
    cfg["rootfs"]["diff_ids"].append(diff_id)
    cfg["history"].append({"created_by": "evil"})
    cfg_raw = canonjson.dumps(cfg)
    cfg_digest = store.blobs.put(cfg_raw)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_MANIFEST,
        "config": {
            "mediaType": mediatype.OCI_CONFIG,
            "digest": str(cfg_digest),
            "size": len(cfg_raw),
        },
        "layers": [
            *[d.to_json() for d in base.manifest.layers],
            {"mediaType": mediatype.OCI_LAYER_GZIP, "digest": str(digest), "size": len(blob)},
        ],
    }
    raw = canonjson.dumps(manifest)
    m_digest = store.blobs.put(raw)
    store.tag(name, Descriptor(mediatype.OCI_MANIFEST, m_digest, len(raw)))


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """A directory on the host that hostile layers aim at (it must stay empty)."""
    d = Path("/tmp") / f"anyarch-target-{secrets.token_hex(4)}"
    d.mkdir()
    yield d
    for p in sorted(d.rglob("*"), reverse=True):
        p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
    d.rmdir()


def test_dotdot_member_is_refused(builder: Builder, tmp_path: Path, host_dir: Path) -> None:
    evil = f"../../../../../../..{host_dir}/dotdot"
    _evil_image(builder, "evil/dotdot", _tar([_member(evil)], {evil: b"pwned"}))
    ctx = make_context(tmp_path / "ctx", {}, "FROM evil/dotdot\nRUN true\n")
    r = builder.build(str(ctx), code=4)
    assert ".." in r.error_line() and r.error_line().count("\n") == 0
    assert list(host_dir.iterdir()) == []


def test_absolute_member_lands_inside_the_rootfs(
    builder: Builder, tmp_path: Path, host_dir: Path
) -> None:
    evil = f"{host_dir}/absolute"
    _evil_image(builder, "evil/abs", _tar([_member(evil)], {evil: b"inside"}))
    ctx = make_context(tmp_path / "ctx", {}, f"FROM evil/abs\nRUN cat {evil} > /seen\n")
    builder.build("-t", "abs-out", str(ctx))
    assert builder.image("abs-out").read("seen") == b"inside"
    assert list(host_dir.iterdir()) == []


def test_symlink_out_then_file_through_it(builder: Builder, tmp_path: Path, host_dir: Path) -> None:
    """The link is followed *inside* the rootfs: the file lands there, not on the host."""
    members = [_member("escape", tarfile.SYMTYPE, str(host_dir)), _member("escape/pwned")]
    _evil_image(builder, "evil/sym", _tar(members, {"escape/pwned": b"pwned"}))
    ctx = make_context(tmp_path / "ctx", {}, f"FROM evil/sym\nRUN cat {host_dir}/pwned > /seen\n")
    builder.build("-t", "sym-out", str(ctx))
    assert builder.image("sym-out").read("seen") == b"pwned"
    assert list(host_dir.iterdir()) == []


def test_hardlink_to_host_file_is_refused(builder: Builder, tmp_path: Path, host_dir: Path) -> None:
    target = host_dir / "precious"
    target.write_bytes(b"host data")
    members = [_member("grab", tarfile.LNKTYPE, str(target))]
    _evil_image(builder, "evil/hard", _tar(members, {}))
    ctx = make_context(tmp_path / "ctx", {}, "FROM evil/hard\nRUN cat /grab > /seen\n")
    r = builder.build("-t", "hard-out", str(ctx), code=4)
    assert f"hardlink 'grab' -> '{target}': target is not in the rootfs" in r.error_line()
    assert os.stat(target).st_nlink == 1  # nothing was linked to the host file
    assert sorted(p.name for p in host_dir.iterdir()) == ["precious"]
