"""``anyarch build``: docker build's flags, buildx's outputs, any platform.

Progress goes to stderr: BuildKit-style plain lines (``#3 [linux/arm64
stage-0 2/3] RUN uname -m``, the step's output, ``#3 DONE 0.4s`` or
``#3 CACHED``), or one JSON object per line with ``--progress json`` (steps,
output, platform outcomes, the result), nothing with ``quiet``.  At the end a
table shows every platform: PLATFORM, STATUS, HOW (native or emulated), TIME,
DIGEST.  With ``-q`` only the image (or index) digest is printed, on stdout.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from anyarch.cli.farm_flags import farm_options, may_use_farm
from anyarch.cli.output import table
from anyarch.errors import NotFoundError, UsageError

MODES = ("auto", "plain", "tty", "json", "quiet")


def _split_kv(values: Sequence[str], what: str, *, from_env: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {what} {item!r}", hint=f"write {what} KEY=VALUE")
        if not sep:
            if from_env:
                if key in os.environ:
                    out[key] = os.environ[key]
                continue
            raise UsageError(f"invalid {what} {item!r}: no '='", hint=f"write {what} KEY=VALUE")
        out[key] = value
    return out


class Progress:
    """Renders :class:`anyarch.build.solver.BuildEvents` as plain lines or JSON on stderr."""

    def __init__(self, mode: str, err: IO[str] | None = None) -> None:
        if mode in ("auto", "tty"):
            mode = "plain"
        self.mode = mode
        self.live = False
        self.err = err or sys.stderr
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._started = time.monotonic()

    def _write(self, text: str) -> None:
        with self._lock:
            self.err.write(text + "\n")
            self.err.flush()

    def _json(self, obj: dict[str, Any]) -> None:
        obj = {"time": round(time.time(), 3), **obj}
        self._write(json.dumps(obj, ensure_ascii=False))

    def _id(self, key: str) -> int:
        with self._lock:
            if key not in self._ids:
                self._ids[key] = len(self._ids) + 1
            return self._ids[key]

    @staticmethod
    def _plat(p: Any) -> str:
        if isinstance(p, str):  # a replayed build (anyarch.api.fastpath) has them as text
            return p
        from anyarch.oci.platform import format_all

        return format_all(p)

    def on_step(self, event: Any) -> None:
        info = event.info
        if self.mode == "json":
            self._json(
                {
                    "event": "step",
                    "status": event.status,
                    "platform": self._plat(info.platform),
                    "targets": [self._plat(p) for p in info.targets],
                    "step": info.text,
                    "stage": info.stage,
                    "kind": info.kind,
                    "key": info.key,
                    "cached": event.cached,
                    "seconds": round(event.seconds, 3),
                    **({"error": event.error} if event.error else {}),
                }
            )
            return
        if self.mode != "plain":
            return
        n = self._id(info.plan_key)
        head = f"#{n} [{self._plat(info.platform)} {info.label}] {' '.join(info.text.split())}"
        if event.status == "running":
            self._write(head)
        elif event.status == "done" and event.cached:
            if info.kind in ("image", "scratch"):
                self._write(f"{head}\n#{n} DONE {event.seconds:.1f}s")
            else:
                self._write(f"{head}\n#{n} CACHED")
        elif event.status == "done":
            self._write(f"#{n} DONE {event.seconds:.1f}s")
        elif event.status == "error":
            self._write(f"#{n} ERROR: {event.error}")
        else:
            self._write(f"{head}\n#{n} CANCELED")

    def on_log(self, info: Any, line: str) -> None:
        if self.mode == "json":
            self._json(
                {
                    "event": "log",
                    "key": info.key,
                    "platform": self._plat(info.platform),
                    "line": line,
                }
            )
        elif self.mode == "plain":
            n = self._id(info.plan_key)
            self._write(f"#{n} {time.monotonic() - self._started:.3f} {line}")

    def on_platform(self, outcome: Any) -> None:
        if self.mode == "json":
            self._json(
                {
                    "event": "platform",
                    "platform": self._plat(outcome.platform),
                    "status": outcome.status,
                    "how": outcome.how,
                    "seconds": round(outcome.seconds, 3),
                    "digest": str(outcome.image.descriptor.digest) if outcome.image else None,
                    **({"error": outcome.error.message} if outcome.error else {}),
                }
            )

    def on_note(self, text: str) -> None:
        if self.mode == "json":
            self._json({"event": "note", "message": text})
        elif self.mode == "plain":
            self._write(f"=> {text}")

    def summary(self, outcomes: Sequence[Any]) -> None:
        if self.mode != "plain" or not outcomes:
            return
        rows = []
        for o in outcomes:
            status = {"ok": "done", "failed": "FAILED", "canceled": "canceled"}[o.status]
            digest = str(o.image.descriptor.digest) if o.image else "-"
            rows.append([self._plat(o.platform), status, o.how, f"{o.seconds:.1f}s", digest])
        self._write("")
        self._write(table(["PLATFORM", "STATUS", "HOW", "TIME", "DIGEST"], rows))
        for o in outcomes:
            if o.error is not None and o.status == "failed":
                self._write(f"{self._plat(o.platform)}: {o.error.message}")

    def failure_tails(self, result: Any) -> None:
        if self.mode != "plain" or not any(o.error is not None for o in result.outcomes):
            return
        from anyarch.build.solver import failure_tail

        for o in result.outcomes:
            tail = failure_tail(o.error)
            if tail:
                self._write("------")
                self._write(f" > [{self._plat(o.platform)}]:")
                for line in tail[-10:]:
                    self._write(f"   {line}")
                self._write("------")


class LiveProgress(Progress):
    """The TTY view: one live line per platform (its running step, elapsed time, last output).

    Finished steps scroll above the live lines, BuildKit style; at the end
    the live lines go away and the summary table is printed.
    """

    def __init__(self, err: IO[str] | None = None) -> None:
        super().__init__("plain", err)
        from rich.console import Console

        self.live = True
        self.console = Console(file=self.err, force_terminal=True, highlight=False, soft_wrap=True)
        self._rows: dict[str, dict[str, Any]] = {}
        self._live: Any = None

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=8,
            transient=True,
        )
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _render(self) -> Any:
        from rich.text import Text

        text = Text()
        now = time.monotonic()
        with self._lock:
            rows = list(self._rows.items())
        for plat, row in rows:
            elapsed = now - row["since"]
            text.append(f"[{plat}] ", style="bold")
            text.append(f"{row['label']} ", style="cyan")
            text.append(" ".join(row["text"].split())[:80])
            text.append(f"  {elapsed:.1f}s", style="yellow")
            if row.get("line"):
                text.append(f"\n    {row['line'][:100]}", style="dim")
            text.append("\n")
        return text

    def _write(self, text: str) -> None:
        with self._lock:
            if self._live is not None:
                self.console.print(text, markup=False, highlight=False)
            else:
                self.err.write(text + "\n")
                self.err.flush()

    def on_step(self, event: Any) -> None:
        info = event.info
        plats = [self._plat(p) for p in info.targets] or [self._plat(info.platform)]
        head = f"[{self._plat(info.platform)} {info.label}] {' '.join(info.text.split())}"
        if event.status == "running":
            with self._lock:
                for plat in plats:
                    self._rows[plat] = {
                        "label": info.label,
                        "text": info.text,
                        "since": time.monotonic(),
                        "key": info.plan_key,
                    }
            return
        with self._lock:
            for plat in plats:
                row = self._rows.get(plat)
                if row is not None and row["key"] == info.plan_key:
                    del self._rows[plat]
        if info.kind in ("image", "scratch"):
            return
        if event.status == "done":
            word = "CACHED" if event.cached else f"DONE {event.seconds:.1f}s"
            self._write(f"=> {head}  {word}")
        elif event.status == "error":
            self._write(f"=> ERROR {head}: {event.error}")
        else:
            self._write(f"=> CANCELED {head}")

    def on_log(self, info: Any, line: str) -> None:
        with self._lock:
            for p in info.targets or (info.platform,):
                row = self._rows.get(self._plat(p))
                if row is not None and row["key"] == info.plan_key:
                    row["line"] = line

    def on_platform(self, outcome: Any) -> None:
        return None

    def on_note(self, text: str) -> None:
        self._write(f"=> {text}")


def make_progress(mode: str) -> Progress:
    """The renderer for ``--progress``: ``auto`` is the live view on a terminal, else plain."""
    if mode == "auto":
        mode = "tty" if sys.stderr.isatty() else "plain"
    if mode == "tty":
        return LiveProgress()
    return Progress(mode)


def _platforms(values: Sequence[str]) -> tuple[Any, ...]:
    from anyarch.oci.platform import parse_list

    out = []
    for v in values:
        if v.strip() != "all":
            out.extend(parse_list(v))
    return tuple(out)


def _read_dockerfile(
    file: str | None, context: str, stdin: IO[bytes]
) -> tuple[str, str, Path | None]:
    """Text, name for errors, and path (for ``<name>.dockerignore``) of the Dockerfile."""
    if file == "-":
        return stdin.read().decode("utf-8", errors="surrogateescape"), "Dockerfile", None
    if file is None:
        if context == "-":
            raise UsageError(
                "no Dockerfile: the context comes from stdin",
                hint="the tar must contain a Dockerfile, or pass -f",
            )
        path = Path(context) / "Dockerfile"
    else:
        path = Path(file)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        if file is None and not Path(context).exists():
            raise NotFoundError(
                f"build context {context!r} not found",
                hint="pass the directory holding your files (or - to send a tar on stdin)",
            ) from None
        raise NotFoundError(
            f"Dockerfile {str(path)!r} not found",
            hint="name it with -f, or put a Dockerfile in the context directory",
        ) from None
    except IsADirectoryError:
        raise UsageError(
            f"Dockerfile {str(path)!r} is a directory", hint="pass the file with -f"
        ) from None
    return text, str(path) if file is not None else "Dockerfile", path.resolve()


@click.command("build")
@click.option(
    "-t", "--tag", "tags", multiple=True, metavar="NAME[:TAG]", help="Name the image (repeatable)."
)
@click.option(
    "-f",
    "--file",
    "file",
    metavar="FILE",
    help="Dockerfile (default CONTEXT/Dockerfile; - reads stdin).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="P[,P...]",
    help="Target platform(s) (default: this machine's).",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a build argument (repeatable).",
)
@click.option("--target", metavar="STAGE", help="Build this stage (default: the last).")
@click.option(
    "--build-context",
    "build_contexts",
    multiple=True,
    metavar="NAME=DIR|docker-image://REF|oci-layout://PATH",
    help="A named source for FROM/COPY --from/RUN --mount from= (repeatable).",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add a label to the image (repeatable).",
)
@click.option("--no-cache", is_flag=True, help="Run every step, ignoring the build cache.")
@click.option(
    "--cache-to",
    "cache_to",
    multiple=True,
    metavar="type=registry,ref=REF|type=local,dest=DIR",
    help="Export the build cache (one manifest per platform under one ref).",
)
@click.option(
    "--cache-from",
    "cache_from",
    multiple=True,
    metavar="type=registry,ref=REF|type=local,src=DIR",
    help="Use a build cache exported with --cache-to.",
)
@click.option("--pull", is_flag=True, help="Always pull base images, even when the store has them.")
@click.option(
    "--network",
    type=click.Choice(["default", "none", "host"]),
    default="default",
    show_default=True,
    help="Network for RUN steps.",
)
@click.option(
    "--iidfile",
    type=click.Path(path_type=Path),
    help="Write the image (or index) digest to this file.",
)
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write build metadata (JSON, as buildx) to this file.",
)
@click.option("--push", is_flag=True, help="Push the result to the registry of each -t name.")
@click.option(
    "--load",
    is_flag=True,
    hidden=True,
    help="Accepted for buildx compatibility: results always go to the store.",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="type=...,dest=...",
    help="oci|docker|local|tar output (repeatable).",
)
@click.option(
    "--progress",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="Progress output on stderr.",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="id=ID,src=FILE",
    help="Expose a secret to RUN --mount=type=secret.",
)
@click.option(
    "--source-date-epoch",
    type=int,
    metavar="SECONDS",
    help="Timestamps for reproducible images (default $SOURCE_DATE_EPOCH).",
)
@click.option(
    "--rewrite-timestamp",
    is_flag=True,
    hidden=True,
    help="Accepted: layer mtimes are clamped whenever an epoch is set.",
)
@click.option("--keep-going", is_flag=True, help="When a platform fails, finish the others.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=None,
    help="Steps run at once (default: CPU count).",
)
@click.option(
    "--index-format",
    type=click.Choice(["oci", "docker"]),
    default="oci",
    show_default=True,
    help="OCI index or Docker manifest list.",
)
@click.option(
    "--compression",
    type=click.Choice(["gzip", "zstd", "uncompressed"]),
    default="gzip",
    show_default=True,
    help="Layer compression.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the image digest.")
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow plain HTTP / unverified TLS for non-loopback registries.",
)
@click.option(
    "--cacert", type=click.Path(exists=True, dir_okay=False), help="CA bundle for registry TLS."
)
@click.option(
    "--authfile", envvar="REGISTRY_AUTH_FILE", help="Docker config.json with credentials."
)
@click.option(
    "--binfmt-dir",
    type=click.Path(path_type=Path),
    envvar="ANYARCH_BINFMT_DIR",
    hidden=True,
    help="Read binfmt_misc registrations from here.",
)
@click.argument("context")
@click.option("--verify", is_flag=True, help="Run 'anyarch verify' on the result; its errors fail the build.")
@farm_options
@click.pass_context
def build_cmd(
    ctx: click.Context,
    tags: tuple[str, ...],
    file: str | None,
    platforms: tuple[str, ...],
    build_args: tuple[str, ...],
    target: str | None,
    build_contexts: tuple[str, ...],
    labels: tuple[str, ...],
    no_cache: bool,
    cache_to: tuple[str, ...],
    cache_from: tuple[str, ...],
    pull: bool,
    network: str,
    iidfile: Path | None,
    metadata_file: Path | None,
    push: bool,
    load: bool,
    outputs: tuple[str, ...],
    progress: str,
    secrets: tuple[str, ...],
    source_date_epoch: int | None,
    rewrite_timestamp: bool,
    keep_going: bool,
    jobs: int | None,
    index_format: str,
    compression: str,
    quiet: bool,
    insecure: bool,
    cacert: str | None,
    authfile: str | None,
    binfmt_dir: Path | None,
    context: str,
    verify: bool = False,
    builder: str | None = None,
    plan_only: bool = False,
    require_native: bool = False,
    node_push: bool = False,
) -> int | None:
    """Build an image from a Dockerfile and a context directory (- reads a tar on stdin)."""
    if may_use_farm(builder, force=plan_only or require_native or node_push):
        from anyarch.cli.farm_build import farm_builder, run_from_build_params

        farm = farm_builder(builder, force=plan_only or require_native or node_push)
        if farm is not None:
            return run_from_build_params(ctx, farm)
    del load, rewrite_timestamp
    stdin = sys.stdin.buffer
    if file == "-" and context == "-":
        raise UsageError("-f - and CONTEXT - both read stdin", hint="send one of them from a file")
    context_tar: IO[bytes] | None = None
    context_dir: Path | None = None
    path: Path | None = None
    if context == "-":
        data = stdin.read()
        context_tar = io.BytesIO(data)
        if file is None:
            text, name, is_tar = _dockerfile_from_stdin(data)
            if not is_tar:  # `anyarch build - < Dockerfile`: no context at all
                context_tar = None
        else:
            text, name, path = _read_dockerfile(file, context, stdin)
    else:
        text, name, path = _read_dockerfile(file, context, stdin)
        context_dir = Path(context)
    if quiet:
        progress = "quiet"
    out = make_progress(progress)
    arg_map = _split_kv(build_args, "--build-arg", from_env=True)
    label_map = _split_kv(labels, "--label", from_env=False)
    fast = None
    if context != "-" and file != "-":
        fast = _fast_request(
            text, path, context_dir, platforms, arg_map, label_map, target, network, compression,
            index_format, source_date_epoch, binfmt_dir, tags,
        )  # fmt: skip
    replayable = fast is not None and not (
        no_cache or pull or push or outputs or secrets or build_contexts or cache_to or cache_from
    )
    live = out if isinstance(out, LiveProgress) else None
    if live is not None:
        live.__enter__()
    try:
        result: Any = None
        if replayable and fast is not None:
            from anyarch.api import fastpath

            if fastpath.enabled():
                result, why = fastpath.replay(
                    ctx.obj.store_root(), fast, out, iidfile=iidfile, metadata_file=metadata_file
                )
                if ctx.obj.debug:
                    click.echo(f"debug: build fast path: {why}", err=True)
        if result is None:
            result = _full_build(
                ctx, out, text, name, path, context_dir, context_tar, tags, platforms, arg_map,
                target, label_map, no_cache, pull, network, secrets, source_date_epoch, jobs,
                keep_going, push, outputs, index_format, compression, iidfile, metadata_file,
                insecure, cacert, authfile, binfmt_dir, build_contexts, cache_to, cache_from, fast,
            )  # fmt: skip
    finally:
        if live is not None:
            live.stop()
    out.failure_tails(result)
    out.summary(result.outcomes)
    if out.mode == "json":
        out._json(
            {
                "event": "result",
                "digest": str(result.descriptor.digest) if result.descriptor else None,
                "names": list(result.names),
                "steps": result.metadata.get("anyarch.steps"),
            }
        )
    if result.descriptor is not None:
        if quiet:
            click.echo(str(result.descriptor.digest))
        elif out.mode == "plain":
            out._write(f"writing image {result.descriptor.digest} done")
            for n in result.names:
                out._write(f"naming to {n} done")
            for n in result.pushed:
                out._write(f"pushed {n}")
    result.raise_for_failure()
    if verify and result.descriptor is not None:
        _verify_result(ctx.obj.store(), str(result.descriptor.digest))
    return None


def _fast_request(
    text: str,
    path: Path | None,
    context_dir: Path | None,
    platforms: Sequence[str],
    build_args: dict[str, str],
    labels: dict[str, str],
    target: str | None,
    network: str,
    compression: str,
    index_format: str,
    source_date_epoch: int | None,
    binfmt_dir: Path | None,
    tags: Sequence[str],
) -> Any:
    """The fast path's view of this build (:mod:`anyarch.api.fastpath`), or None if it has none.

    Everything as typed, so no OCI or store code is needed to build it.
    """
    from anyarch.api.fastpath import FastRequest

    epoch = source_date_epoch
    if epoch is None:
        raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if raw:
            try:
                epoch = int(raw)
            except ValueError:
                return None  # the full build reports it
    return FastRequest(
        dockerfile=text,
        dockerfile_path=str(path) if path is not None else None,
        context=str(context_dir) if context_dir is not None else None,
        platforms=[p.strip() for v in platforms for p in v.split(",")],
        build_args=build_args,
        target=target,
        labels=labels,
        network=network,
        compression=None if compression == "uncompressed" else compression,
        index_format=index_format,
        epoch=epoch,
        binfmt_dir=str(binfmt_dir) if binfmt_dir is not None else None,
        all_platforms=any(p.strip() == "all" for p in platforms),
        tags=tags,
    )


def _full_build(
    ctx: click.Context,
    out: Progress,
    text: str,
    name: str,
    path: Path | None,
    context_dir: Path | None,
    context_tar: IO[bytes] | None,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    build_args: dict[str, str],
    target: str | None,
    labels: dict[str, str],
    no_cache: bool,
    pull: bool,
    network: str,
    secrets: tuple[str, ...],
    source_date_epoch: int | None,
    jobs: int | None,
    keep_going: bool,
    push: bool,
    outputs: tuple[str, ...],
    index_format: str,
    compression: str,
    iidfile: Path | None,
    metadata_file: Path | None,
    insecure: bool,
    cacert: str | None,
    authfile: str | None,
    binfmt_dir: Path | None,
    build_contexts: tuple[str, ...],
    cache_to: tuple[str, ...],
    cache_from: tuple[str, ...],
    fast: Any,
) -> Any:
    """The build itself (the frontend, planner and solver are imported only now)."""
    from anyarch.api.build import (
        BuildOptions,
        build,
        parse_build_context,
        parse_cache,
        parse_output,
    )
    from anyarch.api.remote import RegistryOptions

    secret_sources: tuple[Any, ...] = ()
    if secrets:
        from anyarch.build.steps_run import parse_secret

        secret_sources = tuple(parse_secret(s) for s in secrets)
    opts = BuildOptions(
        dockerfile=text,
        dockerfile_name=name,
        dockerfile_path=path,
        context=context_dir,
        context_tar=context_tar,
        tags=tags,
        platforms=_platforms(platforms),
        build_args=build_args,
        target=target,
        labels=labels,
        no_cache=no_cache,
        pull=pull,
        network=network,
        secrets=secret_sources,
        source_date_epoch=source_date_epoch,
        jobs=jobs or 0,
        keep_going=keep_going,
        push=push,
        outputs=tuple(parse_output(o) for o in outputs),
        index_format=index_format,
        compression=None if compression == "uncompressed" else compression,
        iidfile=iidfile,
        metadata_file=metadata_file,
        registry=RegistryOptions(insecure=insecure, cacert=cacert, auth_file=authfile),
        binfmt_dir=binfmt_dir,
        stdout=sys.stdout.buffer,
        all_platforms=any(p.strip() == "all" for p in platforms),
        build_contexts=tuple(parse_build_context(c) for c in build_contexts),
        cache_to=tuple(parse_cache(c, export=True) for c in cache_to),
        cache_from=tuple(parse_cache(c, export=False) for c in cache_from),
        fast=fast,
    )
    return build(ctx.obj.store(), opts, out)


def _verify_result(store: object, digest: str) -> None:
    """``--verify``: run ``anyarch verify`` on what was just built; errors fail the build."""
    from anyarch.cli.verify import render_text
    from anyarch.errors import BuildError
    from anyarch.verify import verify_reference

    report = verify_reference(store, f"store:{digest}")  # type: ignore[arg-type]
    click.echo(render_text(report, False), err=True)
    if report.failed(False):
        raise BuildError(
            f"the image built ({digest[:19]}) failed verification",
            hint="the findings above name the platform and file; 'anyarch verify' shows them again",
        )


def _dockerfile_from_stdin(data: bytes) -> tuple[str, str, bool]:
    """The ``Dockerfile`` of a context tar sent on stdin, or stdin itself when it is no tar."""
    import tarfile

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tf:
            for member in tf:
                if member.name.removeprefix("./") == "Dockerfile" and member.isreg():
                    fh = tf.extractfile(member)
                    assert fh is not None
                    return fh.read().decode("utf-8", errors="surrogateescape"), "Dockerfile", True
    except tarfile.TarError:
        return data.decode("utf-8", errors="surrogateescape"), "Dockerfile", False
    raise NotFoundError(
        "the context tar on stdin has no Dockerfile at its root",
        hint="add one, or name it with -f",
    )


def register(cli: click.Group) -> None:
    """Add ``anyarch build`` to the top-level group."""
    cli.add_command(build_cmd)
