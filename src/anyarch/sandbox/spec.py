"""What to run and how, and the OCI runtime ``config.json`` that says it to crun/runc.

The solver hands the sandbox a :class:`RunSpec` (plain values, no Dockerfile
types: the sandbox must not know where a command came from).  The generated
config follows Docker's and BuildKit's defaults, so a RUN step sees the same
environment it would see under ``docker build``: the same capabilities, the
same masked and read-only /proc paths, the same /dev, a generated
/etc/hosts and /etc/resolv.conf, and the user from the image's /etc/passwd.

Deliberate differences, and why:

* network ``default`` shares the host's network namespace.  BuildKit's default
  is a bridge (CNI) network; anyarch is daemonless and has no bridge, and the
  host network is what a build needs (package downloads) with no setup.
  ``none`` gets a fresh namespace holding only ``lo``.
* no ``/sys/fs/cgroup`` mount and no cgroup namespace: anyarch runs the
  runtime without a cgroup manager (builds set no resource limits, and a
  cgroup mount breaks on hybrid v1/v2 hosts and in nested containers).
* no seccomp profile yet (Docker's default profile only blocks syscalls a
  build does not need; it is a hardening step still to do).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from anyarch.sandbox.binfmt import EmulationStatus, Target, host_target
from anyarch.sandbox.users import ExecUser, resolve_user

OCI_VERSION = "1.0.2"

Network = Literal["default", "none", "host"]
MountKind = Literal["bind", "tmpfs", "cache", "secret"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_HOSTNAME = "anyarch"

#: Docker's default capability set (moby oci/caps/defaults.go).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

#: Docker's default masked paths: kernel internals a build has no business reading.
MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

#: Docker's default read-only paths: host-wide kernel knobs.
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

#: Docker's default RLIMIT_NOFILE, capped below by the host's fs.nr_open.
NOFILE_LIMIT = 1048576
CAP_SYS_RESOURCE = 24


@dataclass(frozen=True, slots=True)
class Mount:
    """One extra mount for the process.

    ``bind``: ``source`` (host path) at ``target``.  ``cache``: a persistent
    host directory the solver prepared (``RUN --mount=type=cache``), mounted
    read-write unless ``readonly``.  ``secret``: a host file with the secret,
    always read-only.  ``tmpfs``: a fresh tmpfs, ``source`` unused.
    ``options`` are extra OCI mount options (``size=64m``, ``mode=1777``...).
    """

    kind: MountKind
    target: str
    source: Path | None = None
    readonly: bool = False
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("bind", "tmpfs", "cache", "secret"):
            raise ValueError(f"unknown mount kind {self.kind!r}")
        if not self.target.startswith("/"):
            raise ValueError(f"mount target {self.target!r} must be an absolute path")
        if self.kind != "tmpfs" and self.source is None:
            raise ValueError(f"a {self.kind} mount at {self.target} needs a source")
        object.__setattr__(self, "options", tuple(self.options))


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One process to run in a rootfs: everything the sandbox needs, nothing else.

    ``user`` is a Dockerfile USER value (``name``, ``name:group``, ``uid``,
    ``uid:gid``; empty = root) resolved against the rootfs.  ``extra_hosts``
    are ``(hostname, ip)`` pairs added to /etc/hosts.  ``platform``
    (``linux/arm64``) is the platform of the rootfs's binaries, so the sandbox
    can check emulation first and give a useful error instead of
    ``exec format error``; None means "the host's".
    """

    rootfs: Path
    args: Sequence[str]
    env: Sequence[str] = ()
    cwd: str = "/"
    user: str = ""
    hostname: str = DEFAULT_HOSTNAME
    network: Network = "default"
    mounts: Sequence[Mount] = ()
    extra_hosts: Sequence[tuple[str, str]] = ()
    terminal: bool = False
    platform: str | None = None
    readonly_rootfs: bool = False

    def __post_init__(self) -> None:
        # Accept lists for convenience but store tuples: the value is frozen.
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "env", tuple(self.env))
        object.__setattr__(self, "mounts", tuple(self.mounts))
        object.__setattr__(self, "extra_hosts", tuple((h, ip) for h, ip in self.extra_hosts))
        if not self.args:
            raise ValueError("RunSpec.args must name a program")
        if not self.cwd.startswith("/"):
            raise ValueError(f"RunSpec.cwd {self.cwd!r} must be an absolute path")
        if self.network not in ("default", "none", "host"):
            raise ValueError(f"unknown network mode {self.network!r}")
        for item in self.env:
            if "=" not in item:
                raise ValueError(f"environment entry {item!r} is not KEY=VALUE")


def _env(spec: RunSpec, user: ExecUser) -> list[str]:
    """The process environment: the spec's, plus PATH and HOME if it lacks them.

    Docker and BuildKit add both, so shells and package managers behave the
    same as under ``docker build``.
    """
    env = list(spec.env)
    keys = {e.split("=", 1)[0] for e in env}
    if "PATH" not in keys:
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if "HOME" not in keys:
        env.append(f"HOME={user.home or '/'}")
    return env


def _has_cap_sys_resource() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << CAP_SYS_RESOURCE))
    except (OSError, ValueError):
        pass
    return False


def _nofile_limit() -> int:
    """Docker's 1048576, but never more than the runtime may set.

    Above fs.nr_open setrlimit fails for everyone; above our own hard limit it
    fails without CAP_SYS_RESOURCE (common in nested containers), and the
    runtime would refuse to start the step.
    """
    limit = NOFILE_LIMIT
    try:
        limit = min(limit, int(Path("/proc/sys/fs/nr_open").read_text().strip()))
    except (OSError, ValueError):
        pass
    if not _has_cap_sys_resource():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
    return limit


def _personality(spec: RunSpec) -> dict[str, Any] | None:
    """LINUX32 for a 32-bit platform run natively on its 64-bit host.

    Without it ``uname -m`` says ``x86_64`` inside a linux/386 build, and
    configure scripts then build 64-bit code.
    """
    if not spec.platform:
        return None
    target = Target.parse(spec.platform)
    host = host_target()
    if (host.arch, target.arch) in (("amd64", "386"), ("arm64", "arm")):
        return {"domain": "LINUX32"}
    return None


def _oci_mount(m: Mount) -> dict[str, Any]:
    if m.kind == "tmpfs":
        opts = ["nosuid", "nodev", *m.options]
        if m.readonly:
            opts.append("ro")
        return {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
    readonly = m.readonly or m.kind == "secret"
    opts = ["rbind", "ro" if readonly else "rw", *m.options]
    if m.kind == "secret":
        opts += ["nosuid", "nodev", "noexec"]
    return {
        "destination": m.target,
        "type": "bind",
        "source": os.path.abspath(str(m.source)),
        "options": opts,
    }


def standard_mounts() -> list[dict[str, Any]]:
    """/proc, /dev (+pts, shm, mqueue) and /sys, as Docker mounts them."""
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]


def oci_runtime_config(
    spec: RunSpec,
    *,
    user: ExecUser | None = None,
    support_dir: Path | None = None,
    emulation: EmulationStatus | None = None,
) -> dict[str, Any]:
    """A complete OCI runtime-spec ``config.json`` (as a dict) for ``spec``.

    ``user`` defaults to resolving ``spec.user`` in the rootfs (which raises
    BuildError for an unknown name).  ``support_dir`` holds the generated
    ``hosts`` and ``resolv.conf`` (see :func:`write_support_files`); they are
    bind-mounted read-only over /etc/hosts and /etc/resolv.conf, as BuildKit
    does.  ``emulation``, when it says the binfmt handler lacks the ``F``
    flag, adds a read-only bind of the static QEMU interpreter at the path the
    kernel will look for it inside the container.
    """
    if user is None:
        user = resolve_user(spec.rootfs, spec.user)
    caps = list(DEFAULT_CAPABILITIES)
    # Like Docker since 20.10.14 (CVE-2022-24769): a non-root user gets no
    # effective/permitted capabilities, only the bounding set.
    granted = caps if user.uid == 0 else []
    gids = [user.gid, *(g for g in user.additional_gids if g != user.gid)]
    nofile = _nofile_limit()

    mounts = standard_mounts()
    if support_dir is not None:
        for name, target in (("hosts", "/etc/hosts"), ("resolv.conf", "/etc/resolv.conf")):
            mounts.append(
                {
                    "destination": target,
                    "type": "bind",
                    "source": str(support_dir / name),
                    "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
                }
            )
    if emulation is not None and emulation.needs_interpreter_mount and emulation.interpreter:
        mounts.append(
            {
                "destination": emulation.interpreter,
                "type": "bind",
                "source": os.path.realpath(emulation.interpreter),
                "options": ["rbind", "ro", "nosuid", "nodev"],
            }
        )
    mounts.extend(_oci_mount(m) for m in spec.mounts)

    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network == "none":
        namespaces.append({"type": "network"})

    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
    }
    personality = _personality(spec)
    if personality is not None:
        linux["personality"] = personality

    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": spec.terminal,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": gids},
            "args": list(spec.args),
            "env": _env(spec, user),
            "cwd": spec.cwd,
            "capabilities": {
                "bounding": caps,
                "effective": granted,
                "permitted": granted,
                "inheritable": [],
                "ambient": [],
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": True,
        },
        # The runtime resolves relative paths against the bundle, not our cwd.
        "root": {"path": os.path.abspath(spec.rootfs), "readonly": spec.readonly_rootfs},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux,
    }


def hosts_file(spec: RunSpec) -> str:
    """/etc/hosts for the process: loopback names, the hostname, extra hosts."""
    lines = [
        f"127.0.0.1\tlocalhost {spec.hostname}".rstrip(),
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    lines += [f"{ip}\t{host}" for host, ip in spec.extra_hosts]
    return "\n".join(lines) + "\n"


def resolv_conf(host_resolv: str | None) -> str:
    """/etc/resolv.conf for the process: the host's, or Google DNS like Docker.

    The process shares the host network namespace (or has none), so the
    host's nameservers, even loopback ones, are the right ones.
    """
    if host_resolv and any(line.split()[:1] == ["nameserver"] for line in host_resolv.splitlines()):
        return host_resolv if host_resolv.endswith("\n") else host_resolv + "\n"
    return "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def write_support_files(spec: RunSpec, directory: Path) -> None:
    """Write ``hosts`` and ``resolv.conf`` for ``spec`` into ``directory``."""
    try:
        host_resolv: str | None = Path("/etc/resolv.conf").read_text(errors="replace")
    except OSError:
        host_resolv = None
    (directory / "hosts").write_text(hosts_file(spec))
    (directory / "resolv.conf").write_text(resolv_conf(host_resolv))
