"""``anyarch build --builder B``: a multi-platform build spread over a builder's nodes.

The build command calls :func:`run_farm_build` when a builder other than the
local ``default`` is chosen (``--builder`` or ``anyarch builder use``).  This
module sits in the CLI layer because it joins the pieces the farm must not
import: the context walk with ``.dockerignore`` semantics (``anyarch.build``)
and the registry/export jobs (``anyarch.api``).  The farm itself gets a plain
list of files and returns an index in the store.

``--plan`` prints which node gets which platform (native or emulated, and
why) and stops; ``--require-native`` fails before any work when a platform
has no native node.  After a build a table shows PLATFORM, NODE,
NATIVE/EMULATED, TIME and STATUS for every platform.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from anyarch._util.fs import atomic_write_bytes
from anyarch.cli.farm_flags import farm_options
from anyarch.cli.output import table
from anyarch.errors import BuildError, FarmError, NotFoundError, UsageError
from anyarch.farm.config import DEFAULT, FarmConfig
from anyarch.farm.context_sync import DIR, FILE, SYMLINK, ContextEntry, ContextSpec
from anyarch.farm.nodes import NodeSession
from anyarch.farm.scheduler import Plan, describe, normalize_platforms
from anyarch.farm.ssh import node_timeout
from anyarch.store import Store

if TYPE_CHECKING:
    from anyarch.farm.dispatch import FarmResult

# anyarch.farm.dispatch (and what it imports) is imported in run_farm_build once
# the nodes' SSH handshakes are under way: they overlap its import time.

# --- choosing the farm ---------------------------------------------------------------------


def farm_builder(builder: str | None, *, force: bool = False) -> str | None:
    """The builder a build should use, or None for a plain local build.

    ``--builder B`` wins; otherwise the current builder ('anyarch builder use').
    ``default`` (the local machine) means a plain local build, unless ``force``
    (``--plan``, ``--require-native`` and ``--node-push`` need the farm path;
    the local machine is then its only node).
    """
    name = builder or FarmConfig().current_builder()
    if name == DEFAULT and not force:
        return None
    return name


# --- the context, walked here ---------------------------------------------------------------


def context_spec(
    context_dir: Path,
    store: Store,
    *,
    dockerfile: Path | None = None,
    dockerfile_text: str | None = None,
) -> ContextSpec:
    """Walk the context like the local builder (``.dockerignore`` included) into a plain file list."""
    from anyarch.build.cache import cache_dir
    from anyarch.build.context import EntryKind, StatCache, open_context

    context_dir = Path(context_dir)
    if not context_dir.is_dir():
        raise NotFoundError(
            f"build context {str(context_dir)!r} not found or not a directory",
            hint="pass the directory holding your files",
        )
    df_path = dockerfile if dockerfile is not None else context_dir / "Dockerfile"
    if dockerfile_text is None:
        try:
            df_bytes = Path(df_path).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"Dockerfile {str(df_path)!r} not found",
                hint="name it with -f, or put a Dockerfile in the context",
            ) from None
        df_name = Path(df_path).name
    else:
        df_bytes = dockerfile_text.encode("utf-8", errors="surrogateescape")
        df_name = "Dockerfile"
    specific = (
        Path(df_path).with_name(Path(df_path).name + ".dockerignore")
        if dockerfile_text is None
        else None
    )
    ignore_file = specific.read_bytes() if specific is not None and specific.is_file() else None

    cache = StatCache(cache_dir(store) / "stat.db")
    tree = open_context(context_dir, dockerfile=df_path, cache=cache)
    kinds = {EntryKind.FILE: FILE, EntryKind.DIR: DIR, EntryKind.SYMLINK: SYMLINK}
    walked = [e for e in tree.walk(include_build_files=False) if e.kind in kinds]
    digests = tree.digests([e for e in walked if e.kind is EntryKind.FILE])
    cache.flush()
    first_of_inode: dict[tuple[int, int], str] = {}
    entries: list[ContextEntry] = []
    for e in walked:
        link_to = None
        if e.kind is EntryKind.FILE and e.nlink > 1:
            link_to = first_of_inode.setdefault((e.dev, e.ino), e.path)
            if link_to == e.path:
                link_to = None
        entries.append(
            ContextEntry(
                path=e.path,
                kind=kinds[e.kind],
                mode=e.mode,
                mtime_ns=e.mtime_ns,
                size=e.size if e.kind is EntryKind.FILE else 0,
                digest=digests.get(e.path),
                link_target=e.link_target,
                hardlink_to=link_to,
            )
        )
    st = os.stat(context_dir)

    def opener(rel: str) -> IO[bytes]:
        entry = tree.lstat(rel)
        if entry is None:
            raise NotFoundError(
                f"{rel!r} vanished from the build context", hint="run the build again"
            )
        return tree.open(entry)

    return ContextSpec(
        entries=tuple(entries),
        dockerfile_name=df_name,
        dockerfile=df_bytes,
        root_mode=stat.S_IMODE(st.st_mode),
        root_mtime_ns=st.st_mtime_ns,
        ignore_file=ignore_file,
        opener=opener,
        label=f"build context {str(context_dir)!r}",
    )


# --- progress --------------------------------------------------------------------------------


class FarmProgress:
    """Node progress per platform: ``[linux/arm64 node2] …`` lines, JSON lines, or nothing."""

    def __init__(self, mode: str, err: IO[str] | None = None) -> None:
        self.mode = "plain" if mode in ("auto", "tty") else mode
        self.err = err or sys.stderr
        self.lock = threading.Lock()
        self.warnings: list[str] = []

    def _write(self, text: str) -> None:
        with self.lock:
            self.err.write(text + "\n")
            self.err.flush()

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        if self.mode == "json":
            self._write(
                json.dumps({"time": round(time.time(), 3), "event": "warning", "message": message})
            )
        else:
            self._write(f"WARNING: {message}")

    def status(self, platform: str, node: str, status: str) -> None:
        if self.mode == "json":
            self._write(
                json.dumps(
                    {
                        "time": round(time.time(), 3),
                        "event": "farm",
                        "platform": platform,
                        "node": node,
                        "status": status,
                    }
                )
            )
        elif self.mode == "plain":
            self._write(f"[{platform} {node}] {status}")

    def event(self, platform: str, node: str, event: dict[str, Any]) -> None:
        if self.mode == "json":
            self._write(
                json.dumps(
                    {**event, "node": node, "platform": event.get("platform", platform)},
                    ensure_ascii=False,
                )
            )
            return
        if self.mode != "plain":
            return
        line = _render(event)
        if line is not None:
            self._write(f"[{platform} {node}] {line}")


def _render(ev: dict[str, Any]) -> str | None:
    kind = ev.get("event") or ev.get("type")
    if kind == "step":
        step = " ".join(str(ev.get("step", "")).split())
        status = ev.get("status")
        if status == "running":
            return step
        if status == "done":
            return f"{'CACHED' if ev.get('cached') else 'DONE'} {step} {ev.get('seconds', 0):.1f}s"
        if status == "error":
            return f"ERROR {step}: {ev.get('error', '')}"
        return None
    if kind == "log":
        return str(ev.get("line", ev.get("message", "")))
    if kind == "note":
        return f"=> {ev.get('message', '')}"
    if kind == "platform":
        return f"platform {ev.get('status')} ({ev.get('how')}) in {ev.get('seconds', 0):.1f}s"
    return None


# --- plan and summary --------------------------------------------------------------------------


def plan_text(the_plan: Plan) -> str:
    rows = [list(r) for r in describe(the_plan)]
    out = [table(["PLATFORM", "NODE", "NATIVE/EMULATED", "WHY"], rows)]
    for node, why in the_plan.skipped:
        out.append(f"skipped node {node}: {why}")
    out.extend(f"note: {n}" for n in the_plan.notes)
    emulated = [p.platform for p in the_plan.emulated]
    if emulated:
        out.append(f"emulated: {', '.join(emulated)} (QEMU; slower than native)")
    return "\n".join(out)


def summary_text(result: FarmResult) -> str:
    rows = []
    for r in result.results:
        status = {"done": "done", "failed": "FAILED", "cancelled": "canceled"}.get(
            r.status, r.status
        )
        if len(r.attempts) > 1:
            lost = ", ".join(a.node for a in r.attempts if a.status == "lost")
            status += (
                f" (rebuilt after losing {lost})" if lost else f" ({len(r.attempts)} attempts)"
            )
        rows.append([r.platform, r.node, r.mode.value.upper(), f"{r.seconds:.1f}s", status])
    return table(["PLATFORM", "NODE", "NATIVE/EMULATED", "TIME", "STATUS"], rows)


# --- the job -----------------------------------------------------------------------------------


def forwarded_args(
    *,
    build_args: Sequence[str] = (),
    target: str | None = None,
    labels: Sequence[str] = (),
    no_cache: bool = False,
    pull: bool = False,
    network: str | None = None,
    source_date_epoch: int | None = None,
    compression: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``anyarch build`` flags every node gets (values resolved here, on the coordinator)."""
    args: list[str] = []
    for item in build_args:
        key, sep, value = item.partition("=")
        if not sep:
            if key not in os.environ:
                continue  # docker: --build-arg KEY without a value takes it from the environment, if set
            value = os.environ[key]
        args += ["--build-arg", f"{key}={value}"]
    if target:
        args += ["--target", target]
    for label in labels:
        args += ["--label", label]
    if no_cache:
        args.append("--no-cache")
    if pull:
        args.append("--pull")
    if network and network != "default":
        args += ["--network", network]
    epoch = source_date_epoch
    if epoch is None and os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        try:
            epoch = int(os.environ["SOURCE_DATE_EPOCH"].strip())
        except ValueError:
            raise UsageError(
                "SOURCE_DATE_EPOCH is not a number of seconds", hint="unset it or fix it"
            ) from None
    if epoch is not None:
        args += ["--source-date-epoch", str(epoch)]
    if compression:
        args += ["--compression", compression]
    args += list(extra)
    return args


def _outputs(outputs: Sequence[str]) -> tuple[list[tuple[str, str, bool]], bool]:
    """(type, dest, tar) for file outputs, and whether an output asked to push.

    ``anyarch.api.build`` is imported only when there are outputs: it pulls in
    the whole build machinery (~0.2 s), which a farm build without --output
    never needs on the coordinator, and every farm build waits for it before
    its first SSH connection.
    """
    files: list[tuple[str, str, bool]] = []
    push = False
    if not outputs:
        return files, push
    from anyarch.api.build import parse_output

    for text in outputs:
        spec = parse_output(text)
        if spec.type in ("image", "registry"):
            push = push or spec.push
            continue
        if spec.type != "oci":
            raise UsageError(
                f"--output type={spec.type} is not supported with --builder",
                hint="use --output type=oci,dest=FILE.tar (or --push); other outputs work with local builds",
            )
        if spec.dest == "-":
            raise UsageError(
                "--output dest=- is not supported with --builder", hint="give a file name"
            )
        assert spec.dest is not None
        files.append((spec.type, spec.dest, spec.tar))
    return files, push


class _Background:
    """Runs a function in a daemon thread; :meth:`result` waits and returns or raises.

    A daemon thread, so an error elsewhere (no node answered) ends the command
    without waiting for it.
    """

    def __init__(self, fn: Callable[[], ContextSpec]) -> None:
        self._fn = fn
        self._value: ContextSpec | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as e:  # handed to the caller of result()
            self._error = e

    def result(self) -> ContextSpec:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def run_farm_build(
    ctx: click.Context,
    builder: str,
    platforms: Sequence[str],
    *,
    context_dir: Path,
    dockerfile: Path | None = None,
    dockerfile_text: str | None = None,
    tags: Sequence[str] = (),
    node_args: Sequence[str] = (),
    plan_only: bool = False,
    require_native: bool = False,
    keep_going: bool = False,
    push: bool = False,
    node_push: bool = False,
    outputs: Sequence[str] = (),
    metadata_file: Path | None = None,
    iidfile: Path | None = None,
    progress: str = "auto",
    registry: Any = None,
    connect_timeout: float | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Build ``platforms`` on ``builder``'s nodes; returns the exit status.

    ``node_args`` are ``anyarch build`` flags every node gets (see
    :func:`forwarded_args`).  Results land in the store as one index, tagged
    ``tags``; then ``outputs`` (``type=oci,dest=…``) are written and, with
    ``push``, the index is pushed from here — or with ``node_push`` the nodes
    push their images and only the index is pushed from here.  With
    ``keep_going`` a platform that fails does not stop the others; what
    succeeded is published and the exit status is still non-zero.
    """
    # anyarch.api (export, push) is imported where it is used, after the build:
    # a plain farm build never needs it, and it delayed the first ssh by ~40 ms
    from anyarch.name import parse_reference

    stdout = out or sys.stdout
    reporter = FarmProgress(progress, err)
    store: Store = ctx.obj.store()
    files, output_push = _outputs(outputs)
    push = push or output_push
    refs = [parse_reference(t) for t in tags]
    if push and not refs:
        raise UsageError("--push needs a name to push to", hint="add -t REGISTRY/REPOSITORY:TAG")
    if node_push and not push:
        raise UsageError("--node-push only makes sense with --push", hint="add --push")
    wanted = normalize_platforms(platforms)
    if not wanted:
        raise UsageError(
            "a farm build needs --platform", hint="e.g. --platform linux/amd64,linux/arm64"
        )

    config = FarmConfig()
    b = config.builder(builder)
    timeout = connect_timeout if connect_timeout is not None else node_timeout()
    sessions = [
        NodeSession.open(
            config, n, connect_timeout=timeout, local_env={"ANYARCH_STORE": str(store.root)}
        )
        for n in b.nodes
    ]
    try:
        for s in sessions:
            s.connect_soon()  # the SSH handshakes overlap the imports and the walk below
        # Walk and hash the context while the nodes are probed (SSH connection, a
        # process on each node): both take about a second on a large context.
        spec_job = (
            None
            if plan_only
            else _Background(
                lambda: context_spec(
                    context_dir, store, dockerfile=dockerfile, dockerfile_text=dockerfile_text
                )
            )
        )
        from anyarch.farm.dispatch import FarmRequest, execute, plan, probe

        infos = probe(sessions, wanted, reporter=reporter, serve=not plan_only)
        if not any(i.reachable for i in infos):
            raise FarmError(
                f"no node of builder {b.name} answered",
                hint="; ".join(f"{i.name}: {i.error}" for i in infos)
                or "add nodes with 'anyarch builder create --append'",
            )
        the_plan = plan(infos, wanted, require_native=require_native)
        if plan_only:
            stdout.write(plan_text(the_plan) + "\n")
            return 0
        placed = {p.node for p in the_plan.placements}
        for s in sessions:
            if s.name not in placed:
                s.discard_served()  # a node with nothing to build: its probe process can go
        if the_plan.emulated:
            reporter.warning(
                "emulated (QEMU, slower than native): "
                + ", ".join(f"{p.platform} on {p.node}" for p in the_plan.emulated)
            )
        assert spec_job is not None
        spec = spec_job.result()
        repos = (
            tuple(dict.fromkeys(f"{r.registry}/{r.repository}" for r in refs)) if node_push else ()
        )
        request = FarmRequest(
            platforms=wanted,
            context=spec,
            build_args=tuple(node_args),
            require_native=require_native,
            keep_going=keep_going,
            node_push=repos,
            connect_timeout=timeout,
        )
        result = execute(b.name, request, sessions, infos, the_plan, store, reporter=reporter)
    finally:
        for s in sessions:
            s.close()

    assert result.index is not None and result.index_raw is not None
    names: list[str] = []
    if not node_push:
        names = [store.tag(t, result.index) for t in tags]
        if not names:
            store.add_unnamed(result.index)
    for _kind, dest, tar in files:
        if node_push:
            raise UsageError(
                "--node-push leaves no image here to write to --output", hint="drop one of them"
            )
        from anyarch.api.local import export_image

        export_image(
            store,
            names[0] if names else str(result.index.digest),
            Path(dest),
            fmt="oci-archive" if tar else "oci",
        )
    pushed: list[str] = []
    if push:
        from anyarch.api.remote import RegistryOptions, connect
        from anyarch.api.remote import push as push_image
        from anyarch.farm.publish import publish_index

        opts = registry if registry is not None else RegistryOptions()
        if node_push:
            pushed = publish_index(
                lambda host: connect(host, opts), refs, result.index, result.index_raw
            )
        else:
            for n in names:
                push_image(store, n, opts)
                pushed.append(n)
    meta = result.metadata()
    if names or tags:
        meta["image.name"] = ",".join(names or [str(r) for r in refs])
    if metadata_file is not None:
        atomic_write_bytes(metadata_file, (json.dumps(meta, indent=2) + "\n").encode())
    if iidfile is not None:
        atomic_write_bytes(iidfile, str(result.index.digest).encode())
    if reporter.mode == "json":
        reporter._write(
            json.dumps(
                {
                    "time": round(time.time(), 3),
                    "event": "result",
                    "digest": str(result.index.digest),
                    "names": names,
                    "pushed": pushed,
                    "platforms": meta["anyarch.farm"],
                }
            )
        )
    elif reporter.mode != "quiet":
        reporter._write("")
        reporter._write(summary_text(result))
        reporter._write(f"writing index {result.index.digest} done")
        for n in names:
            reporter._write(f"naming to {n} done")
        for n in pushed:
            reporter._write(f"pushed {n}")
    else:
        stdout.write(str(result.index.digest) + "\n")
    if result.failed:
        errors = [r.error for r in result.failed if r.error is not None]
        names_failed = ", ".join(r.platform for r in result.failed)
        cls = BuildError if errors and all(isinstance(e, BuildError) for e in errors) else FarmError
        raise cls(
            f"{len(result.failed)} of {len(result.results)} platforms failed ({names_failed})"
            + (f": {errors[0].message}" if errors else ""),
            hint="the index holds the platforms that succeeded (--keep-going); fix the failure and rebuild",
        )
    return 0


def run_from_build_params(ctx: click.Context, builder: str) -> int:
    """Run a farm build from ``anyarch build``'s parsed parameters (``ctx.params``).

    The build command calls this when :func:`farm_builder` names a builder::

        farm = farm_builder(params["builder"], force=params["plan_only"] or ...)
        if farm is not None:
            return run_from_build_params(ctx, farm)
    """
    p = ctx.params
    if p.get("secrets"):
        raise UsageError(
            "--secret is not supported with --builder yet",
            hint="secrets would have to be copied to every node; build locally for now",
        )
    context = str(p["context"])
    if context == "-":
        raise UsageError("a farm build needs a context directory, not -", hint="pass the directory")
    file = p.get("file")
    dockerfile_text = None
    dockerfile = None
    if file == "-":
        dockerfile_text = sys.stdin.read()
    elif file:
        dockerfile = Path(file)
    if p.get("index_format", "oci") != "oci":
        raise UsageError(
            "--index-format docker is not supported with --builder", hint="drop it (OCI index)"
        )
    compression = p.get("compression")
    extra: list[str] = []
    for item in p.get("build_contexts") or ():
        name, _, value = str(item).partition("=")
        if not value.startswith("docker-image://"):
            raise UsageError(
                f"--build-context {item}: a local directory or layout is not sent to farm nodes",
                hint="use docker-image://REF (each node pulls it), or build locally",
            )
        extra += ["--build-context", f"{name}={value}"]
    for flag, key in (("--cache-from", "cache_from"), ("--cache-to", "cache_to")):
        for item in p.get(key) or ():
            if "type=registry" not in str(item).replace(" ", ""):
                raise UsageError(
                    f"{flag} {item}: only type=registry caches work with --builder",
                    hint="every node reads and writes the cache in the registry itself",
                )
            extra += [flag, str(item)]
    if p.get("jobs"):
        extra += ["--jobs", str(p["jobs"])]
    node_args = forwarded_args(
        build_args=p.get("build_args", ()),
        target=p.get("target"),
        labels=p.get("labels", ()),
        no_cache=bool(p.get("no_cache")),
        pull=bool(p.get("pull")),
        network=p.get("network"),
        source_date_epoch=p.get("source_date_epoch"),
        compression=compression if compression not in (None, "gzip") else None,
        extra=extra,
    )
    progress = "quiet" if p.get("quiet") else str(p.get("progress") or "auto")
    return run_farm_build(
        ctx,
        builder,
        list(p.get("platforms") or ()),
        context_dir=Path(context),
        dockerfile=dockerfile,
        dockerfile_text=dockerfile_text,
        tags=list(p.get("tags") or ()),
        node_args=node_args,
        plan_only=bool(p.get("plan_only")),
        require_native=bool(p.get("require_native")),
        keep_going=bool(p.get("keep_going")),
        push=bool(p.get("push")),
        node_push=bool(p.get("node_push")),
        outputs=list(p.get("outputs") or ()),
        metadata_file=p.get("metadata_file"),
        iidfile=p.get("iidfile"),
        progress=progress,
        registry=_registry_options(p) if p.get("push") or p.get("outputs") else None,
    )


def _registry_options(p: dict[str, Any]) -> Any:
    """How to reach registries, for a build that pushes (imports anyarch.api.remote)."""
    from anyarch.api.remote import RegistryOptions

    return RegistryOptions(
        insecure=bool(p.get("insecure")), cacert=p.get("cacert"), auth_file=p.get("authfile")
    )


__all__ = [
    "context_spec",
    "farm_builder",
    "farm_options",
    "forwarded_args",
    "plan_text",
    "run_farm_build",
    "run_from_build_params",
    "summary_text",
]
