"""The two whiteout dialects and their translation helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anyarch.archive.whiteout import (
    WhiteoutError,
    is_meta,
    is_opaque_marker,
    is_overlay_opaque,
    is_overlay_private_xattr,
    is_whiteout,
    opaque_marker_path,
    whiteout_name,
    whiteout_target,
)


@pytest.mark.parametrize(
    ("path", "entry"),
    [("a", ".wh.a"), ("a/b", "a/.wh.b"), ("x/y/.hidden", "x/y/.wh..hidden")],
)
def test_whiteout_names_round_trip(path: str, entry: str) -> None:
    assert whiteout_name(path) == entry
    base = entry.rpartition("/")[2]
    assert is_whiteout(base) and not is_opaque_marker(base)
    assert whiteout_target(base) == path.rpartition("/")[2]


def test_opaque_and_aufs_meta_names() -> None:
    assert opaque_marker_path("") == ".wh..wh..opq"
    assert opaque_marker_path("a/b") == "a/b/.wh..wh..opq"
    assert is_opaque_marker(".wh..wh..opq") and not is_meta(".wh..wh..opq")
    assert is_meta(".wh..wh.plnk") and is_whiteout(".wh..wh.plnk")
    assert not is_whiteout("wh.a") and not is_whiteout("a.wh.b")


@pytest.mark.parametrize("base", [".wh.", ".wh..", ".wh..."])
def test_whiteouts_naming_no_child_are_refused(base: str) -> None:
    with pytest.raises(WhiteoutError, match="names no file") as ei:
        whiteout_target(base, where=f"dir/{base}")
    assert f"dir/{base}" in str(ei.value) and ei.value.hint


def test_rootless_overlay_opaque_xattr_is_recognised(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    assert not is_overlay_opaque(str(d))
    os.setxattr(d, "user.overlay.opaque", b"y")
    assert is_overlay_opaque(str(d))
    fd = os.open(d, os.O_RDONLY)
    try:
        assert is_overlay_opaque(fd)
    finally:
        os.close(fd)


def test_overlay_private_xattrs() -> None:
    assert is_overlay_private_xattr("trusted.overlay.redirect")
    assert is_overlay_private_xattr("user.overlay.opaque")
    assert not is_overlay_private_xattr("user.overlayish")
    assert not is_overlay_private_xattr("security.capability")
