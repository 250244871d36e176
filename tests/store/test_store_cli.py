"""The local store as a user drives it: import, images, inspect, tag, rmi, gc, export."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers.common import require_tool

PLATFORMS = "linux/amd64,linux/arm64,linux/arm/v7"


def _blob_files(store: Path) -> set[str]:
    return {p.name for p in (store / "blobs" / "sha256").iterdir()}


def _snapshot(store: Path) -> tuple[bytes, set[str]]:
    return (store / "index.json").read_bytes(), _blob_files(store)


def test_import_then_images_lists_platforms(anyarch, busybox_layout):
    r = anyarch("import", "--name", "localhost/busybox:1.35", str(busybox_layout), check=True)
    assert "Loaded image: localhost/busybox:1.35" in r.out
    r = anyarch("images", check=True)
    lines = r.out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "DIGEST", "PLATFORMS", "SIZE", "CREATED"]
    row = lines[1].split()
    assert row[0] == "localhost/busybox" and row[1] == "1.35"
    assert len(row[2]) == 12
    assert row[3] == PLATFORMS
    assert row[4].endswith("MB")


def test_import_names_from_bare_tag(anyarch, busybox_layout):
    r = anyarch("import", str(busybox_layout), check=True)
    name = f"localhost/{busybox_layout.name.lower()}:latest"
    assert f"Loaded image: {name}" in r.out


@pytest.mark.parametrize(
    ("platform", "expected"),
    [("linux/arm64", "linux/arm64"), ("linux/arm/v7", "linux/arm/v7"), ("linux/amd64", "linux/amd64"), ("linux/aarch64", "linux/arm64")],
)
def test_inspect_selects_platform(anyarch, busybox_layout, platform, expected):
    anyarch("import", "--name", "bb", str(busybox_layout), check=True)
    r = anyarch("image", "inspect", "--platform", platform, "bb", "-f", "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", check=True)
    assert r.out.strip() == expected


def test_inspect_default_is_host_platform_and_docker_shape(anyarch, busybox_layout):
    anyarch("import", "--name", "bb", str(busybox_layout), check=True)
    r = anyarch("image", "inspect", "bb", check=True)
    doc = json.loads(r.out)
    assert isinstance(doc, list) and len(doc) == 1
    d = doc[0]
    for key in ("Id", "RepoTags", "RepoDigests", "Created", "Architecture", "Os", "Config", "RootFS", "Size", "Metadata"):
        assert key in d, key
    assert d["Architecture"] == "amd64" and d["Os"] == "linux"
    assert d["RepoTags"] == ["bb:latest"]
    assert d["RepoDigests"][0].startswith("bb@sha256:")
    assert d["Config"]["Cmd"] == ["sh"]
    assert d["RootFS"]["Type"] == "layers" and len(d["RootFS"]["Layers"]) == 1
    # the Id is the config digest: check it against the bytes in the store
    cfg = (anyarch.store / "blobs" / "sha256" / d["Id"].split(":")[1]).read_bytes()
    assert hashlib.sha256(cfg).hexdigest() == d["Id"].split(":")[1]


def test_inspect_template_functions(anyarch, busybox_layout):
    anyarch("import", "--name", "bb", str(busybox_layout), check=True)
    r = anyarch("image", "inspect", "bb", "-f", '{{json .Config.Cmd}} {{join .Config.Cmd ","}} {{upper .Os}} {{range .RootFS.Layers}}L{{end}}', check=True)
    assert r.out.strip() == '["sh"] sh LINUX L'
    r = anyarch("image", "inspect", "bb", "-f", "{{define \"x\"}}{{end}}")
    assert r.code == 4 and "Error:" in r.err and "Traceback" not in r.err


def test_missing_platform_lists_what_it_has(anyarch, busybox_layout):
    anyarch("import", "--name", "bb", str(busybox_layout), check=True)
    r = anyarch("image", "inspect", "--platform", "linux/s390x", "bb")
    assert r.code == 3
    assert "linux/s390x" in r.err and "linux/amd64" in r.err and "linux/arm/v7" in r.err
    assert "Traceback" not in r.err


def test_unknown_image_is_exit_3(anyarch):
    r = anyarch("image", "inspect", "nosuch:1")
    assert r.code == 3 and "nosuch:1" in r.err and "Hint:" in r.err


def test_bad_reference_is_exit_4(anyarch):
    r = anyarch("tag", "x", "UPPER/Case")
    assert r.code in (3, 4)
    r = anyarch("image", "inspect", "bad::ref")
    assert r.code == 4 and "Traceback" not in r.err


def test_tag_rmi_gc(anyarch, busybox_layout):
    anyarch("import", "--name", "bb:1", str(busybox_layout), check=True)
    anyarch("tag", "bb:1", "registry.example:5000/team/bb:2", check=True)
    out = anyarch("images", check=True).out
    assert "registry.example:5000/team/bb" in out and "bb " in out
    before = _blob_files(anyarch.store)
    r = anyarch("rmi", "bb:1", check=True)
    assert "Untagged: bb:1" in r.out
    r = anyarch("gc", check=True)
    assert "Total reclaimed space: 0B" in r.out
    assert _blob_files(anyarch.store) == before
    anyarch("rmi", "registry.example:5000/team/bb:2", check=True)
    r = anyarch("gc", check=True)
    assert r.out.count("deleted: sha256:") == len(before)
    assert _blob_files(anyarch.store) == set()
    assert anyarch("images", check=True).out.strip().splitlines()[1:] == []


def test_rmi_by_id_removes_every_name(anyarch, busybox_layout):
    anyarch("import", "--name", "bb:1", str(busybox_layout), check=True)
    anyarch("tag", "bb:1", "bb:2", check=True)
    digest = anyarch("images", "--no-trunc", check=True).out.splitlines()[1].split()[2]
    r = anyarch("rmi", digest.split(":")[1][:12], check=True)
    assert "Untagged: bb:1" in r.out and "Untagged: bb:2" in r.out


def test_store_is_read_by_skopeo(anyarch, busybox_layout, tmp_path):
    skopeo = require_tool("skopeo")
    anyarch("import", "--name", "localhost/bb:1", str(busybox_layout), check=True)
    out = subprocess.run([skopeo, "inspect", "--raw", f"oci:{anyarch.store}:localhost/bb:1"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["mediaType"] == "application/vnd.oci.image.index.v1+json"


def test_export_layout_read_and_copied_by_skopeo(anyarch, busybox_layout, tmp_path):
    skopeo = require_tool("skopeo")
    anyarch("import", "--name", "localhost/bb:1.35", str(busybox_layout), check=True)
    out_dir = tmp_path / "exported"
    r = anyarch("export", "localhost/bb:1.35", str(out_dir), check=True)
    assert "(oci)" in r.out
    # a plain layout: none of the store's own bookkeeping (locks, ingest/)
    assert sorted(p.name for p in out_dir.iterdir()) == ["blobs", "index.json", "oci-layout"]
    info = json.loads(subprocess.run([skopeo, "inspect", "--override-arch", "arm64", f"oci:{out_dir}:1.35"], capture_output=True, text=True, check=True).stdout)
    assert info["Architecture"] == "arm64" and info["Os"] == "linux"
    other = tmp_path / "other"
    subprocess.run([skopeo, "copy", "--all", f"oci:{out_dir}:1.35", f"oci:{other}:1.35"], capture_output=True, check=True)
    idx = json.loads((other / "index.json").read_text())
    assert idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1.35"
    # skopeo kept the digest of the index we wrote
    ours = json.loads((out_dir / "index.json").read_text())["manifests"][0]["digest"]
    assert idx["manifests"][0]["digest"] == ours


def test_import_layout_written_by_skopeo(anyarch, busybox_layout, tmp_path):
    skopeo = require_tool("skopeo")
    written = tmp_path / "by-skopeo"
    subprocess.run([skopeo, "copy", "--all", f"oci:{busybox_layout}:latest", f"oci:{written}:v9"], capture_output=True, check=True)
    r = anyarch("import", str(written), check=True)
    assert "localhost/by-skopeo:v9" in r.out
    r = anyarch("image", "inspect", "--platform", "linux/arm/v7", "localhost/by-skopeo:v9", "-f", "{{.Architecture}}/{{.Variant}}", check=True)
    assert r.out.strip() == "arm/v7"


def test_oci_archive_round_trip(anyarch, busybox_layout, tmp_path, store_dir):
    anyarch("import", "--name", "bb:1", str(busybox_layout), check=True)
    tar = tmp_path / "bb.tar"
    anyarch("export", "bb:1", str(tar), check=True)
    with tarfile.open(tar) as tf:
        names = tf.getnames()
    assert "oci-layout" in names and "index.json" in names
    from helpers.common import Runner

    other = Runner(tmp_path / "store2")
    r = other("import", str(tar), check=True)
    assert "Loaded image: bb:1" in r.out
    d1 = anyarch("images", "--no-trunc", check=True).out.splitlines()[1].split()[2]
    d2 = other("images", "--no-trunc", check=True).out.splitlines()[1].split()[2]
    assert d1 == d2


def test_export_docker_save_format(anyarch, busybox_layout, tmp_path):
    anyarch("import", "--name", "bb:1", str(busybox_layout), check=True)
    tar = tmp_path / "docker.tar"
    anyarch("export", "--format", "docker", "--platform", "linux/arm64", "bb:1", str(tar), check=True)
    with tarfile.open(tar) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["bb:1"]
        config = json.load(tf.extractfile(manifest[0]["Config"]))
        assert config["architecture"] == "arm64"
        for layer, diff_id in zip(manifest[0]["Layers"], config["rootfs"]["diff_ids"], strict=True):
            data = tf.extractfile(layer).read()
            assert "sha256:" + hashlib.sha256(data).hexdigest() == diff_id
            with tarfile.open(fileobj=__import__("io").BytesIO(data)) as inner:
                assert "bin/busybox" in inner.getnames()


# -- bad input: clear error, store unchanged ------------------------------------------


def _layer_blob(layout: Path) -> Path:
    blobs = sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    return blobs[-1]  # the largest blob is a busybox layer


def _prepare(anyarch, busybox_layout):
    # a store that already holds something, so "unchanged" is meaningful
    anyarch("import", "--name", "keep:1", str(busybox_layout), check=True)
    return _snapshot(anyarch.store)


def test_truncated_blob_is_rejected(anyarch, busybox_layout, busybox_copy):
    anyarch("images", check=True)
    before = _snapshot(anyarch.store)
    layer = _layer_blob(busybox_copy)
    data = layer.read_bytes()
    layer.write_bytes(data[: len(data) // 2])
    r = anyarch("import", "--name", "bad:1", str(busybox_copy))
    assert r.code == 6 and "Traceback" not in r.err
    assert "Error:" in r.err and "Hint:" in r.err
    assert _snapshot(anyarch.store) == before


def test_blob_not_matching_digest_is_rejected_store_unchanged(anyarch, busybox_layout, busybox_copy):
    layer = _layer_blob(busybox_copy)
    data = bytearray(layer.read_bytes())
    data[100] ^= 0xFF
    layer.write_bytes(bytes(data))
    anyarch("images", check=True)  # a fresh, empty store
    before = _snapshot(anyarch.store)
    r = anyarch("import", "--name", "bad:1", str(busybox_copy))
    assert r.code == 6
    assert "Error:" in r.err and "hashes to" in r.err and "Traceback" not in r.err
    assert _snapshot(anyarch.store) == before


def test_malformed_index_json_in_source(anyarch, busybox_layout, busybox_copy):
    before = _prepare(anyarch, busybox_layout)
    (busybox_copy / "index.json").write_text('{"schemaVersion": 2, "manifests": [ {"digest": ')
    r = anyarch("import", str(busybox_copy))
    assert r.code in (4, 6) and "index.json" in r.err and "Traceback" not in r.err
    assert _snapshot(anyarch.store) == before


def test_malformed_index_json_in_store(anyarch, busybox_layout):
    anyarch("import", "--name", "keep:1", str(busybox_layout), check=True)
    (anyarch.store / "index.json").write_text("{not json")
    r = anyarch("images")
    assert r.code == 6 and "index.json" in r.err and "Hint:" in r.err and "Traceback" not in r.err


def test_unknown_media_type_is_rejected(anyarch, busybox_layout, busybox_copy):
    before = _prepare(anyarch, busybox_layout)
    idx = json.loads((busybox_copy / "index.json").read_text())
    top = idx["manifests"][0]
    inner = json.loads((busybox_copy / "blobs" / "sha256" / top["digest"].split(":")[1]).read_text())
    inner["mediaType"] = "application/vnd.example.unknown+json"
    raw = json.dumps(inner).encode()
    hexd = hashlib.sha256(raw).hexdigest()
    (busybox_copy / "blobs" / "sha256" / hexd).write_bytes(raw)
    top.update(digest=f"sha256:{hexd}", size=len(raw), mediaType="application/vnd.example.unknown+json")
    (busybox_copy / "index.json").write_text(json.dumps(idx))
    r = anyarch("import", "--name", "weird:1", str(busybox_copy))
    assert r.code == 4 and "application/vnd.example.unknown+json" in r.err and "Traceback" not in r.err
    assert _snapshot(anyarch.store) == before


def test_missing_import_path(anyarch, tmp_path):
    r = anyarch("import", str(tmp_path / "nope"))
    assert r.code == 3 and "nope" in r.err


# -- concurrency ------------------------------------------------------------------------


def test_eight_processes_tag_and_import_at_once(anyarch, busybox_layout, tmp_path):
    anyarch("import", "--name", "base:0", str(busybox_layout), check=True)
    env = dict(os.environ, ANYARCH_STORE=str(anyarch.store))
    import sys

    procs = []
    for i in range(8):
        if i % 2:
            cmd = [sys.executable, "-m", "anyarch", "import", "--name", f"imp:{i}", str(busybox_layout)]
        else:
            cmd = [sys.executable, "-c", f"import subprocess,sys\nfor j in range(5): subprocess.run([sys.executable,'-m','anyarch','tag','base:0','t{i}:'+str(j)],check=True)"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    names = {m["annotations"]["org.opencontainers.image.ref.name"] for m in json.loads((anyarch.store / "index.json").read_text())["manifests"]}
    expected = {"docker.io/library/base:0"}
    expected |= {f"docker.io/library/imp:{i}" for i in range(1, 8, 2)}
    expected |= {f"docker.io/library/t{i}:{j}" for i in range(0, 8, 2) for j in range(5)}
    assert names == expected
    # every blob verifies, and no temp files remain
    for p in (anyarch.store / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name
    assert not list(anyarch.store.glob(".tmp-*"))
    skopeo = require_tool("skopeo")
    subprocess.run([skopeo, "inspect", "--raw", f"oci:{anyarch.store}:docker.io/library/imp:1"], check=True, capture_output=True)
