"""USER resolution against a rootfs: runc's rules, Docker's errors, no host reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anyarch.errors import BuildError
from anyarch.sandbox.users import ExecUser, resolve_user

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment line
app:x:1000:1000:app user:/home/app:/bin/sh
svc:x:1001:1001::/srv:/bin/false
broken:x:notanumber:1::/x:/bin/sh
1234:x:2000:2000:user named like a uid:/n:/bin/sh
"""
GROUP = """\
root:x:0:
staff:x:50:app,svc
wheel:x:10:app
app:x:1000:
svc:x:1001:
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text(PASSWD)
    (r / "etc" / "group").write_text(GROUP)
    return r


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", ExecUser(0, 0, (), "/root", "root")),
        ("root", ExecUser(0, 0, (), "/root", "root")),
        ("app", ExecUser(1000, 1000, (50, 10), "/home/app", "app")),
        ("1000", ExecUser(1000, 1000, (50, 10), "/home/app", "app")),
        ("svc", ExecUser(1001, 1001, (50,), "/srv", "svc")),
        ("app:staff", ExecUser(1000, 50, (), "/home/app", "app")),
        ("app:77", ExecUser(1000, 77, (), "/home/app", "app")),
        ("1000:1001", ExecUser(1000, 1001, (), "/home/app", "")),
        # an unknown numeric uid is used as is, with gid 0 and home /
        ("4242", ExecUser(4242, 0, (), "/", "")),
        ("4242:staff", ExecUser(4242, 50, (), "/", "")),
        ("4242:4343", ExecUser(4242, 4343, (), "/", "")),
        # a numeric argument matches uids, never a user *named* 1234
        ("1234", ExecUser(1234, 0, (), "/", "")),
    ],
)
def test_user_forms(root: Path, user: str, expected: ExecUser) -> None:
    assert resolve_user(root, user) == expected


def test_unknown_user_uses_dockers_wording(root: Path) -> None:
    with pytest.raises(BuildError) as info:
        resolve_user(root, "ghost")
    assert str(info.value) == "unable to find user ghost: no matching entries in passwd file"
    assert info.value.hint is not None and "ghost" in info.value.hint


def test_unknown_group_uses_dockers_wording(root: Path) -> None:
    with pytest.raises(BuildError) as info:
        resolve_user(root, "app:nogroup")
    assert str(info.value) == "unable to find group nogroup: no matching entries in group file"


def test_numeric_user_needs_no_passwd_file(tmp_path: Path) -> None:
    empty = tmp_path / "scratch"
    empty.mkdir()
    assert resolve_user(empty, "65532:65532") == ExecUser(65532, 65532, (), "/", "")
    assert resolve_user(empty, "65532") == ExecUser(65532, 0, (), "/", "")
    with pytest.raises(BuildError, match="unable to find user nonroot"):
        resolve_user(empty, "nonroot")


def test_out_of_range_id_is_refused(root: Path) -> None:
    with pytest.raises(BuildError, match="uids and gids must be in range 0-2147483647"):
        resolve_user(root, "4294967296")


@pytest.mark.parametrize("bad", ["app:", ":50"])
def test_malformed_user_is_refused(root: Path, bad: str) -> None:
    with pytest.raises(BuildError, match="invalid user"):
        resolve_user(root, bad)


def test_absolute_symlink_is_resolved_inside_the_rootfs(root: Path) -> None:
    (root / "etc" / "passwd").unlink()
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "passwd").write_text("app:x:7:7::/inside:/bin/sh\n")
    (root / "etc" / "passwd").symlink_to("/usr/lib/passwd")
    assert resolve_user(root, "app").uid == 7


def test_relative_symlink_cannot_climb_out_of_the_rootfs(tmp_path: Path, root: Path) -> None:
    # Followed naively from the host, etc/passwd -> ../../outside/passwd would
    # read tmp_path/outside/passwd; inside the rootfs ".." stops at "/".
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("app:x:1:1::/host-file:/bin/sh\n")
    (root / "outside").mkdir()
    (root / "outside" / "passwd").write_text("app:x:7:7::/in-rootfs:/bin/sh\n")
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to("../../outside/passwd")
    assert resolve_user(root, "app") == ExecUser(7, 7, (50, 10), "/in-rootfs", "app")


def test_symlinked_etc_directory_is_resolved_inside_the_rootfs(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "real-etc").mkdir(parents=True)
    (root / "real-etc" / "passwd").write_text("app:x:9:9::/h:/bin/sh\n")
    (root / "etc").symlink_to("/real-etc")
    assert resolve_user(root, "app").uid == 9


def test_absolute_link_to_a_host_path_is_not_followed_to_the_host(tmp_path: Path) -> None:
    host_etc = tmp_path / "host-etc"
    host_etc.mkdir()
    (host_etc / "passwd").write_text("intruder:x:0:0::/:/bin/sh\n")
    root = tmp_path / "r"
    root.mkdir()
    (root / "etc").symlink_to(host_etc)  # an absolute path that exists on the host only
    assert (root / "etc" / "passwd").exists()
    with pytest.raises(BuildError, match="unable to find user intruder"):
        resolve_user(root, "intruder")


def test_symlink_loop_is_an_error_not_a_hang(root: Path) -> None:
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to("/etc/passwd2")
    (root / "etc" / "passwd2").symlink_to("/etc/passwd")
    with pytest.raises(BuildError, match="too many levels of symbolic links"):
        resolve_user(root, "app")


def test_fifo_as_passwd_is_refused_without_blocking(root: Path) -> None:
    (root / "etc" / "passwd").unlink()
    os.mkfifo(root / "etc" / "passwd")
    with pytest.raises(BuildError, match="is not a regular file"):
        resolve_user(root, "app")
