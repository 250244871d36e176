"""Resolve a Dockerfile ``USER`` value against a rootfs's /etc/passwd and /etc/group.

The rules are runc's ``user.GetExecUser`` (what Docker and BuildKit use), so a
build behaves the same under anyarch:

* ``""`` is root (uid 0, gid 0, home from root's passwd entry, else ``/``).
* ``uid:gid`` with both numeric needs no lookup at all (BuildKit's fast path),
  so images without /etc/passwd still work for numeric users.
* a user *name* must exist in /etc/passwd; a numeric uid is looked up by uid
  and, when absent, used as is with gid 0 and home ``/``.
* a group name must exist in /etc/group; a numeric gid is used as is.
* with no explicit group, the user's supplementary groups are the groups in
  /etc/group that list the user's name as a member.

The files are read from inside the rootfs with in-root symlink resolution, so
an image cannot make anyarch read host files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anyarch.errors import BuildError
from anyarch.sandbox._rootpath import read_small_file

#: runc refuses ids outside this range (they do not fit a signed 32-bit int).
MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class ExecUser:
    """Who the process runs as: ids for the OCI config, home for ``$HOME``."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _parse_id(text: str) -> int | None:
    """The numeric id ``text`` names, or None when it is a name."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    if value > MAX_ID:
        raise BuildError(
            f"invalid user/group id {text}: uids and gids must be in range 0-{MAX_ID}",
            hint="use a smaller numeric id or a name from the image's /etc/passwd",
        )
    return value


def _lines(data: bytes | None) -> list[list[str]]:
    if not data:
        return []
    rows = []
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rows.append(line.split(":"))
    return rows


def _passwd(data: bytes | None) -> list[_PasswdEntry]:
    """Parse passwd lines; malformed numeric fields are skipped as runc does."""
    entries = []
    for f in _lines(data):
        f += [""] * (7 - len(f))
        try:
            uid, gid = int(f[2]), int(f[3])
        except ValueError:
            continue
        entries.append(_PasswdEntry(f[0], uid, gid, f[5]))
    return entries


def _groups(data: bytes | None) -> list[_GroupEntry]:
    entries = []
    for f in _lines(data):
        f += [""] * (4 - len(f))
        try:
            gid = int(f[2])
        except ValueError:
            continue
        members = tuple(m.strip() for m in f[3].split(",") if m.strip())
        entries.append(_GroupEntry(f[0], gid, members))
    return entries


def resolve_user(rootfs: Path, user: str) -> ExecUser:
    """The uid, gid, supplementary gids and home for ``user`` in ``rootfs``.

    Raises BuildError with Docker's wording when a name is unknown.
    """
    user = user.strip()
    if not user:
        return ExecUser(0, 0, (), _home_for_uid(rootfs, 0), "root")
    user_arg, has_group, group_arg = user.partition(":")
    if has_group and not group_arg:
        raise BuildError(
            f"invalid user {user!r}: empty group after ':'",
            hint="write USER name, USER name:group, USER uid or USER uid:gid",
        )
    if not user_arg:
        raise BuildError(
            f"invalid user {user!r}: empty user name",
            hint="write USER name, USER name:group, USER uid or USER uid:gid",
        )
    uid_arg = _parse_id(user_arg)
    gid_arg = _parse_id(group_arg) if group_arg else None
    if uid_arg is not None and gid_arg is not None:
        return ExecUser(uid_arg, gid_arg, (), _home_for_uid(rootfs, uid_arg), "")

    passwd = _passwd(read_small_file(rootfs, "/etc/passwd"))
    if uid_arg is None:
        matches = [e for e in passwd if e.name == user_arg]
    else:
        matches = [e for e in passwd if e.uid == uid_arg]
    if matches:
        entry = matches[0]
        uid, gid, home, name = entry.uid, entry.gid, entry.home or "/", entry.name
    elif uid_arg is not None:
        uid, gid, home, name = uid_arg, 0, "/", ""
    else:
        raise BuildError(
            f"unable to find user {user_arg}: no matching entries in passwd file",
            hint=(
                f"add the user in an earlier step (e.g. RUN adduser -D {user_arg}) "
                "or use a numeric USER uid:gid"
            ),
        )

    additional: tuple[int, ...] = ()
    if group_arg or name:
        groups = _groups(read_small_file(rootfs, "/etc/group"))
        if group_arg:
            if gid_arg is None:
                found = [g for g in groups if g.name == group_arg]
            else:
                found = [g for g in groups if g.gid == gid_arg]
            if found:
                gid = found[0].gid
            elif gid_arg is not None:
                gid = gid_arg
            else:
                raise BuildError(
                    f"unable to find group {group_arg}: no matching entries in group file",
                    hint=(
                        f"add the group in an earlier step (e.g. RUN addgroup {group_arg}) "
                        "or use a numeric gid"
                    ),
                )
        else:
            additional = tuple(g.gid for g in groups if name in g.members)
    return ExecUser(uid, gid, additional, home, name)


def _home_for_uid(rootfs: Path, uid: int) -> str:
    """``$HOME`` for a numeric ``uid:gid`` user: from passwd if listed, else ``/``."""
    for entry in _passwd(read_small_file(rootfs, "/etc/passwd")):
        if entry.uid == uid:
            return entry.home or "/"
    return "/"
