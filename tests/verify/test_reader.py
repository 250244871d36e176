"""The layer walker: tar dialects, compression, whiteouts, links, and reading only what it needs."""

from __future__ import annotations

import gzip
import io
import random
import tarfile

import pytest
from verifykit import dirs, elf_bytes, file, gnu_tar, hardlink, symlink, tar_bytes

from anyarch.archive.extract import LayerFormatError, LayerTruncatedError
from anyarch.archive.layer import Entry
from anyarch.verify import verify_reference
from anyarch.verify.reader import DIR, FILE, Tree, scan_layer


def _tree(*layers: bytes) -> Tree:
    return Tree(scan_layer(io.BytesIO(raw), f"layer{i}") for i, raw in enumerate(layers))


def _kind(tree: Tree, path: str) -> str | None:
    hit = tree.resolve(path)
    if hit is None:
        return None
    node = hit[1]
    return "dir" if node.kind == DIR else node.fmt or "file"


# --- whiteouts and links through the verifier ---------------------------------------


def test_whiteout_hides_a_lower_foreign_binary(kit):
    lower = kit.layer(
        [*dirs("usr", "usr/local", "usr/local/bin"), file("usr/local/bin/tool", elf_bytes("amd64"))]
    )
    upper = kit.layer(
        [file("usr/local/bin/.wh.tool", b""), file("usr/local/bin/tool2", elf_bytes("arm64"))]
    )
    kit.tag("wh", kit.image("linux/arm64", [lower, upper]))
    r = verify_reference(kit.store, "wh")
    assert r.findings == [] and r.images[0].files_checked == 1
    kit.tag("nowh", kit.image("linux/arm64", [lower]))
    assert [f.path for f in verify_reference(kit.store, "nowh").findings] == ["/usr/local/bin/tool"]


def test_opaque_directory_hides_everything_below(kit):
    lower = kit.layer(
        [
            *dirs("usr", "usr/bin"),
            file("usr/bin/a", elf_bytes("amd64")),
            file("usr/bin/b", elf_bytes("amd64")),
        ]
    )
    upper = kit.layer(
        [
            *dirs("usr", "usr/bin"),
            file("usr/bin/.wh..wh..opq", b""),
            file("usr/bin/c", elf_bytes("arm64")),
        ]
    )
    kit.tag("opq", kit.image("linux/arm64", [lower, upper]))
    r = verify_reference(kit.store, "opq")
    assert r.findings == [] and r.images[0].files_checked == 1


def test_whiteout_in_same_layer_does_not_hide_that_layers_file(kit):
    # OCI: whiteouts apply to lower layers only, whatever their order in the tar
    layer = kit.raw_layer(
        tar_bytes([file("bin/tool", elf_bytes("amd64")), file("bin/.wh.tool", b"")])
    )
    kit.tag("same", kit.image("linux/arm64", [layer]))
    assert [f.rule for f in verify_reference(kit.store, "same").findings] == ["AV002"]


def test_merged_usr_and_symlinks_are_followed_inside_the_image(kit):
    layer = kit.layer([
        symlink("bin", "usr/bin"), symlink("sbin", "usr/sbin"),
        *dirs("usr", "usr/bin", "usr/sbin", "opt", "opt/tool", "opt/tool/bin", "usr/local", "usr/local/bin"),
        file("usr/bin/busybox", elf_bytes("arm64")),
        *[symlink(f"usr/bin/{a}", "busybox") for a in ("ls", "cat", "sh")],
        symlink("usr/sbin/init", "../bin/busybox"),
        # absolute target: resolved in the image, not on the host
        symlink("usr/local/bin/tool", "/opt/tool/bin/tool"),
        file("opt/tool/bin/tool", elf_bytes("amd64")),
        # escaping upwards stops at the image root
        symlink("usr/local/bin/esc", "../../../../../../opt/tool/bin/tool"),
        symlink("usr/local/bin/dangling", "/nowhere"),
        symlink("usr/local/bin/loop", "loop"),
    ])  # fmt: skip
    kit.tag("links", kit.image("linux/arm64", [layer]))
    r = verify_reference(kit.store, "links")
    assert [(f.rule, f.path) for f in r.findings] == [("AV002", "/opt/tool/bin/tool")]
    assert r.images[0].files_checked == 2  # busybox once, however many links point at it


def test_hardlinks_within_and_across_layers(kit):
    lower = kit.layer([*dirs("opt"), file("opt/real", elf_bytes("amd64"))])
    upper = kit.layer(
        [
            *dirs("bin"),
            hardlink("bin/hl", "opt/real"),
            file("bin/own", elf_bytes("arm64")),
            hardlink("bin/hl2", "bin/own"),
        ]
    )
    kit.tag("hl", kit.image("linux/arm64", [lower, upper]))
    r = verify_reference(kit.store, "hl")
    assert [(f.rule, f.path) for f in r.findings] == [("AV002", "/bin/hl")]
    assert r.images[0].files_checked == 2  # bin/hl2 is bin/own


@pytest.mark.parametrize("compression", ["gzip", "zstd", None])
def test_compressions(kit, compression):
    layer = kit.layer([file("bin/app", elf_bytes("amd64"))], compression)
    kit.tag("c", kit.image("linux/arm64", [layer]))
    assert [f.rule for f in verify_reference(kit.store, "c").findings] == ["AV002"]


def test_media_type_that_lies_about_compression(kit):
    # containerd sniffs the stream; so do we: a plain tar labelled +gzip still reads
    tar = tar_bytes([file("bin/app", elf_bytes("amd64"))])
    kit.tag(
        "lie",
        kit.image(
            "linux/arm64", [kit.raw_layer(tar, "application/vnd.oci.image.layer.v1.tar+gzip")]
        ),
    )
    assert [f.rule for f in verify_reference(kit.store, "lie").findings] == ["AV002"]


# --- the tar parser -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_dialects_and_long_names(fmt):
    long_dir = "usr/lib/" + "/".join(f"segment{i:02d}" for i in range(12))  # > 100 chars
    names = (
        ["bin/a", f"{long_dir}/tool"] if fmt != tarfile.USTAR_FORMAT else ["bin/a", "usr/share/x"]
    )
    members = [(n, elf_bytes("arm64") if n.endswith(("tool", "a")) else b"data") for n in names]
    tree = _tree(gnu_tar(members, fmt))
    for n in names:
        assert tree.resolve(n) is not None, n
    assert _kind(tree, names[0]) == "elf"


def test_scanner_agrees_with_tarfile_on_a_random_layer():
    rng = random.Random(1234)
    entries: list[Entry] = []
    expected: dict[str, str] = {}
    for i in range(400):
        depth = rng.randint(0, 4)
        parts = [f"d{rng.randint(0, 5)}" for _ in range(depth)] + [
            f"f{i}-" + "x" * rng.randint(0, 120)
        ]
        path = "/".join(parts)
        kind = rng.choice(["elf", "script", "data", "empty"])
        data = {
            "elf": elf_bytes("amd64"),
            "script": b"#!/bin/sh\necho\n",
            "data": rng.randbytes(rng.randint(1, 3000)),
            "empty": b"",
        }[kind]
        entries.append(file(path, data))
        expected[path] = {"elf": "elf", "script": "script", "data": "file", "empty": "file"}[kind]
    raw = tar_bytes(entries)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        tar_files = {m.name for m in tf.getmembers() if m.isfile()}
    assert tar_files == set(expected)
    tree = _tree(gzip.compress(raw))
    got = {p: _kind(tree, p) for p in expected}
    assert None not in got.values()
    # random data may start with "MZ" or a Mach-O magic; everything else must match exactly
    assert {
        p: (k if k in ("elf", "script", "file") else "file") for p, k in got.items()
    } == expected


class _CountingFile(io.BufferedReader):
    """A real file that counts the bytes read from it (seeks are free)."""

    bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:  # type: ignore[override]
        out = super().read(n)
        self.bytes_read += len(out)
        return out


def test_uncompressed_layer_reads_headers_not_bodies(tmp_path):
    big = elf_bytes("amd64") + bytes(50_000_000)  # 50 MB binary
    raw = tar_bytes([file("bin/big", big), file("bin/small", elf_bytes("arm64"))])
    p = tmp_path / "layer.tar"
    p.write_bytes(raw)
    with open(p, "rb", buffering=0) as fh0, _CountingFile(fh0) as fh:
        scan = scan_layer(fh, "layer")
        assert fh.bytes_read < 4 << 20, fh.bytes_read
    tree = Tree([scan])
    assert _kind(tree, "bin/big") == "elf" and _kind(tree, "bin/small") == "elf"
    node = tree.resolve("bin/big")
    assert node is not None and node[1].kind == FILE and node[1].size == len(big)
    assert len(big) < scan.size <= len(raw)


def test_truncated_layer_is_an_integrity_error():
    raw = tar_bytes([file("bin/app", elf_bytes("amd64") + bytes(10_000))])
    with pytest.raises(LayerTruncatedError, match="tar stream ends"):
        scan_layer(io.BytesIO(gzip.compress(raw[:5000])), "layer sha256:x")
    with pytest.raises(LayerTruncatedError):
        scan_layer(io.BytesIO(gzip.compress(raw)[:-100]), "layer sha256:x")


def test_garbage_is_a_format_error():
    with pytest.raises(LayerFormatError, match="checksum"):
        scan_layer(io.BytesIO(bytes(range(256)) * 8), "layer sha256:x")


def test_missing_end_of_archive_marker_is_tolerated():
    raw = tar_bytes([file("bin/app", elf_bytes("arm64"))])
    trimmed = raw[: raw.rindex(elf_bytes("arm64")) + 512]  # last member's body, no zero blocks
    tree = _tree(trimmed)
    assert _kind(tree, "bin/app") == "elf"
