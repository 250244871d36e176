"""The comparer and the allow-list on hand-made layouts (no builder needed).

A differential test is only as good as its comparer: these check that it
applies whiteouts the way the image spec says, sees every field it claims to
compare, and that the allow-list does not cover lookalike differences.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from diffcases import BY_NAME, Case
from difftree import Node, compare_configs, compare_trees, merged_tree, read_image, runtime_config
from test_differential import Seen, unexplained

Member = tuple[str, str, int, bytes, str]  # name, kind, mode, data, link


def _layer(members: list[Member], uid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, mode, data, link in members:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid = mode, uid, uid
            ti.type = {
                "file": tarfile.REGTYPE,
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
            }[kind]
            ti.linkname = link
            ti.size = len(data) if kind == "file" else 0
            tf.addfile(ti, io.BytesIO(data) if kind == "file" else None)
    return gzip.compress(buf.getvalue())


def _put(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def layout(root: Path, layers: list[bytes], config: dict[str, object] | None = None) -> Path:
    cfg = {"architecture": "amd64", "os": "linux", "config": config or {}}
    manifest = {
        "schemaVersion": 2,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_put(root, json.dumps(cfg).encode()),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_put(root, layer)}
            for layer in layers
        ],
    }
    desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_put(root, json.dumps(manifest).encode()),
    }
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    return root


def tree(root: Path, layers: list[bytes]) -> dict[str, Node]:
    return merged_tree(read_image(layout(root, layers), "linux/amd64"))


BASE: list[Member] = [
    ("etc", "dir", 0o755, b"", ""),
    ("etc/a", "file", 0o644, b"a", ""),
    ("etc/b", "file", 0o644, b"b", ""),
    ("bin", "dir", 0o755, b"", ""),
    ("bin/tool", "file", 0o755, b"tool", ""),
    ("sbin", "symlink", 0o777, b"", "bin"),
]


def test_whiteouts_hide_lower_layers_only(tmp_path: Path) -> None:
    top = _layer(
        [
            ("etc/.wh.a", "file", 0o644, b"", ""),
            ("bin/new", "file", 0o644, b"n", ""),  # before the opaque marker in the tar
            ("bin/.wh..wh..opq", "file", 0o644, b"", ""),
            ("sbin", "dir", 0o700, b"", ""),  # a directory replaces the symlink
        ]
    )
    t = tree(tmp_path, [_layer(BASE), top])
    assert "etc/a" not in t and t["etc/b"].sha256 == hashlib.sha256(b"b").hexdigest()
    assert "bin/tool" not in t and "bin/new" in t, "opaque hides the lower layer, not its own"
    assert (t["sbin"].kind, t["sbin"].mode) == ("dir", 0o700)


def test_a_file_replacing_a_directory_removes_its_subtree(tmp_path: Path) -> None:
    t = tree(tmp_path, [_layer(BASE), _layer([("etc", "file", 0o600, b"now a file", "")])])
    assert t["etc"].kind == "file" and not any(k.startswith("etc/") for k in t)


def test_hard_links_are_compared_as_groups(tmp_path: Path) -> None:
    linked = tree(
        tmp_path / "a",
        [_layer([*BASE, ("bin/alias", "hardlink", 0o755, b"", "bin/tool")])],
    )
    copied = tree(tmp_path / "b", [_layer([*BASE, ("bin/alias", "file", 0o755, b"tool", "")])])
    assert linked["bin/tool"].hardlinks == ("bin/alias",)
    diffs = compare_trees(linked, copied)
    assert {d.key for d in diffs} == {"bin/tool", "bin/alias"}


def test_every_node_field_is_compared(tmp_path: Path) -> None:
    ours = tree(tmp_path / "a", [_layer(BASE)])
    theirs = tree(
        tmp_path / "b",
        [
            _layer(
                [
                    ("etc", "dir", 0o750, b"", ""),  # mode
                    ("etc/a", "file", 0o644, b"A", ""),  # content
                    ("bin", "dir", 0o755, b"", ""),
                    ("bin/tool", "file", 0o755, b"tool", ""),
                    ("sbin", "symlink", 0o777, b"", "usr/bin"),  # link target
                ],
            ),
            _layer([("etc/b", "file", 0o644, b"b", "")], uid=7),  # owner
        ],
    )
    assert {d.key for d in compare_trees(ours, theirs)} == {"etc", "etc/a", "etc/b", "sbin"}


def test_config_fields_and_zero_values(tmp_path: Path) -> None:
    ours = read_image(
        layout(tmp_path / "a", [], {"Env": ["A=1"], "Volumes": {}, "Entrypoint": []}),
        "linux/amd64",
    )
    theirs = read_image(
        layout(
            tmp_path / "b",
            [],
            {"Env": ["A=1"], "Labels": {"io.buildah.version": "1", "x": "y"}, "User": "nobody"},
        ),
        "linux/amd64",
    )
    a = runtime_config(ours)
    b = runtime_config(theirs, ignore_labels=frozenset({"io.buildah.version"}))
    assert "Volumes" not in a and "Entrypoint" not in a
    assert {d.key for d in compare_configs(a, b)} == {"Labels", "User"}


def _seen(case: Case, ours: dict[str, Node], theirs: dict[str, Node]) -> Seen:
    return Seen(case, ours, theirs, {}, {})


def test_the_allow_list_covers_buildah_mount_points_but_not_lookalikes(tmp_path: Path) -> None:
    ours = tree(tmp_path / "a", [_layer(BASE)])
    stub = tree(
        tmp_path / "b",
        [_layer([*BASE, ("proc", "dir", 0o755, b"", ""), ("etc/hosts", "file", 0o755, b"", "")])],
    )
    written = tree(
        tmp_path / "c",
        [_layer([*BASE, ("proc", "dir", 0o700, b"", ""), ("etc/hosts", "file", 0o644, b"x", "")])],
    )
    with_run = BY_NAME["whiteouts"]
    assert unexplained(compare_trees(ours, stub), _seen(with_run, ours, stub)) == []
    assert len(unexplained(compare_trees(ours, written), _seen(with_run, ours, written))) == 2
    without_run = BY_NAME["copy-paths"]
    assert len(unexplained(compare_trees(ours, stub), _seen(without_run, ours, stub))) == 2


def test_case_specific_allowances_stay_in_their_case(tmp_path: Path) -> None:
    ours = tree(tmp_path / "a", [_layer([*BASE, ("x/setuid", "file", 0o4755, b"s", "")])])
    theirs = tree(tmp_path / "b", [_layer([*BASE, ("x/setuid", "file", 0o755, b"s", "")])])
    diffs = compare_trees(ours, theirs)
    assert unexplained(diffs, _seen(BY_NAME["copy-edge"], ours, theirs)) == []
    assert unexplained(diffs, _seen(BY_NAME["copy-paths"], ours, theirs)) == diffs


def test_allow_list_entries_name_real_cases() -> None:
    from test_differential import ALLOWED

    for rule in ALLOWED:
        for names in (rule.cases, rule.expected):
            assert names is None or names <= BY_NAME.keys(), f"{rule.name}: unknown case in {names}"
        assert len(rule.reason) > 80, f"{rule.name}: say why the difference is legitimate"
