"""The solver: run a build plan for every target platform, cache first, steps shared.

Given a Dockerfile and options, :class:`Solver` does what BuildKit's solver
does for a ``dockerfile.v0`` build, without a daemon:

1. **Plan.**  Parse, resolve the base images every target platform needs
   (through an :data:`ImageProvider`: the store, else a pull of only that
   platform), and plan (:func:`anyarch.plan.build_plan`).
2. **Keys.**  Complete each step's cache key in dependency order: a COPY/ADD
   (or a RUN bind-mounting the context) adds the digest of what it reads,
   computed from the context's stat cache without reading unchanged files.
   Missing COPY sources fail here, before anything runs.
3. **Check the host.**  Every RUN that will really run (not cached) needs its
   platform to be runnable here; missing emulation fails *before* the build
   starts, naming the platform and pointing to ``anyarch doctor``.
4. **Run.**  Filesystem steps form a graph keyed by plan key, so a step that
   several platforms share (a ``FROM --platform=$BUILDPLATFORM`` stage that
   reads no ``TARGET*`` argument, a COPY into identical bases) runs once.
   Steps run concurrently up to ``jobs`` (emulated RUNs do not hold up native
   ones); a cached step is a lookup.  Without ``keep_going`` the first failure
   stops everything not yet started; with it, only the platforms that need
   the failed step fail.
5. **Images.**  As soon as a platform's last step is done its config and
   manifest are written (:mod:`anyarch.build.image_writer`).

Progress goes to a :class:`BuildEvents` receiver: one :class:`StepEvent`
when a step starts running and one when it ends (``cached`` says whether it
ran), output lines, and each platform's outcome.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Literal, Protocol

from anyarch.build.cache import BuildCache, CacheRecord
from anyarch.build.context import EntryKind
from anyarch.build.executor import Session, StepFailedError, execute_layer_step, located
from anyarch.build.image_writer import ImageDocuments, write_image
from anyarch.build.steps_copy import content_digest
from anyarch.build.steps_fs import FsState, LayerRef
from anyarch.dockerfile import parse
from anyarch.dockerfile.instructions import Instructions, parse_stages
from anyarch.errors import (
    AnyarchError,
    BuildError,
    EmulationUnavailableError,
    PlatformNotFoundError,
    UsageError,
)
from anyarch.oci import Descriptor, ImageConfig, Manifest, created_at
from anyarch.oci.platform import Platform, host_platform, normalize
from anyarch.oci.platform import format as format_platform
from anyarch.plan import (
    CopySpec,
    ImageKey,
    ImageMeta,
    Plan,
    PlanOptions,
    PlatformPlan,
    RunSpec,
    SourceSpec,
    Step,
    StepKind,
    build_plan,
    required_images,
)
from anyarch.sandbox.binfmt import BINFMT_DIR, probe, require
from anyarch.sandbox.runtime import RunCanceledError

__all__ = [
    "BaseImage",
    "BuildEvents",
    "BuildRequest",
    "ImageProvider",
    "NoEvents",
    "PlatformOutcome",
    "SolveResult",
    "Solver",
    "StepEvent",
    "StepInfo",
]

How = Literal["native", "emulated"]
Status = Literal["ok", "failed", "canceled"]


@dataclasses.dataclass(frozen=True, slots=True)
class BaseImage:
    """A base image resolved for one platform; its layers are in the store."""

    ref: str
    platform: Platform
    descriptor: Descriptor
    manifest: Manifest
    config: ImageConfig
    local_dir: Path | None = None


ImageProvider = Callable[[str, Platform], BaseImage]
"""``(reference, platform) -> BaseImage``: from the store, or pulled (only that platform)."""

RemoteCache = Callable[[str], CacheRecord | None]
"""``record key -> CacheRecord``: an imported cache (``--cache-from``); it puts the layer blob in the store."""

PlatformLister = Callable[[str], list[Platform]]
"""``reference -> platforms`` an image offers (for ``--platform all``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BuildRequest:
    """What to build: the Dockerfile text and the ``docker build`` options that shape the plan."""

    dockerfile: str
    dockerfile_name: str = "Dockerfile"
    platforms: tuple[Platform, ...] = ()
    build_args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    no_cache: bool = False
    keep_going: bool = False
    jobs: int = 0
    docker_media_types: bool = False
    all_platforms: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class StepInfo:
    """A step as progress output shows it.

    ``platform`` is where it executes; ``targets`` the target platforms
    that need it (more than one for a shared step); ``label`` is BuildKit's
    ``stage i/n``.
    """

    plan_key: str
    key: str
    text: str
    stage: str
    kind: str
    platform: Platform
    targets: tuple[Platform, ...]
    label: str


@dataclasses.dataclass(frozen=True, slots=True)
class StepEvent:
    """A step started (``running``) or ended (``done``, ``error``, ``canceled``)."""

    info: StepInfo
    status: Literal["running", "done", "error", "canceled"]
    cached: bool
    seconds: float
    error: str | None = None


@dataclasses.dataclass(slots=True)
class PlatformOutcome:
    """How one target platform ended: its image, or why there is none."""

    platform: Platform
    status: Status
    how: How
    seconds: float
    image: ImageDocuments | None = None
    state: FsState | None = None
    error: AnyarchError | None = None


@dataclasses.dataclass(slots=True)
class SolveResult:
    """Every target platform's outcome, in the order they were asked for."""

    plan: Plan | None
    outcomes: list[PlatformOutcome]
    steps_run: int = 0
    steps_cached: int = 0
    context_files_read: int = 0

    @property
    def succeeded(self) -> list[PlatformOutcome]:
        return [o for o in self.outcomes if o.status == "ok"]

    @property
    def failed(self) -> list[PlatformOutcome]:
        return [o for o in self.outcomes if o.status != "ok"]


class BuildEvents(Protocol):
    """Receives build progress (the CLI renders it as lines, JSON or a live view)."""

    def on_step(self, event: StepEvent) -> None: ...

    def on_log(self, info: StepInfo, line: str) -> None: ...

    def on_platform(self, outcome: PlatformOutcome) -> None: ...

    def on_note(self, text: str) -> None: ...


class NoEvents:
    """A :class:`BuildEvents` that ignores everything."""

    def on_step(self, event: StepEvent) -> None:
        return None

    def on_log(self, info: StepInfo, line: str) -> None:
        return None

    def on_platform(self, outcome: PlatformOutcome) -> None:
        return None

    def on_note(self, text: str) -> None:
        return None


class _Canceled(BuildError):
    """A step that never ran because the build stopped at another failure."""


def _now() -> str:
    return created_at(int(time.time()))


class Solver:
    """One build: plan, keys, host check, run, images (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        request: BuildRequest,
        provider: ImageProvider,
        *,
        events: BuildEvents | None = None,
        cache: BuildCache | None = None,
        platform_lister: PlatformLister | None = None,
        remote_cache: RemoteCache | None = None,
    ) -> None:
        self.session = session
        self.request = request
        self.provider = provider
        self.events: BuildEvents = events or NoEvents()
        self.cache = cache
        self.platform_lister = platform_lister
        self.remote_cache = remote_cache
        self._all: list[Platform] | None = None
        self.host = normalize(host_platform())
        self.binfmt_dir = session.binfmt_dir or BINFMT_DIR
        self.bases: dict[str, BaseImage] = {}
        self.final: dict[str, str] = {}
        self.content: dict[str, str] = {}
        self._content_memo: dict[str, str] = {}
        self.info: dict[str, StepInfo] = {}
        self._lock = threading.Lock()
        self._steps_run = 0
        self._stopping = session.cancel  # one event: the sandbox kills running RUNs on it
        self._steps_cached = 0

    # -- 1. plan ------------------------------------------------------------------

    def _targets(self) -> list[Platform]:
        wanted = self._all or self.request.platforms or (self.host,)
        return list(dict.fromkeys(normalize(p) for p in wanted))

    def _every_platform(self, instructions: Instructions) -> list[Platform]:
        """``--platform all``: the platforms every target-platform base image offers.

        Stages that run on the build platform (``FROM --platform=$BUILDPLATFORM``)
        do not count: asked for an odd target, only the per-target bases show up.
        """
        odd = (
            Platform("linux", "s390x")
            if self.host.architecture != "s390x"
            else Platform("linux", "riscv64")
        )
        keys = required_images(instructions, self._options((odd,)), {})
        refs = list(dict.fromkeys(k.ref for k in keys if normalize(k.platform) == normalize(odd)))
        if not refs or self.platform_lister is None:
            raise UsageError(
                "--platform all takes the platforms of the base image, but the target stage has none",
                hint="name the platforms: --platform linux/amd64,linux/arm64",
            )
        offered: list[Platform] | None = None
        for ref in refs:
            have = [normalize(p) for p in self.platform_lister(ref) if p.os != "unknown"]
            offered = have if offered is None else [p for p in offered if p in have]
        if not offered:
            raise PlatformNotFoundError(
                f"--platform all: the base images ({', '.join(refs)}) have no platform in common",
                hint="name the platforms to build with --platform",
            )
        return list(dict.fromkeys(offered))

    def _options(self, platforms: tuple[Platform, ...]) -> PlanOptions:
        r = self.request
        return PlanOptions(
            platforms=platforms,
            build_platform=self.host,
            build_args=r.build_args,
            target=r.target,
            labels=r.labels,
            no_cache=r.no_cache,
        )

    def _resolve_images(
        self,
        instructions: Instructions,
        opts: PlanOptions,
        images: dict[ImageKey, ImageMeta | None],
    ) -> None:
        while missing := [
            k for k in required_images(instructions, opts, images) if k not in images
        ]:
            for key in missing:
                base = self.provider(key.ref, key.platform)
                meta = ImageMeta.from_config(str(base.descriptor.digest), base.config.to_json())
                images[key] = meta
                self.bases[str(base.descriptor.digest)] = base

    def plan(self) -> tuple[Plan | None, dict[Platform, AnyarchError]]:
        """Parse, resolve base images per platform and plan; failures per platform with keep-going."""
        parsed = parse(self.request.dockerfile, filename=self.request.dockerfile_name)
        instructions = parse_stages(parsed)
        if self.request.all_platforms:
            self._all = self._every_platform(instructions)
            self.events.on_note("platforms: " + ", ".join(format_platform(p) for p in self._all))
        images: dict[ImageKey, ImageMeta | None] = {}
        failed: dict[Platform, AnyarchError] = {}
        targets = self._targets()
        for platform in targets:
            try:
                self._resolve_images(instructions, self._options((platform,)), images)
            except AnyarchError as err:
                if not self.request.keep_going or len(targets) == 1:
                    raise
                failed[platform] = err
        ok = tuple(p for p in targets if p not in failed)
        if not ok:
            return None, failed
        return build_plan(instructions, self._options(ok), images), failed

    # -- 2. keys -------------------------------------------------------------------------

    def _bind_digest(self, spec: RunSpec) -> str:
        tree = self.session.context()
        paths: list[str] = []
        for m in spec.mounts:
            if not m.from_context:
                continue
            rel = tree.resolve(m.source.lstrip("/"), follow_final=True)
            entry = tree.lstat(rel)
            if entry is None:
                raise BuildError(
                    f"RUN --mount: source {m.source!r} not found in the build context",
                    hint="the source= path is relative to the context root",
                )
            stack = [entry]
            while stack:
                e = stack.pop()
                paths.append(e.path)
                if e.kind is EntryKind.DIR:
                    stack.extend(tree.listdir(e.path))
        return tree.context_digest(paths) if paths else "sha256:" + "0" * 64

    def _content(self, step: Step) -> str:
        if isinstance(step.spec, CopySpec):
            # the same COPY on every platform reads the same files: resolve it once
            memo = repr(step.spec.key_data())
            found = self._content_memo.get(memo)
            if found is None:
                found = content_digest(step.spec, self.session.context, self.session.downloads)
                self._content_memo[memo] = found
            return found
        if isinstance(step.spec, RunSpec):
            return self._bind_digest(step.spec)
        raise BuildError(f"step {step.text!r} needs content of an unknown kind", hint="a bug")

    def compute_keys(self, plan: Plan) -> dict[str, AnyarchError]:
        """Final keys of every step; returns the steps whose key could not be computed."""
        broken: dict[str, AnyarchError] = {}
        for step in plan.topological():
            bad = next((broken[k] for k in step.inputs if k in broken), None)
            if bad is not None:
                broken[step.key] = bad
                continue
            try:
                digest = self._content(step) if step.needs_content else None
                self.final[step.key] = step.resolve_key(
                    [self.final[k] for k in step.inputs], digest
                )
                if digest is not None:
                    self.content[step.key] = digest
            except AnyarchError as err:
                err = located(step, err)
                if not self.request.keep_going:
                    raise err from None
                broken[step.key] = err
        return broken

    # -- 3. host -----------------------------------------------------------------------

    def _cached(self, step: Step) -> CacheRecord | None:
        if self.cache is None or step.no_cache or step.key not in self.final:
            return None
        key = self.final[step.key]
        found = self.cache.get(key, self.session.variant)
        if found is None and self.remote_cache is not None:
            found = self.remote_cache(BuildCache.record_key(key, self.session.variant))
            if found is not None:
                self.cache.put(key, self.session.variant, found)
        return found

    def platform_records(self, pp: PlatformPlan) -> list[tuple[str, CacheRecord]]:
        """The cache records of a platform's layer steps (row key, record), for ``--cache-to``."""
        out: list[tuple[str, CacheRecord]] = []
        if self.cache is None:
            return out
        for step in pp.steps:
            if not step.kind.makes_layer or step.key not in self.final:
                continue
            key = self.final[step.key]
            record = self.cache.get(key, self.session.variant)
            if record is not None:
                out.append((BuildCache.record_key(key, self.session.variant), record))
        return out

    def check_host(self, plan: Plan, skip: set[Platform]) -> dict[Platform, AnyarchError]:
        """Emulation for every RUN that will run; the platforms that cannot build here."""
        needed: dict[str, list[Step]] = {}
        for step in plan.topological():
            if step.kind is StepKind.RUN and self._cached(step) is None:
                needed.setdefault(format_platform(step.platform), []).append(step)
        failed: dict[Platform, AnyarchError] = {}
        for exec_platform, steps in needed.items():
            try:
                require(exec_platform, binfmt_dir=self.binfmt_dir)
            except EmulationUnavailableError as err:
                owners = {p for s in steps for p in plan.platforms_of(s.key)} - skip
                if not owners:
                    continue
                if not self.request.keep_going:
                    raise
                for p in owners:
                    failed[p] = err
        return failed

    def how(self, pp: PlatformPlan) -> How:
        """``emulated`` when any RUN of the platform's plan executes under QEMU."""
        for step in pp.steps:
            if step.kind is StepKind.RUN:
                status = probe(format_platform(step.platform), binfmt_dir=self.binfmt_dir)
                if status.how == "emulated":
                    return "emulated"
        return "native"

    # -- 4. run ----------------------------------------------------------------------------

    def _make_info(self, plan: Plan) -> None:
        labels: dict[str, str] = {}
        for pp in plan.platforms:
            for stage in pp.stages:
                n = len(stage.steps)
                for i, key in enumerate(stage.steps, 1):
                    labels.setdefault(key, f"{stage.display} {i}/{n}")
        for step in plan.topological():
            self.info[step.key] = StepInfo(
                plan_key=step.key,
                key=self.final.get(step.key, step.key),
                text=step.text,
                stage=step.stage,
                kind=step.kind.value,
                platform=step.platform,
                targets=plan.platforms_of(step.key),
                label=labels.get(step.key, step.stage),
            )

    def _source_state(self, step: Step) -> FsState:
        spec = step.spec
        if step.kind is StepKind.SCRATCH:
            return FsState()
        assert isinstance(spec, SourceSpec)
        base = self.bases[spec.digest]
        if base.local_dir is not None:
            return FsState(local_dir=base.local_dir, local_name=base.ref)
        diff_ids = base.config.diff_ids
        layers = tuple(
            LayerRef(d, diff_id) for d, diff_id in zip(base.manifest.layers, diff_ids, strict=False)
        )
        if len(layers) != len(base.manifest.layers) or len(diff_ids) != len(layers):
            raise BuildError(
                f"base image {base.ref} ({format_platform(base.platform)}) lists "
                f"{len(base.manifest.layers)} layers but {len(diff_ids)} diff IDs",
                hint="the image is malformed; rebuild or re-pull it with --pull",
            )
        return FsState(layers, len(layers), ())

    def _run_node(self, step: Step, inputs: Mapping[str, FsState]) -> FsState:
        info = self.info[step.key]
        started = time.monotonic()
        if step.kind in (StepKind.IMAGE, StepKind.SCRATCH):
            state = self._source_state(step)
            self.events.on_step(StepEvent(info, "done", True, 0.0))
            return state
        assert step.base is not None
        base = inputs[step.base]
        record = self._cached(step)
        if record is not None:
            with self._lock:
                self._steps_cached += 1
            self.events.on_step(StepEvent(info, "done", True, time.monotonic() - started))
            return base.plus(record.layer, record.created)
        self.events.on_step(StepEvent(info, "running", False, 0.0))
        sources = {k: v for k, v in inputs.items() if k != step.base}
        try:
            layer = execute_layer_step(
                self.session,
                step,
                base,
                sources,
                on_line=lambda line: self._on_line(info, line),
                content=self._layer_content(step),
            )
        except AnyarchError as err:
            self.events.on_step(
                StepEvent(info, "error", False, time.monotonic() - started, err.message)
            )
            raise
        created = _now()
        state = base.plus(layer, created)
        if self.cache is not None:
            chain = state.chain_id
            self.cache.put(
                self.final[step.key],
                self.session.variant,
                CacheRecord(layer, created, str(chain) if chain is not None else None),
            )
        with self._lock:
            self._steps_run += 1
        self.events.on_step(StepEvent(info, "done", False, time.monotonic() - started))
        return state

    def _on_line(self, info: StepInfo, line: str) -> None:
        """Pass a RUN's output on; once the build is stopping, end the step (the sandbox kills it)."""
        if self._stopping.is_set():
            raise _Canceled("canceled: another step failed", hint="fix the failing step")
        self.events.on_log(info, line)

    def _layer_content(self, step: Step) -> str | None:
        """What a COPY/ADD reads, independent of the base: its context digest, or its source's key."""
        spec = step.spec
        if not isinstance(spec, CopySpec):
            return None
        if step.needs_content and step.key not in self.content:
            return None
        parts = [self.content.get(step.key, "")]
        if spec.source_key is not None:
            source = self.final.get(spec.source_key)
            if source is None:
                return None
            parts.append(source)
        return "|".join(parts)

    def _base_config(self, pp: PlatformPlan) -> ImageConfig | None:
        chain = pp.layer_chain()
        root = chain[0] if chain else None
        if root is None or root.kind is not StepKind.IMAGE:
            return None
        assert isinstance(root.spec, SourceSpec)
        return self.bases[root.spec.digest].config

    def run(self, plan: Plan, failed: dict[Platform, AnyarchError]) -> SolveResult:
        """Execute every filesystem step the remaining platforms need; write their images."""
        started = time.monotonic()
        now = _now()
        jobs = self.request.jobs or os.cpu_count() or 1
        live = [pp for pp in plan.platforms if pp.platform not in failed]
        nodes: dict[str, Step] = {}
        for step in plan.topological():
            if (
                step.kind.changes_filesystem
                and step.key in self.final
                and any(p not in failed for p in plan.platforms_of(step.key))
            ):
                nodes[step.key] = step
        needs: dict[Platform, set[str]] = {
            pp.platform: {s.key for s in pp.steps if s.kind.changes_filesystem} for pp in live
        }
        states: dict[str, FsState] = {}
        errors: dict[str, AnyarchError] = {}
        pending = list(nodes)
        running: dict[Future[FsState], str] = {}
        cancel = False
        outcomes: dict[Platform, PlatformOutcome] = {}
        hows = {pp.platform: self.how(pp) for pp in plan.platforms}

        def finish_platforms() -> None:
            for pp in live:
                if pp.platform in outcomes:
                    continue
                keys = needs[pp.platform]
                found = [errors[s.key] for s in pp.steps if s.key in errors]
                real = [e for e in found if not isinstance(e, (_Canceled, RunCanceledError))]
                bad = (real or found)[0] if found else None
                elapsed = time.monotonic() - started
                if bad is not None:
                    status: Status = (
                        "canceled" if isinstance(bad, (_Canceled, RunCanceledError)) else "failed"
                    )
                    outcome = PlatformOutcome(
                        pp.platform, status, hows[pp.platform], elapsed, error=bad
                    )
                elif all(k in states for k in keys):
                    state = states[pp.layer]
                    try:
                        docs = write_image(
                            self.session.store,
                            pp,
                            state,
                            self._base_config(pp),
                            epoch=self.session.epoch,
                            now=now,
                            docker=self.request.docker_media_types,
                        )
                    except AnyarchError as err:
                        outcome = PlatformOutcome(
                            pp.platform, "failed", hows[pp.platform], elapsed, error=err
                        )
                    else:
                        outcome = PlatformOutcome(
                            pp.platform, "ok", hows[pp.platform], elapsed, docs, state
                        )
                else:
                    continue
                outcomes[pp.platform] = outcome
                self.events.on_platform(outcome)

        def launch(pool: ThreadPoolExecutor) -> None:
            for key in list(pending):
                step = nodes[key]
                if cancel:
                    break
                if any(k in errors for k in step.inputs):
                    pending.remove(key)
                    errors[key] = next(errors[k] for k in step.inputs if k in errors)
                    continue
                if all(k in states for k in step.inputs):
                    pending.remove(key)
                    inputs = {k: states[k] for k in step.inputs}
                    running[pool.submit(self._run_node, step, inputs)] = key

        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="anyarch-step")
        try:
            launch(pool)
            finish_platforms()
            while running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    try:
                        states[key] = future.result()
                    except AnyarchError as err:
                        errors[key] = err
                        if not self.request.keep_going:
                            cancel = True
                            self._stopping.set()
                launch(pool)
                if cancel and not running:
                    for key in pending:
                        errors[key] = _Canceled(
                            "canceled: another step failed", hint="fix the failing step"
                        )
                        self.events.on_step(StepEvent(self.info[key], "canceled", False, 0.0))
                    pending.clear()
                finish_platforms()
        except BaseException:
            self._stopping.set()  # Ctrl-C: running RUN steps end at their next output line
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        finish_platforms()
        ordered: list[PlatformOutcome] = []
        for platform in self._targets():
            if platform in outcomes:
                ordered.append(outcomes[platform])
            elif platform in failed:
                outcome = PlatformOutcome(
                    platform, "failed", hows.get(platform, "native"), 0.0, error=failed[platform]
                )
                self.events.on_platform(outcome)
                ordered.append(outcome)
        return SolveResult(plan, ordered, self._steps_run, self._steps_cached)

    def solve(self) -> SolveResult:
        """Plan, key, check and run the whole build."""
        plan, failed = self.plan()
        if plan is None:
            outcomes = [
                PlatformOutcome(p, "failed", "native", 0.0, error=e) for p, e in failed.items()
            ]
            for o in outcomes:
                self.events.on_platform(o)
            return SolveResult(None, outcomes)
        broken = self.compute_keys(plan)
        for key, err in broken.items():
            for p in plan.platforms_of(key):
                failed.setdefault(p, err)
        failed.update(
            {p: e for p, e in self.check_host(plan, set(failed)).items() if p not in failed}
        )
        self._make_info(plan)
        return self.run(plan, failed)


def failure_tail(err: AnyarchError | None) -> tuple[str, ...]:
    """The output lines of a failed RUN (empty for other errors)."""
    return err.tail if isinstance(err, StepFailedError) else ()
