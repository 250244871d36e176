"""The planner's entry points: which images a build needs, and the plan itself.

I/O stays with the builder, so planning takes two calls:

1. :func:`required_images` lists the base images (and ``COPY --from=<image>``
   sources) each target platform needs, as :class:`ImageKey` values.  Call it
   again with the metadata resolved so far until nothing new is listed:
   ONBUILD triggers in a base image can name further images.
2. :func:`build_plan` turns the Dockerfile, the options and the resolved
   :class:`ImageMeta` into a :class:`Plan`: per target platform, the steps
   of the stages the target needs, in an order where every step comes after
   its inputs.  Steps with the same key on several platforms are the same
   work; :attr:`Plan.steps_by_key` and :attr:`Plan.shared_keys` show them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from anyarch.dockerfile.instructions import Instructions, parse_stages
from anyarch.dockerfile.nodes import ParseResult
from anyarch.dockerfile.shell import ShellLex
from anyarch.errors import SourceLocation
from anyarch.oci.platform import Platform, normalize
from anyarch.plan.config import ImageConfig
from anyarch.plan.dispatcher import dispatch_node
from anyarch.plan.options import ImageKey, ImageMeta, MissingImageError, PlanOptions
from anyarch.plan.stages import StageGraph, StageNode, build_graph, resolve_onbuild
from anyarch.plan.state import PlatformContext
from anyarch.plan.steps import Step

__all__ = ["Plan", "PlatformPlan", "StagePlan", "build_plan", "required_images"]


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One stage as planned for one platform.

    ``implicit`` stages are images named by ``COPY --from``/``--mount from=``.
    ``steps`` are this stage's own step keys in order; ``result`` is its last
    step, ``layer`` its last filesystem step (what ``--from`` copies out of).
    ``from_used``/``from_unset`` are the global ARGs the FROM line looked up;
    ``used_vars``/``unset_vars`` add what the stage's own steps looked up.
    """

    index: int | None
    name: str
    display: str
    base: str
    base_stage: str | None
    image: ImageKey | None
    platform: Platform
    steps: tuple[str, ...]
    result: str
    layer: str
    config: ImageConfig
    declared_args: tuple[str, ...]
    from_used: frozenset[str]
    from_unset: frozenset[str]
    used_vars: frozenset[str]
    unset_vars: frozenset[str]
    location: SourceLocation | None

    @property
    def implicit(self) -> bool:
        """An image source, not a stage of the Dockerfile."""
        return self.index is None


@dataclass(frozen=True, slots=True)
class PlatformPlan:
    """The plan for one target platform.

    ``steps`` are in dispatch order (inputs first).  ``image_config`` is the
    final config of the target stage with the ``--label`` values added;
    ``result``/``layer`` are its last step and last filesystem step.
    ``global_args`` is the global ARG scope FROM lines saw, and
    ``meta_used``/``meta_unset`` what the global ARG defaults looked up.
    """

    platform: Platform
    build_platform: Platform
    target: str
    stages: tuple[StagePlan, ...]
    steps: tuple[Step, ...]
    result: str
    layer: str
    image_config: ImageConfig
    global_args: tuple[tuple[str, str], ...]
    meta_used: frozenset[str]
    meta_unset: frozenset[str]

    def step(self, key: str) -> Step:
        """The step with ``key``."""
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def stage(self, name: str) -> StagePlan:
        """A stage by name (case-insensitive), display name (``stage-1``) or index."""
        lowered = name.lower()
        for stage in self.stages:
            if stage.name == lowered or stage.display == name or str(stage.index) == name:
                return stage
        raise KeyError(name)

    def stage_steps(self, name: str) -> tuple[Step, ...]:
        """The steps of one stage, in order."""
        keys = self.stage(name).steps
        by_key = {s.key: s for s in self.steps}
        return tuple(by_key[k] for k in keys)

    def layer_chain(self, key: str | None = None) -> tuple[Step, ...]:
        """The filesystem steps an image is made of: its source, then each layer in order.

        ``key`` is a step (default: the target's last filesystem step).  The
        builder stacks the base image's layers and then one layer per
        RUN/COPY/ADD/MKDIR step of the chain.
        """
        by_key = {s.key: s for s in self.steps}
        step: Step | None = by_key[key if key is not None else self.layer]
        if step is not None and not step.kind.changes_filesystem:
            step = by_key[step.base] if step.base is not None else None
        chain: list[Step] = []
        while step is not None:
            chain.append(step)
            step = by_key[step.base] if step.base is not None else None
        return tuple(reversed(chain))

    @property
    def history(self) -> tuple[str, ...]:
        """``created_by`` of the final image's history entries (base image's included)."""
        return tuple(h.created_by for h in self.image_config.history)


@dataclass(frozen=True, slots=True)
class Plan:
    """Plans for every target platform, and the steps they share."""

    platforms: tuple[PlatformPlan, ...]
    steps_by_key: Mapping[str, Step]
    platforms_by_key: Mapping[str, tuple[Platform, ...]]

    def for_platform(self, platform: Platform) -> PlatformPlan:
        """The plan for ``platform`` (normalised before comparing)."""
        wanted = normalize(platform)
        for plan in self.platforms:
            if plan.platform == wanted:
                return plan
        raise KeyError(str(platform))

    @property
    def shared_keys(self) -> frozenset[str]:
        """Keys of steps that more than one platform needs (to run once)."""
        return frozenset(k for k, p in self.platforms_by_key.items() if len(p) > 1)

    def platforms_of(self, key: str) -> tuple[Platform, ...]:
        """The target platforms whose plans contain the step ``key``."""
        return self.platforms_by_key[key]

    def topological(self) -> Iterator[Step]:
        """Every distinct step once, each after its inputs."""
        seen: set[str] = set()
        for plan in self.platforms:
            for step in plan.steps:
                if step.key not in seen:
                    seen.add(step.key)
                    yield step

    def resolve_keys(self, content: Mapping[str, str]) -> dict[str, str]:
        """Final cache keys: plan key -> key with every content placeholder filled in.

        ``content`` maps the plan key of each step with ``needs_content`` to
        the digest of what it reads (context files, downloads).  Keys of
        later steps change with their inputs' final keys.
        """
        final: dict[str, str] = {}
        for step in self.topological():
            digest = content.get(step.key)
            if step.needs_content and digest is None:
                raise KeyError(f"no content digest for step {step.key} ({step.text})")
            final[step.key] = step.resolve_key([final[k] for k in step.inputs], digest)
        return final


def _lexers(instructions: Instructions) -> tuple[ShellLex, ShellLex]:
    lex = ShellLex(instructions.escape)
    raw = ShellLex("\\")
    raw.skip_process_quotes = True
    return lex, raw


def _typed(parsed: ParseResult | Instructions) -> Instructions:
    return parsed if isinstance(parsed, Instructions) else parse_stages(parsed)


def _required_for(graph: StageGraph, reachable: list[StageNode]) -> list[ImageKey]:
    return [graph.image_key(node) for node in reachable if node.image_based]


def required_images(
    parsed: ParseResult | Instructions,
    opts: PlanOptions,
    images: Mapping[ImageKey, ImageMeta | None] | None = None,
) -> list[ImageKey]:
    """The images (reference, platform) a build of ``parsed`` with ``opts`` needs.

    Only stages the target needs count.  Pass the metadata resolved so far
    as ``images``: ONBUILD triggers of those images can add ``--from``
    sources.  Repeat until the list holds nothing unresolved.  Raises
    :class:`~anyarch.errors.DockerfileError` for what is wrong before any
    image is known (unknown instruction, bad stage reference, ...).
    """
    instructions = _typed(parsed)
    known = images or {}
    lex, _ = _lexers(instructions)
    out: dict[ImageKey, None] = {}
    for platform in opts.platforms:
        graph = build_graph(instructions, opts, platform, lex)
        resolve_onbuild(graph, known, lex, instructions.filename)
        for key in _required_for(graph, graph.reachable()):
            out.setdefault(key, None)
    return list(out)


def _stage_plan(ctx: PlatformContext, node: StageNode, steps: Mapping[str, Step]) -> StagePlan:
    graph = ctx.graph
    result = ctx.results[id(node)]
    used = set(node.from_used)
    unset = set(node.from_unset)
    for key in result.steps:
        used |= steps[key].used_vars
        unset |= steps[key].unset_vars
    return StagePlan(
        index=node.index,
        name=node.name,
        display=node.display,
        base=node.base_name,
        base_stage=node.base.display if node.base is not None else None,
        image=graph.image_key(node) if node.image_based else None,
        platform=result.platform,
        steps=result.steps,
        result=result.last,
        layer=result.layer,
        config=result.config,
        declared_args=tuple(a.key for a in result.build_args),
        from_used=node.from_used,
        from_unset=node.from_unset,
        used_vars=frozenset(used),
        unset_vars=frozenset(unset),
        location=node.location,
    )


def _plan_platform(
    instructions: Instructions,
    opts: PlanOptions,
    platform: Platform,
    images: Mapping[ImageKey, ImageMeta | None],
) -> PlatformPlan:
    lex, raw = _lexers(instructions)
    graph = build_graph(instructions, opts, platform, lex)

    def missing(key: ImageKey) -> None:
        raise MissingImageError(
            f"no image metadata for {key}: call required_images() and resolve every image "
            "it lists before build_plan()"
        )

    resolve_onbuild(graph, images, lex, instructions.filename, missing)
    reachable = graph.reachable()
    ctx = PlatformContext(
        opts=opts,
        graph=graph,
        lex=lex,
        raw_lex=raw,
        images=images,
        proxy_env=PlatformContext.proxy_from(opts.build_args),
    )
    ordered = [n for n in reachable if n.implicit] + [n for n in reachable if not n.implicit]
    for node in ordered:
        dispatch_node(ctx, node)
    target = ctx.results[id(graph.target)]
    by_key = {step.key: step for step in ctx.steps}
    config = target.config
    if opts.labels:
        labels = dict(config.labels)
        labels.update(opts.labels)
        config = config.evolve(labels=tuple(sorted(labels.items())))
    return PlatformPlan(
        platform=platform,
        build_platform=graph.build_platform,
        target=graph.target.display,
        stages=tuple(_stage_plan(ctx, n, by_key) for n in ordered),
        steps=tuple(ctx.steps),
        result=target.last,
        layer=target.layer,
        image_config=config,
        global_args=graph.meta.env.items(),
        meta_used=graph.meta.used,
        meta_unset=graph.meta.unset,
    )


def build_plan(
    parsed: ParseResult | Instructions,
    opts: PlanOptions,
    images: Mapping[ImageKey, ImageMeta | None],
) -> Plan:
    """Plan a build of ``parsed`` for every platform of ``opts``.

    ``images`` must hold the metadata of everything :func:`required_images`
    lists (a value of None stands for an image without layers or config).
    Raises :class:`~anyarch.errors.DockerfileError` for Dockerfile errors and
    :class:`MissingImageError` when ``images`` lacks a needed entry.
    """
    instructions = _typed(parsed)
    plans = tuple(_plan_platform(instructions, opts, p, images) for p in opts.platforms)
    steps: dict[str, Step] = {}
    owners: dict[str, list[Platform]] = {}
    for plan in plans:
        for step in plan.steps:
            steps.setdefault(step.key, step)
            platforms = owners.setdefault(step.key, [])
            if not platforms or platforms[-1] != plan.platform:
                platforms.append(plan.platform)
    return Plan(
        platforms=plans,
        steps_by_key=MappingProxyType(steps),
        platforms_by_key=MappingProxyType({k: tuple(v) for k, v in owners.items()}),
    )
