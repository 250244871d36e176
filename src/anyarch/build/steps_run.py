"""RUN: turn a planned :class:`anyarch.plan.RunSpec` into a sandbox run, and WORKDIR's mkdir.

The planner's RunSpec says what BuildKit would run (argv with the shell
prepended, env, workdir, user, ``--mount``s, ``--network``); the sandbox's
:class:`anyarch.sandbox.RunSpec` says what crun gets.  In between, each mount
becomes something on the host:

* ``type=cache``: a directory under ``STORE/cache/mounts`` kept across builds,
  keyed by its id (``sharing=locked`` holds a lock for the run,
  ``sharing=private`` gets a fresh directory);
* ``type=bind``: a directory of the build context (read-only; a writable one
  is a throw-away copy) or of another stage's or image's rootfs;
* ``type=tmpfs``: a tmpfs;
* ``type=secret``: the ``--secret`` file, copied with the mount's mode and
  owner into the build's work dir (never into the rootfs: the sandbox
  removes the mount point afterwards, so a secret cannot land in a layer),
  or an environment variable with ``env=``;
* heredoc scripts (``RUN <<EOF`` with ``#!``) are files mounted at
  ``/dev/pipes/<name>``, as BuildKit does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from anyarch.build.context import EntryKind, SourceTree
from anyarch.build.rootfs import remove_tree
from anyarch.errors import BuildError, InvalidInputError
from anyarch.plan import MountSpec
from anyarch.plan import RunSpec as PlanRunSpec
from anyarch.sandbox import Mount, RunResult, resolve_user
from anyarch.sandbox import RunSpec as SandboxRunSpec
from anyarch.sandbox import execute as sandbox_execute

__all__ = ["SecretSource", "make_directory", "parse_secret", "run_command"]

_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True, slots=True)
class SecretSource:
    """A ``--secret``: its id and where its value comes from (a file or an env variable)."""

    id: str
    path: Path | None = None
    env: str | None = None

    def read(self) -> bytes | None:
        """The secret's bytes, or None when its source does not exist."""
        if self.path is not None:
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise BuildError(
                    f"secret {self.id!r}: cannot read {self.path}: {exc.strerror}",
                    hint="check the src= path of --secret",
                ) from None
        if self.env is not None:
            value = os.environ.get(self.env)
            return None if value is None else value.encode()
        return None


def parse_secret(text: str) -> SecretSource:
    """``--secret id=ID[,src=PATH|,env=VAR][,type=file|env]`` (buildx syntax)."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidInputError(
                f"invalid --secret {text!r}: {part!r} is not key=value",
                hint="write --secret id=NAME,src=FILE or --secret id=NAME,env=VARIABLE",
            )
        fields[key.strip().lower()] = value.strip()
    sid = fields.get("id", "")
    kind = fields.get("type", "")
    src = fields.get("src") or fields.get("source")
    env = fields.get("env")
    if kind == "env" and not env:
        env = src or sid
        src = None
    if not sid:
        sid = Path(src).name if src else (env or "")
    if not sid:
        raise InvalidInputError(
            f"invalid --secret {text!r}: no id", hint="write --secret id=NAME,src=FILE"
        )
    if src is None and env is None:
        env = sid  # buildx: a bare id reads the environment variable of that name
    path = Path(src).expanduser() if src else None
    if path is not None and not path.is_file():
        raise InvalidInputError(
            f"--secret id={sid}: {src} is not a readable file",
            hint="give the path of the file holding the secret: --secret id=ID,src=FILE",
        )
    return SecretSource(sid, path, env)


# --- host directories for mounts ----------------------------------------------------


def _cache_mount_dir(cache_root: Path, m: MountSpec, work: Path) -> tuple[Path, int | None]:
    """The host directory of a cache mount, and a lock fd for ``sharing=locked``."""
    if m.sharing == "private":
        path = Path(tempfile.mkdtemp(prefix="cache-private-", dir=work))
        lock_fd = None
    else:
        name = hashlib.sha256(m.cache_id.encode()).hexdigest()[:32]
        path = cache_root / name
        lock_fd = None
        if m.sharing == "locked":
            lock_fd = os.open(
                cache_root / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, m.mode if m.mode is not None else 0o755)
        os.chown(path, m.uid or 0, m.gid or 0)
    return path, lock_fd


def _in_tree(tree_root: Path, source: str, label: str) -> Path:
    tree = SourceTree(tree_root, label=label)
    rel = tree.resolve(source.lstrip("/"), follow_final=True)
    entry = tree.lstat(rel)
    if entry is None:
        raise BuildError(
            f"RUN --mount: source {source!r} not found in {label}",
            hint="the source= path is relative to the root of the context or stage",
        )
    if entry.kind not in (EntryKind.DIR, EntryKind.FILE):
        raise BuildError(
            f"RUN --mount: source {source!r} in {label} is a {entry.kind.value}",
            hint="bind-mount a file or a directory",
        )
    return tree.root / rel if rel else tree.root


@dataclasses.dataclass(slots=True)
class _Prepared:
    mounts: list[Mount]
    env: list[str]
    locks: list[int]
    scratch: list[Path]


def _secret_mount(
    m: MountSpec, secrets: Mapping[str, SecretSource], work: Path, prepared: _Prepared
) -> None:
    source = secrets.get(m.secret_id)
    data = source.read() if source is not None else None
    if data is None:
        if m.required:
            raise BuildError(
                f"RUN --mount=type=secret: secret {m.secret_id!r} is required but was not given",
                hint=f"pass --secret id={m.secret_id},src=FILE",
            )
        return
    if m.env:
        prepared.env.append(f"{m.env}={data.decode(errors='replace')}")
    if not m.target:
        return
    folder = Path(tempfile.mkdtemp(prefix="secret-", dir=work))
    prepared.scratch.append(folder)
    path = folder / "secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fchown(fd, m.uid or 0, m.gid or 0)
        os.fchmod(fd, m.mode if m.mode is not None else 0o400)
    finally:
        os.close(fd)
    prepared.mounts.append(Mount("secret", m.target, source=path, readonly=True))


def _inline_files(spec: PlanRunSpec, work: Path, prepared: _Prepared) -> None:
    if not spec.inline_files:
        return
    folder = Path(tempfile.mkdtemp(prefix="pipes-", dir=work))
    prepared.scratch.append(folder)
    for f in spec.inline_files:
        path = folder / f.name
        path.write_text(f.data, encoding="utf-8", errors="surrogateescape")
        os.chmod(path, 0o755)
        prepared.mounts.append(Mount("bind", f"/dev/pipes/{f.name}", source=path, readonly=True))


@contextlib.contextmanager
def _prepare_mounts(
    spec: PlanRunSpec,
    *,
    context_root: Callable[[], Path],
    stage_roots: Mapping[str, Path],
    secrets: Mapping[str, SecretSource],
    cache_root: Path,
    work: Path,
) -> Iterator[_Prepared]:
    prepared = _Prepared([], [], [], [])
    try:
        for m in spec.mounts:
            if m.type == "cache":
                path, lock_fd = _cache_mount_dir(cache_root, m, work)
                if lock_fd is not None:
                    prepared.locks.append(lock_fd)
                if m.sharing == "private":
                    prepared.scratch.append(path)
                prepared.mounts.append(Mount("cache", m.target, source=path, readonly=m.readonly))
            elif m.type == "bind":
                if m.source_key is not None:
                    root = stage_roots[m.source_key]
                    label = f"stage {m.source_stage or 'source'}"
                else:
                    root = context_root()
                    label = "the build context"
                path = _in_tree(root, m.source, label)
                if not m.readonly:
                    # a writable bind: changes are thrown away, never written to the source
                    copy_dir = Path(tempfile.mkdtemp(prefix="bind-", dir=work))
                    prepared.scratch.append(copy_dir)
                    if path.is_dir():
                        target = copy_dir / "d"
                        shutil.copytree(path, target, symlinks=True)
                    else:
                        target = copy_dir / "f"
                        shutil.copy2(path, target)
                    path = target
                prepared.mounts.append(Mount("bind", m.target, source=path, readonly=m.readonly))
            elif m.type == "tmpfs":
                options = (f"size={m.size_limit}",) if m.size_limit else ()
                prepared.mounts.append(Mount("tmpfs", m.target, options=options))
            elif m.type == "secret":
                _secret_mount(m, secrets, work, prepared)
            elif m.type == "ssh":
                raise BuildError(
                    "RUN --mount=type=ssh is not supported yet",
                    hint="fetch private sources in the context, or use a --secret with a token",
                )
            else:
                raise InvalidInputError(
                    f"RUN --mount=type={m.type} is not a mount type anyarch knows",
                    hint="use type=bind, cache, tmpfs, secret",
                )
        _inline_files(spec, work, prepared)
        yield prepared
    finally:
        for fd in prepared.locks:
            os.close(fd)
        for path in prepared.scratch:
            with contextlib.suppress(OSError):
                remove_tree(path)


def run_command(
    spec: PlanRunSpec,
    rootfs: Path,
    *,
    platform: str,
    network: str,
    context_root: Callable[[], Path],
    stage_roots: Mapping[str, Path],
    secrets: Mapping[str, SecretSource],
    cache_root: Path,
    work: Path,
    on_line: Callable[[str], None] | None = None,
    binfmt_dir: Path | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run one RUN step in ``rootfs`` (the step's writable root) and return how it ended.

    ``cancel`` is the build's stop signal: once set, the process is killed
    promptly even if it prints nothing, and
    :class:`~anyarch.sandbox.runtime.RunCanceledError` is raised.
    ``binfmt_dir`` None means the sandbox's default (``$ANYARCH_BINFMT_DIR``
    or the kernel's).
    """
    if spec.security == "insecure":
        raise BuildError(
            "RUN --security=insecure is not allowed",
            hint="anyarch runs every step sandboxed; drop --security=insecure",
        )
    if spec.devices:
        raise BuildError(
            "RUN --device is not supported",
            hint="drop --device; devices are not passed into build steps",
        )
    net = spec.network if spec.network in ("none", "host") else network
    with _prepare_mounts(
        spec,
        context_root=context_root,
        stage_roots=stage_roots,
        secrets=secrets,
        cache_root=cache_root,
        work=work,
    ) as prepared:
        run_spec = SandboxRunSpec(
            rootfs=rootfs,
            args=spec.args,
            env=[*spec.env, *spec.proxy_env, *prepared.env],
            cwd=spec.workdir or "/",
            user=spec.user,
            network=net,  # type: ignore[arg-type]  # checked: default|none|host
            mounts=prepared.mounts,
            platform=platform,
        )
        return sandbox_execute(
            run_spec,
            stdout_cb=on_line,
            stderr_cb=on_line,
            binfmt_dir=binfmt_dir,
            cancel=cancel,
        )


def make_directory(rootfs: Path, path: str, user: str) -> None:
    """WORKDIR's ``mkdir -p`` inside ``rootfs``, new directories owned by ``user``.

    Symlinks on the way are followed inside the rootfs (as BuildKit's
    ``llb.Mkdir`` does); nothing is created outside it.
    """
    owner = resolve_user(rootfs, user) if user else None
    uid, gid = (owner.uid, owner.gid) if owner is not None else (0, 0)
    tree = SourceTree(rootfs, label="the image rootfs")
    rel = tree.resolve(path.lstrip("/"), follow_final=True)
    fd = os.open(rootfs, _O_DIR)
    try:
        for part in [p for p in rel.split("/") if p]:
            try:
                nfd = os.open(part, _O_DIR, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                os.chown(part, uid, gid, dir_fd=fd, follow_symlinks=False)
                nfd = os.open(part, _O_DIR, dir_fd=fd)
            except NotADirectoryError:
                raise BuildError(
                    f"WORKDIR {path}: /{rel} cannot be created: a file is in the way",
                    hint="choose another directory or remove the file in an earlier step",
                ) from None
            except OSError as exc:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise BuildError(
                        f"WORKDIR {path}: /{rel} cannot be created: a file is in the way",
                        hint="choose another directory or remove the file in an earlier step",
                    ) from exc
                raise
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
