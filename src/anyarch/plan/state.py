"""Mutable state while one stage is dispatched: BuildKit's ``dispatchState``, narrowed.

A :class:`StageBuilder` holds what the next instruction sees -- environment
(image env plus ENV and ARG values), working directory, user, platform,
declared ARGs, image config -- and turns each instruction into a
:class:`~anyarch.plan.steps.Step` with :meth:`StageBuilder.emit`.  Word
expansion goes through :meth:`StageBuilder.expand`, which records the
variables looked up (for the linter) and turns expansion errors into
located :class:`~anyarch.errors.DockerfileError`.  The instruction-family
modules (``dispatch_*``) only read and update this state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from anyarch.dockerfile.commands import ArgDefinition, Command
from anyarch.dockerfile.shell import ShellExpansionError, ShellLex
from anyarch.errors import DockerfileError, SourceLocation
from anyarch.oci.platform import Platform
from anyarch.plan.config import ImageConfig
from anyarch.plan.envlist import EnvList
from anyarch.plan.options import HistoryEntry, ImageKey, ImageMeta, PlanOptions
from anyarch.plan.stages import StageGraph, StageNode
from anyarch.plan.steps import (
    CONTENT_PLACEHOLDER,
    Step,
    StepKind,
    StepSpec,
    canonical,
    compute_key,
)

__all__ = ["PlatformContext", "StageBuilder", "StageResult"]

_PROXY_ARGS = frozenset({"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"})


@dataclass(eq=False)
class PlatformContext:
    """What every stage of one platform's plan shares."""

    opts: PlanOptions
    graph: StageGraph
    lex: ShellLex
    raw_lex: ShellLex  # for heredoc bodies: escape "\\", quotes kept
    images: Mapping[ImageKey, ImageMeta | None]
    proxy_env: tuple[str, ...]
    steps: list[Step] = field(default_factory=list)
    results: dict[int, StageResult] = field(default_factory=dict)

    @staticmethod
    def proxy_from(build_args: Mapping[str, str]) -> tuple[str, ...]:
        """``http_proxy``-style build args (any case), passed to RUN outside the cache key."""
        return tuple(f"{k}={build_args[k]}" for k in sorted(build_args) if k.lower() in _PROXY_ARGS)


@dataclass(frozen=True, slots=True)
class StageResult:
    """A dispatched stage, as later stages (``FROM stage``, ``--from``) see it."""

    platform: Platform
    env: EnvList
    config: ImageConfig
    workdir: str
    user: str
    build_args: tuple[ArgDefinition, ...]
    layer: str
    last: str
    workdir_set: bool
    steps: tuple[str, ...]


class StageBuilder:
    """The state of one stage while its instructions are dispatched."""

    def __init__(
        self,
        ctx: PlatformContext,
        node: StageNode,
        platform: Platform,
        config: ImageConfig,
        env: EnvList,
    ) -> None:
        self.ctx = ctx
        self.node = node
        self.platform = platform
        self.config = config
        self.env = env
        self.workdir = "/"
        self.user = ""
        self.build_args: list[ArgDefinition] = []
        self.cmd_set = False
        self.workdir_set = False
        self.layer: str | None = None  # last filesystem step
        self.last: str | None = None  # last step
        self.step_keys: list[str] = []
        opts = ctx.opts
        self.no_cache = opts.no_cache or (node.name in opts.no_cache_filter if node.name else False)
        self._used: set[str] = set()
        self._unset: set[str] = set()
        self.command: Command | None = None
        self.on_build = False
        self.sources: list[StageNode | None] = []
        self._location = node.location

    # --- expansion ---------------------------------------------------------

    @property
    def location(self) -> SourceLocation | None:
        """Where the current instruction is (the FROM line for ONBUILD triggers)."""
        return self._location

    def fail(self, message: str, hint: str | None = None, *, near: str = "") -> DockerfileError:
        """A DockerfileError at the current instruction (at ``near`` when found in it)."""
        location = self.location
        if near and self.command is not None and not self.on_build:
            location = self.command.node.locate(near)
        return DockerfileError(message, location=location, hint=hint)

    def expand(self, word: str, env: EnvList | None = None) -> str:
        """Expand one word against the stage env (or ``env``), recording variable use."""
        try:
            result, used, unset = self.ctx.lex.process_word_with_matches(
                word, (env or self.env).mapping
            )
        except ShellExpansionError as err:
            raise self.fail(err.reason, err.hint) from None
        self._used |= used
        self._unset |= unset
        return result

    def expand_words(self, word: str) -> list[str]:
        """Expand and split on whitespace (EXPOSE)."""
        try:
            res = self.ctx.lex.process(word, self.env.mapping)
        except ShellExpansionError as err:
            raise self.fail(err.reason, err.hint) from None
        self._used |= res.matched
        self._unset |= res.unmatched
        return res.words

    def expand_raw(self, text: str) -> str:
        """Expand a heredoc body (quotes kept, escape ``\\``), as BuildKit's ``ExpandRaw``."""
        try:
            result, used, unset = self.ctx.raw_lex.process_word_with_matches(text, self.env.mapping)
        except ShellExpansionError as err:
            raise self.fail(err.reason, err.hint) from None
        self._used |= used
        self._unset |= unset
        return result

    def begin(
        self, command: Command, on_build: bool, sources: Sequence[StageNode | None] = ()
    ) -> None:
        """Start an instruction: its ``--from``/mount sources; reset the variable record."""
        self.command = command
        self.on_build = on_build
        self.sources = list(sources)
        self._location = command.location
        self._used = set()
        self._unset = set()

    # --- steps ---------------------------------------------------------------

    def emit(
        self,
        kind: StepKind,
        spec: StepSpec,
        *,
        text: str,
        history: HistoryEntry | None,
        sources: Sequence[str] = (),
        needs_content: bool = False,
        link: bool = False,
        changes: dict[str, Any] | None = None,
    ) -> Step:
        """Record one step; ``changes`` are its image config changes (one copy per step)."""
        if history is not None:
            changes = dict(changes) if changes else {}
            changes["history"] = (*self.config.history, history)
        if changes:
            self.config = self.config.evolve(**changes)
        # An empty filesystem is the same on every platform; config steps never execute.
        neutral = kind is StepKind.CONFIG or kind is StepKind.SCRATCH
        definition = canonical(kind, spec, None if neutral else self.platform)
        content = CONTENT_PLACEHOLDER if needs_content else None
        is_source = kind in (StepKind.IMAGE, StepKind.SCRATCH)
        base = None if is_source else self.layer
        if kind.changes_filesystem:
            inputs = tuple(k for k in (base, *sources) if k is not None)
        else:
            inputs = () if self.last is None else (self.last,)
        key = compute_key(definition, inputs, content)
        layer_key = compute_key(definition, tuple(sources), content) if link else None
        step = Step(
            key=key,
            kind=kind,
            stage=self.node.display,
            text=text,
            location=self.location,
            platform=self.platform,
            parent=self.last,
            base=base,
            inputs=inputs,
            spec=spec,
            config=self.config,
            history=history,
            definition=definition,
            needs_content=needs_content,
            layer_key=layer_key,
            no_cache=self.no_cache,
            on_build=self.on_build,
            used_vars=frozenset(self._used),
            unset_vars=frozenset(self._unset),
        )
        self.ctx.steps.append(step)
        self.step_keys.append(key)
        self.last = key
        if kind.changes_filesystem:
            self.layer = key
        return step

    def result(self) -> StageResult:
        """The stage as later stages see it."""
        assert self.layer is not None and self.last is not None
        return StageResult(
            platform=self.platform,
            env=self.env,
            config=self.config,
            workdir=self.workdir,
            user=self.user,
            build_args=tuple(self.build_args),
            layer=self.layer,
            last=self.last,
            workdir_set=self.workdir_set,
            steps=tuple(self.step_keys),
        )

    def source_result(self, node: StageNode | None, what: str) -> StageResult | None:
        """The dispatched result of a ``--from`` source, or an ordering error."""
        if node is None:
            return None
        found = self.ctx.results.get(id(node))
        if found is None:
            raise self.fail(what, "move the stage it names above the current stage")
        return found
