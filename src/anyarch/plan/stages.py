"""The stage graph of one platform: BuildKit's dispatch states before dispatch.

For a target platform this module decides, in BuildKit's order and with its
error messages: what each FROM names once the global args are expanded (an
earlier stage, ``scratch`` or an image) and on which platform; which stage is
the target; what each ``COPY --from`` and ``RUN --mount from=`` refers to (a
stage by name or index, else an image, which becomes an implicit source);
that no stage depends on itself; which stages the target needs (the others
are pruned); and the commands ONBUILD triggers insert at the start of a
stage, from the base image's config or the base stage's ONBUILD lines.

Image metadata is only needed for those triggers; without it the graph is
still complete enough to say which images are needed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from anyarch.dockerfile.commands import (
    Command,
    CopyCommand,
    FromCommand,
    OnbuildCommand,
    RunCommand,
)
from anyarch.dockerfile.instructions import Instructions, parse_instruction
from anyarch.dockerfile.parser import parse
from anyarch.dockerfile.shell import ShellExpansionError, ShellLex
from anyarch.dockerfile.suggest import suggest
from anyarch.errors import AnyarchError, DockerfileError, SourceLocation
from anyarch.name import parse_reference
from anyarch.oci.platform import Platform
from anyarch.oci.platform import parse as parse_platform
from anyarch.plan.args import MetaArgs, build_meta_args, default_args
from anyarch.plan.options import ImageKey, ImageMeta, PlanOptions

__all__ = ["PlannedCommand", "StageGraph", "StageNode", "build_graph", "resolve_onbuild"]

SCRATCH = "scratch"
_ATOI = re.compile(r"[+-]?[0-9]+\Z")


@dataclass(eq=False)
class PlannedCommand:
    """A command of a stage with the stages its ``--from``/mounts name (None: none)."""

    command: Command
    sources: list[StageNode | None]
    on_build: bool = False


@dataclass(eq=False)
class StageNode:
    """One stage (or implicit image source) of one platform's graph; compared by identity."""

    index: int | None
    name: str
    display: str
    from_: FromCommand | None
    location: SourceLocation | None
    base_name: str
    platform: Platform | None = None
    base: StageNode | None = None
    commands: list[PlannedCommand] = field(default_factory=list)
    deps: dict[StageNode, Command] = field(default_factory=dict)
    from_used: frozenset[str] = frozenset()
    from_unset: frozenset[str] = frozenset()
    onbuild_done: bool = False

    @property
    def implicit(self) -> bool:
        """An image named by ``COPY --from``/``--mount from=``, not a stage of the file."""
        return self.index is None

    @property
    def scratch(self) -> bool:
        """Based on ``scratch`` (an empty filesystem)."""
        return self.base is None and self.base_name == SCRATCH

    @property
    def image_based(self) -> bool:
        """Based on an image (neither a stage nor scratch)."""
        return self.base is None and self.base_name != SCRATCH


@dataclass(eq=False)
class StageGraph:
    """All stages of one platform, the target, and the global args in force."""

    nodes: list[StageNode]
    stage_count: int
    by_name: dict[str, StageNode]
    target: StageNode
    meta: MetaArgs
    target_platform: Platform
    build_platform: Platform
    implicit: dict[str, StageNode] = field(default_factory=dict)

    def reachable(self) -> list[StageNode]:
        """The target and what it needs (base stages, ``--from`` sources), in graph order."""
        seen: set[int] = set()
        stack = [self.target]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.base is not None:
                stack.append(node.base)
            stack.extend(node.deps)
        return [node for node in self.nodes if id(node) in seen]

    def image_key(self, node: StageNode) -> ImageKey:
        """The image a reachable image-based node needs (reference normalised)."""
        platform = node.platform if node.platform is not None else self.target_platform
        return ImageKey(normalize_ref(node), platform)


def _error(message: str, location: SourceLocation | None, hint: str | None) -> DockerfileError:
    return DockerfileError(message, location=location, hint=hint)


@lru_cache(maxsize=4096)
def _normalized(name: str) -> str:
    return str(parse_reference(name))


def normalize_ref(node: StageNode) -> str:
    """``docker.io/library/golang:latest`` for ``golang``; a DockerfileError if invalid."""
    try:
        return _normalized(node.base_name)
    except AnyarchError as err:
        raise _error(
            f'failed to parse stage name "{node.base_name}": {err.message}',
            node.location,
            err.hint,
        ) from None


def _expand_from(
    lex: ShellLex, word: str, meta: MetaArgs, command: FromCommand
) -> tuple[str, frozenset[str], frozenset[str]]:
    try:
        result, used, unset = lex.process_word_with_matches(word, meta.env.mapping)
    except ShellExpansionError as err:
        raise _error(err.reason, command.location, err.hint) from None
    return result, frozenset(used), frozenset(unset)


def _blank_base_hint(word: str, unset: frozenset[str], meta: MetaArgs) -> str:
    if unset:
        names = ", ".join(sorted(unset))
        return (
            f"{names} {'is' if len(unset) == 1 else 'are'} not set: declare it with ARG "
            "before the first FROM (with a default) or pass --build-arg"
        )
    return f"{word} expands to an empty string; give the ARG a non-empty value"


def build_graph(
    instructions: Instructions, opts: PlanOptions, target_platform: Platform, lex: ShellLex
) -> StageGraph:
    """Stages, target, dependencies and cycle check for ``target_platform`` (no images needed)."""
    stages = instructions.stages
    build_platform = opts.effective_build_platform
    target_name = opts.target or stages[-1].name
    scope = default_args(build_platform, target_platform, target_name, opts.build_args)
    meta = build_meta_args(scope, lex, instructions.meta_args, opts.build_args)

    nodes: list[StageNode] = []
    by_name: dict[str, StageNode] = {}
    for stage in stages:
        command = stage.from_
        base_name, used, unset = _expand_from(lex, command.base_name, meta, command)
        if base_name == "":
            raise _error(
                f"base name ({command.base_name}) should not be blank",
                command.location,
                _blank_base_hint(command.base_name, unset, meta),
            )
        platform = None
        if command.platform:
            value, p_used, p_unset = _expand_from(lex, command.platform, meta, command)
            used |= p_used
            unset |= p_unset
            if value == "":
                raise _error(
                    f"empty platform value from expression {command.platform}",
                    command.node.locate("--platform"),
                    _blank_base_hint(command.platform, p_unset, meta),
                )
            try:
                platform = parse_platform(value)
            except AnyarchError as err:
                raise _error(
                    f"failed to parse platform {command.platform}: {err.message}",
                    command.node.locate("--platform"),
                    err.hint,
                ) from None
        name = stage.name
        if name and name in by_name:
            first = by_name[name]
            raise _error(
                f'duplicate stage name "{name}"',
                command.location,
                f"stage names must be unique; {name!r} is already used at "
                f"{first.location}. Rename one of the stages",
            )
        node = StageNode(
            index=stage.index,
            name=name,
            display=name or f"stage-{stage.index}",
            from_=command,
            location=command.location,
            base_name=base_name,
            platform=platform,
            base=by_name.get(base_name),
            commands=[PlannedCommand(c, []) for c in stage.commands],
            from_used=used,
            from_unset=unset,
        )
        nodes.append(node)
        if name:
            by_name[name] = node

    graph = StageGraph(
        nodes=nodes,
        stage_count=len(nodes),
        by_name=by_name,
        target=nodes[-1],
        meta=meta,
        target_platform=target_platform,
        build_platform=build_platform,
    )
    if opts.target:
        found = by_name.get(opts.target.lower())
        if found is None:
            names = [n.name for n in nodes if n.name]
            match = suggest(opts.target, names) if names else None
            listing = ", ".join(names) if names else "none (no stage has an AS name)"
            hint = (f"did you mean {match}? " if match else "") + f"stage names: {listing}"
            raise _error(f'target stage "{opts.target}" could not be found', None, hint)
        graph.target = found

    for node in list(nodes):
        for planned in node.commands:
            _link_sources(graph, node, planned, lex)
    _check_cycles(graph)
    return graph


def _implicit(graph: StageGraph, ref: str, location: SourceLocation | None) -> StageNode:
    node = graph.implicit.get(ref)
    if node is None:
        node = StageNode(
            index=None, name="", display=ref, from_=None, location=location, base_name=ref
        )
        graph.implicit[ref] = node
        graph.nodes.append(node)
    return node


def _link_sources(
    graph: StageGraph, node: StageNode, planned: PlannedCommand, lex: ShellLex
) -> None:
    """BuildKit's ``toCommand``: find the stages a command reads from."""
    command = planned.command
    sources: list[StageNode | None] = []
    if isinstance(command, CopyCommand) and command.from_:
        name = command.from_
        try:
            expanded = lex.process_word(name, {})
        except ShellExpansionError as err:
            raise _error(err.reason, command.location, err.hint) from None
        if expanded != name:
            raise _error(
                "variable expansion is not supported for --from, define a new stage with "
                "FROM using ARG from global scope as a workaround",
                command.node.locate("--from"),
                "e.g. ARG SRC=builder / FROM ${SRC} AS src / COPY --from=src ...",
            )
        if _ATOI.match(name):
            index = int(name)
            if not 0 <= index < graph.stage_count:
                raise _error(
                    f"invalid stage index {index}",
                    command.node.locate("--from"),
                    f"stage indexes go from 0 to {graph.stage_count - 1}",
                )
            sources.append(graph.nodes[index])
        else:
            found = graph.by_name.get(name.lower())
            sources.append(found if found is not None else _implicit(graph, name, command.location))
    elif isinstance(command, RunCommand):
        for mount in command.mounts:
            if not mount.from_:
                sources.append(None)
                continue
            found = graph.by_name.get(mount.from_.lower())
            if found is None and mount.from_ == SCRATCH:
                sources.append(None)
                continue
            sources.append(
                found if found is not None else _implicit(graph, mount.from_, command.location)
            )
    planned.sources = sources
    for source in sources:
        if source is not None:
            node.deps.setdefault(source, command)


def _cycle_from(node: StageNode, visited: set[int], on_path: set[int]) -> Command | None:
    """Depth-first search: the command closing a cycle reachable from ``node``, if any."""
    if id(node) in visited:
        return None
    visited.add(id(node))
    on_path.add(id(node))
    for dep, command in node.deps.items():
        if id(dep) in on_path:
            return command
        found = _cycle_from(dep, visited, on_path)
        if found is not None:
            return found
    on_path.discard(id(node))
    return None


def _check_cycles(graph: StageGraph) -> None:
    """BuildKit's ``validateCircularDependency`` (over ``--from``/mount edges)."""
    visited: set[int] = set()
    for start in graph.nodes:
        command = _cycle_from(start, visited, set())
        if command is not None:
            raise _error(
                f"circular dependency detected on stage: {start.display}",
                command.location,
                "a stage cannot COPY --from or mount from itself or a stage that depends on it",
            )


def _trigger_commands(
    node: StageNode, triggers: list[str], origin: str, filename: str
) -> list[Command]:
    """Parse ONBUILD trigger texts into commands placed at the stage's FROM line."""
    assert node.from_ is not None
    from_node = node.from_.node
    hint_origin = f"the ONBUILD trigger comes from {origin}"
    commands = []
    for trigger in triggers:
        try:
            tree = parse(trigger, filename=filename)
        except DockerfileError as err:
            raise _error(err.reason, node.location, f"{hint_origin}: {trigger!r}") from None
        if len(tree.ast) != 1:
            raise _error(
                "onbuild trigger should be a single expression",
                node.location,
                f"{hint_origin}: {trigger!r}",
            )
        parsed = dataclasses.replace(
            tree.ast[0],
            filename=from_node.filename,
            start_line=from_node.start_line,
            end_line=from_node.end_line,
            column=from_node.column,
            end_column=from_node.end_column,
            source=from_node.source,
        )
        try:
            command = parse_instruction(parsed)
        except DockerfileError as err:
            raise _error(err.reason, node.location, err.hint or hint_origin) from None
        if isinstance(command, FromCommand):
            raise _error("FROM isn't allowed as an ONBUILD trigger", node.location, hint_origin)
        commands.append(command)
    return commands


def resolve_onbuild(
    graph: StageGraph,
    images: Mapping[ImageKey, ImageMeta | None],
    lex: ShellLex,
    filename: str,
    on_missing: Callable[[ImageKey], None] | None = None,
) -> None:
    """Insert ONBUILD triggers at the start of reachable stages (BuildKit's ``resolveStages``).

    Triggers come from the base image's config (when its metadata is in
    ``images``) and from the base stage's ONBUILD instructions.  Triggers
    can name new ``--from`` sources, so reachability is recomputed until
    nothing changes.  ``on_missing`` is called for an image whose metadata
    is absent (build_plan raises there; required_images just skips).
    """
    while True:
        new_deps = False
        for node in graph.reachable():
            if node.onbuild_done or node.implicit:
                continue
            triggers: list[str] = []
            origin = ""
            if node.image_based:
                key = graph.image_key(node)
                if key not in images:
                    if on_missing is not None:
                        on_missing(key)
                    continue
                meta = images[key]
                if meta is not None:
                    triggers.extend(meta.on_build)
                    origin = f"base image {key.ref}"
            elif node.base is not None:
                for planned in node.base.commands:
                    if isinstance(planned.command, OnbuildCommand) and not planned.on_build:
                        triggers.append(planned.command.expression)
                origin = f"stage {node.base.display}"
            node.onbuild_done = True
            if not triggers:
                continue
            planned_triggers = [
                PlannedCommand(c, [], on_build=True)
                for c in _trigger_commands(node, triggers, origin, filename)
            ]
            for planned in planned_triggers:
                _link_sources(graph, node, planned, lex)
                if any(s is not None for s in planned.sources):
                    new_deps = True
            node.commands[:0] = planned_triggers
        if new_deps:
            _check_cycles(graph)
        else:
            return
