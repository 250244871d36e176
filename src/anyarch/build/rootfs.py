"""Host primitives for assembling a rootfs: overlayfs mounts, unmounts, tree copies.

The snapshotter (:mod:`anyarch.build.snapshots`) decides *what* to mount or
copy; this module knows *how* on Linux, and keeps the host quirks in one place:

* overlayfs is mounted with ``redirect_dir=off,metacopy=off`` so that an upper
  directory alone holds the whole diff (``archive.diff.overlay_changes``
  refuses redirects and metacopy), and ``index=off`` so that an upper dir can
  later be reused as a lower under a different set of layers, exactly as
  containerd's overlay snapshotter does.  Kernels that do not know one of
  these options are tried with fewer (older kernels lack the features anyway).
* ``mount(2)`` takes all options in one page (4096 bytes).  Lower dirs are
  passed *relative* to a common working directory (``mount`` runs with that
  cwd), which is how Docker and containerd fit dozens of layers in a page.
* Whether overlay works is a property of the host *and* of the filesystem
  holding the upper dir (overlayfs cannot be an upper, some FUSE filesystems
  lack xattrs), so :func:`overlay_supported` probes by really mounting a tiny
  overlay in the directory that will hold snapshots, once per filesystem.
* The copy fallback uses GNU ``cp -a --reflink=auto``: it keeps owners,
  modes, times, xattrs, device nodes and hardlinks, and shares blocks on
  btrfs/XFS; cache-internal copies use ``cp -al`` (hardlinks) because cache
  trees are never written in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from anyarch.errors import BuildError, HostCapabilityError

#: Mount option sets tried in order; the first the kernel accepts is used.
OVERLAY_OPTION_SETS: tuple[tuple[str, ...], ...] = (
    ("index=off", "redirect_dir=off", "metacopy=off"),
    ("index=off", "redirect_dir=off"),
    (),
)

_MNT_DETACH = 2


class OverlayUnavailableError(HostCapabilityError):
    """overlayfs cannot be mounted here (not root, no kernel support, unsuitable filesystem)."""


class CopyError(BuildError):
    """Copying a rootfs tree failed (disk full, permissions)."""


def page_size() -> int:
    """The limit of the ``mount(2)`` data argument, options included."""
    return resource.getpagesize()


def _mount_binary() -> str | None:
    return shutil.which("mount") or ("/bin/mount" if os.path.exists("/bin/mount") else None)


def overlay_options(
    lowers: Sequence[str], upper: Path | None, work: Path | None, extra: Sequence[str]
) -> str:
    """The ``-o`` string for an overlay mount; ``lowers`` top-most first."""
    parts = ["lowerdir=" + ":".join(_escape(lo) for lo in lowers)]
    if upper is not None and work is not None:
        parts += [f"upperdir={_escape(str(upper))}", f"workdir={_escape(str(work))}"]
    return ",".join([*parts, *extra])


def _escape(path: str) -> str:
    """Overlay splits options on ``,`` and lower dirs on ``:``: escape both as the kernel expects."""
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def mount_overlay(
    lowers: Sequence[str],
    target: Path,
    *,
    upper: Path | None = None,
    work: Path | None = None,
    cwd: Path | None = None,
    extra: Sequence[str] | None = None,
) -> None:
    """Mount overlayfs at ``target``; ``lowers`` (top-most first) may be relative to ``cwd``.

    Without ``upper``/``work`` the mount is read-only.  Raises
    :class:`OverlayUnavailableError` when the kernel refuses.
    """
    mount = _mount_binary()
    if mount is None:
        raise OverlayUnavailableError(
            "cannot mount overlayfs: the mount command is not installed",
            hint="apt-get install mount, or set ANYARCH_SNAPSHOTTER=copy",
        )
    if extra is not None:
        option_sets: Sequence[tuple[str, ...]] = [tuple(extra)]
    elif _chosen_options is not None:
        option_sets = [_chosen_options]
    else:
        option_sets = OVERLAY_OPTION_SETS
    last = ""
    for opts in option_sets:
        data = overlay_options(lowers, upper, work, opts)
        if len(data) >= page_size():
            raise OverlayUnavailableError(
                f"cannot mount overlayfs with {len(lowers)} layers: the options exceed "
                f"{page_size()} bytes",
                hint="set ANYARCH_SNAPSHOTTER=copy for images with this many layers",
            )
        proc = subprocess.run(
            [mount, "-t", "overlay", "overlay", "-o", data, str(target)],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return
        said = (proc.stderr or proc.stdout).strip().splitlines()
        last = said[-1] if said else f"exit code {proc.returncode}"
    raise OverlayUnavailableError(
        f"cannot mount overlayfs at {target}: {last}",
        hint="run as root on a filesystem overlayfs accepts (ext4, xfs, btrfs, tmpfs), "
        "or set ANYARCH_SNAPSHOTTER=copy",
    )


_chosen_options: tuple[str, ...] | None = None
"""The option set a probe found working; later mounts use only it."""


_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def unmount(target: Path, *, lazy_fallback: bool = True) -> None:
    """Unmount ``target`` (a missing or unmounted path is not an error).

    A busy mount (a process still has its cwd there) is detached lazily
    rather than left behind: it disappears when the last user goes.
    """
    path = os.fsencode(str(target))
    if _lib().umount2(path, 0) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
        return
    if err == errno.EBUSY and lazy_fallback and _lib().umount2(path, _MNT_DETACH) == 0:
        return
    err = ctypes.get_errno() or err
    raise HostCapabilityError(
        f"cannot unmount {target}: {os.strerror(err)}",
        hint=f"unmount it by hand: umount -l {target}",
    )


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo), deepest first."""
    prefix = os.path.realpath(root)
    found: list[str] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) < 5:
                    continue
                point = _unescape_mountinfo(fields[4])
                if point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                    found.append(point)
    except OSError:
        return []
    return [Path(p) for p in sorted(set(found), key=len, reverse=True)]


def _unescape_mountinfo(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo`` octal escapes."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def is_mountpoint(path: Path) -> bool:
    """Whether ``path`` is itself a mount point."""
    real = os.path.realpath(path)
    return any(str(p) == real for p in mounts_under(Path(real)))


def remove_tree(path: Path) -> None:
    """Unmount anything below ``path``, then delete it; missing is fine.

    Unmounting first matters: ``rmtree`` over a live overlay mount would
    delete through it into the snapshot cache.
    """
    if not os.path.lexists(path):
        return
    for point in mounts_under(path):
        unmount(point)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=_retry_writable)
    else:
        os.unlink(path)


def _retry_writable(func: Callable[[str], object], path: str, exc: object) -> None:
    """Retry once after making the parent writable: unprivileged, a layer's 0555 dir blocks rmtree."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path)
        else:
            func(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise CopyError(
            f"cannot remove {path}: {e.strerror or e}",
            hint="check that nothing is mounted there, and its permissions",
        ) from None


_probed: dict[int, bool] = {}


def overlay_supported(where: Path) -> bool:
    """Whether an overlay with upper dir can be mounted with lower/upper/work inside ``where``.

    Probed once per filesystem (by ``st_dev``) by really mounting one; the
    answer is the same for every directory of that filesystem.
    """
    where.mkdir(parents=True, exist_ok=True)
    dev = os.stat(where).st_dev
    if dev in _probed:
        return _probed[dev]
    ok = False
    if os.geteuid() == 0 and _mount_binary() is not None:
        tmp = Path(tempfile.mkdtemp(prefix="probe-", dir=where))
        try:
            for d in ("lower", "upper", "work", "merged"):
                (tmp / d).mkdir()
            (tmp / "lower" / "f").write_bytes(b"x")
            ok = _probe_mount(tmp)
        finally:
            with contextlib.suppress(OSError, HostCapabilityError, BuildError):
                remove_tree(tmp)
    _probed[dev] = ok
    return ok


def _probe_mount(tmp: Path) -> bool:
    global _chosen_options
    for opts in OVERLAY_OPTION_SETS:
        try:
            mount_overlay(
                ["lower"],
                tmp / "merged",
                upper=tmp / "upper",
                work=tmp / "work",
                cwd=tmp,
                extra=opts,
            )
        except OverlayUnavailableError:
            continue
        try:
            os.unlink(tmp / "merged" / "f")  # whiteout creation is what needs privilege
            ok = os.path.exists(tmp / "upper" / "f")
        except OSError:
            ok = False
        finally:
            unmount(tmp / "merged")
        if ok:
            _chosen_options = opts
            return True
    return False


@functools.lru_cache(maxsize=1)
def _cp_reflink() -> bool:
    """GNU cp knows ``--reflink``; busybox cp (Alpine farm nodes) does not."""
    try:
        out = subprocess.run(
            ["cp", "--version"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return False
    return "GNU coreutils" in out


def copy_tree(src: Path, dst: Path, *, hardlink: bool = False) -> None:
    """Copy the *contents* of ``src`` into the new directory ``dst``, preserving everything.

    ``hardlink`` shares file inodes instead of copying data: only for trees
    that nobody writes in place (snapshot cache entries), because a write
    through a shared inode would change every tree holding it.
    """
    if shutil.which("cp") is None:
        raise CopyError(
            "cannot copy a rootfs: the cp command is not installed",
            hint="apt-get install coreutils",
        )
    args = ["cp", "-a"]
    if hardlink:
        args.append("-l")
    elif _cp_reflink():
        args.append("--reflink=auto")
    dst.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*args, "--", f"{src}/.", f"{dst}/"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[0]
        raise CopyError(
            f"cannot copy {src} to {dst}: {first}",
            hint="check free space and permissions of the store directory",
        )


def syncfs(path: Path) -> None:
    """Flush the filesystem holding ``path``: a snapshot is published only once it is on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _lib().syncfs(fd)
    finally:
        os.close(fd)
