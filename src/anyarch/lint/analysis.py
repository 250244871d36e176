"""What the rules need to know about a Dockerfile before judging it.

:func:`analyze` parses the file and plans it for every target platform with
the planner the builder uses (so a Dockerfile that would not build fails
here with the same :class:`~anyarch.errors.DockerfileError`), then records
per stage on which platform it runs for each target and how it got there
(follows the target, pinned to ``$BUILDPLATFORM``, or pinned to a constant),
and which images the build pulls for which platforms.  Looking those images
up is the caller's business (:mod:`anyarch.api.check`); this module is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from anyarch.dockerfile import Instruction, ParseResult, parse
from anyarch.dockerfile.instructions import Instructions, Stage, parse_stages
from anyarch.dockerfile.shell import ShellLex
from anyarch.errors import AnyarchError
from anyarch.name import parse_reference
from anyarch.oci.platform import Platform, normalize
from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import Plan, PlanOptions, build_plan, required_images
from anyarch.plan.args import PLATFORM_ARGS

__all__ = [
    "DEFAULT_PLATFORMS",
    "Analysis",
    "ImageUse",
    "LintOptions",
    "Pin",
    "StageInfo",
    "analyze",
]

#: Targets checked when none are given: the pair most multi-arch images ship.
DEFAULT_PLATFORMS: tuple[Platform, ...] = (Platform("linux", "amd64"), Platform("linux", "arm64"))

_BUILD_ARGS = tuple(a for a in PLATFORM_ARGS if a.startswith("BUILD"))
_TARGET_ARGS = tuple(a for a in PLATFORM_ARGS if a.startswith("TARGET"))
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class LintOptions:
    """The build a Dockerfile is checked for.

    ``platforms`` are the targets (``--platform``; default linux/amd64 and
    linux/arm64), ``build_platform`` the platform builds run on (the host;
    default the first target), ``build_args`` the ``--build-arg`` values,
    ``target`` the ``--target`` stage, ``strict`` turns warnings into errors.
    """

    platforms: tuple[Platform, ...] = DEFAULT_PLATFORMS
    build_platform: Platform | None = None
    build_args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    target: str | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        platforms = tuple(dict.fromkeys(normalize(p) for p in self.platforms))
        if not platforms:
            raise ValueError("LintOptions needs at least one target platform")
        object.__setattr__(self, "platforms", platforms)
        if self.build_platform is not None:
            object.__setattr__(self, "build_platform", normalize(self.build_platform))
        object.__setattr__(self, "build_args", MappingProxyType(dict(self.build_args)))

    @property
    def effective_build_platform(self) -> Platform:
        """``build_platform``, or the first target when none was given."""
        return self.build_platform if self.build_platform is not None else self.platforms[0]

    @property
    def multi_platform(self) -> bool:
        """More than one target platform."""
        return len(self.platforms) > 1


class Pin(Enum):
    """How a stage's platform is chosen."""

    TARGET = "target"  # no --platform (or $TARGETPLATFORM): one platform per target
    BUILD = "build"  # --platform=$BUILDPLATFORM: where the build runs
    CONSTANT = "constant"  # --platform=linux/amd64: the same for every target
    OTHER = "other"  # an expression that varies otherwise


@dataclass(frozen=True, slots=True)
class StageInfo:
    """One stage of the file: where it runs for each target, how that was chosen.

    ``platforms[i]`` is the stage's platform when building
    ``options.platforms[i]``.  ``base_stage`` is the index of the stage its
    FROM names, if any; ``reachable`` is false for stages the target does not
    need (they are linted, but no image is looked up for them).
    """

    stage: Stage
    platforms: tuple[Platform, ...]
    pin: Pin
    base_stage: int | None
    reachable: bool

    @property
    def display(self) -> str:
        """``build`` or ``stage-2``, as BuildKit names stages in messages."""
        return self.stage.name or f"stage-{self.stage.index}"

    @property
    def distinct_platforms(self) -> tuple[Platform, ...]:
        return tuple(dict.fromkeys(self.platforms))


@dataclass(frozen=True, slots=True)
class ImageUse:
    """An image the build pulls: a FROM line, or a ``COPY --from``/``--mount from=`` image.

    ``platforms`` are the platforms the build needs it for; ``pinned`` is
    true when the stage has a constant ``--platform`` (one platform is all
    it will ever need).
    """

    ref: str
    node: Instruction
    line: int
    column: int
    stage_index: int | None
    platforms: tuple[Platform, ...]
    pinned: bool

    @property
    def familiar(self) -> str:
        """The reference as docker prints it (``golang:1.22``)."""
        try:
            return parse_reference(self.ref).familiar
        except AnyarchError:
            return self.ref


@dataclass(frozen=True, slots=True)
class Analysis:
    """A parsed and planned Dockerfile with its stages and image uses."""

    filename: str
    options: LintOptions
    parsed: ParseResult
    instructions: Instructions
    plan: Plan
    stages: tuple[StageInfo, ...]
    image_uses: tuple[ImageUse, ...]
    target_index: int

    @property
    def images(self) -> tuple[str, ...]:
        """Every image reference to look up, normalised, sorted, once each."""
        return tuple(sorted({u.ref for u in self.image_uses}))

    @property
    def escape(self) -> str:
        return self.instructions.escape


def _references(word: str) -> set[str]:
    return set(_VAR.findall(word))


def _pin_of(flag: str, values: tuple[Platform, ...], build: Platform) -> Pin:
    if not flag:
        return Pin.TARGET
    if "$" not in flag:
        return Pin.CONSTANT
    names = _references(flag)
    if names & set(_TARGET_ARGS):
        return Pin.TARGET
    if names & set(_BUILD_ARGS):
        return Pin.BUILD
    if len(set(values)) == 1:
        return Pin.BUILD if values[0] == build else Pin.CONSTANT
    return Pin.OTHER


def _stage_infos(
    instructions: Instructions, plan: Plan, options: LintOptions
) -> tuple[StageInfo, ...]:
    lex = ShellLex(instructions.escape)
    build = options.effective_build_platform
    planned: dict[tuple[int, int], Platform] = {}
    reachable: set[int] = set()
    scopes: list[dict[str, str]] = []
    for t, platform_plan in enumerate(plan.platforms):
        scopes.append(dict(platform_plan.global_args))
        for stage_plan in platform_plan.stages:
            if stage_plan.index is not None:
                reachable.add(stage_plan.index)
                planned[(stage_plan.index, t)] = normalize(stage_plan.platform)
    infos: list[StageInfo] = []
    by_name: dict[str, int] = {}
    for stage in instructions.stages:
        flag = stage.from_.platform
        base_stage: int | None = None
        try:
            base = lex.process_word(stage.from_.base_name, scopes[0]).lower()
            base_stage = by_name.get(base)
        except AnyarchError:
            base = ""
        values: list[Platform] = []
        for t, target in enumerate(options.platforms):
            value = planned.get((stage.index, t))
            if value is None:
                value = target
                if flag:
                    try:
                        value = normalize(parse_platform(lex.process_word(flag, scopes[t])))
                    except AnyarchError:
                        value = target
                elif base_stage is not None:
                    value = infos[base_stage].platforms[t]
            values.append(value)
        platforms = tuple(values)
        if not flag and base_stage is not None:
            pin = infos[base_stage].pin
        else:
            pin = _pin_of(flag, platforms, build)
        infos.append(StageInfo(stage, platforms, pin, base_stage, stage.index in reachable))
        if stage.name:
            by_name[stage.name] = stage.index
    return tuple(infos)


def _find(node: Instruction, needle: str) -> tuple[int, int] | None:
    for offset, text in enumerate(node.source_lines):
        found = text.find(needle)
        if found >= 0:
            return node.start_line + offset, found + 1
    return None


def _image_column(node: Instruction, written: str, ref: str) -> tuple[int, int]:
    if node.keyword == "from":
        loc = node.locate(written) if written else node.location
        return loc.line, loc.column
    for needle in ("--from=", "from="):
        found = _find(node, needle)
        if found is not None:
            return found[0], found[1] + len(needle)
    return node.start_line, node.column


def _image_uses(
    instructions: Instructions,
    plan: Plan,
    infos: tuple[StageInfo, ...],
    nodes: Mapping[int, Instruction],
) -> tuple[ImageUse, ...]:
    needed: dict[tuple[object, ...], dict[Platform, None]] = {}
    meta: dict[tuple[object, ...], tuple[str, Instruction, int | None]] = {}
    for platform_plan in plan.platforms:
        for stage_plan in platform_plan.stages:
            image = stage_plan.image
            location = stage_plan.location
            if image is None or location is None:
                continue
            node = nodes.get(location.line)
            if node is None:
                continue
            key: tuple[object, ...] = (stage_plan.index, location.line, image.ref)
            needed.setdefault(key, {})[normalize(image.platform)] = None
            meta[key] = (image.ref, node, stage_plan.index)
    uses: list[ImageUse] = []
    for key, platforms in needed.items():
        ref, node, index = meta[key]
        written = instructions.stages[index].from_.base_name if index is not None else ""
        line, column = _image_column(node, written, ref)
        pinned = index is not None and infos[index].pin is Pin.CONSTANT
        uses.append(ImageUse(ref, node, line, column, index, tuple(platforms), pinned))
    uses.sort(key=lambda u: (u.line, u.column, u.ref))
    return tuple(uses)


def analyze(
    text: str, *, filename: str = "Dockerfile", options: LintOptions | None = None
) -> Analysis:
    """Parse and plan ``text`` for ``options`` (see the module docstring).

    Raises :class:`~anyarch.errors.DockerfileError` for a Dockerfile that
    does not parse or plan, exactly as a build would.
    """
    options = options or LintOptions()
    parsed = parse(text, filename=filename)
    instructions = parse_stages(parsed)
    plan_options = PlanOptions(
        platforms=options.platforms,
        build_platform=options.effective_build_platform,
        build_args=options.build_args,
        target=options.target,
    )
    keys = required_images(instructions, plan_options)
    plan = build_plan(instructions, plan_options, dict.fromkeys(keys))
    infos = _stage_infos(instructions, plan, options)
    nodes: dict[int, Instruction] = {}
    for node in parsed.ast:
        for line in range(node.start_line, node.end_line + 1):
            nodes.setdefault(line, node)
    uses = _image_uses(instructions, plan, infos, nodes)
    target_display = plan.platforms[0].target
    target_index = len(instructions.stages) - 1
    for info in infos:
        if info.display == target_display or info.stage.name == target_display:
            target_index = info.stage.index
    return Analysis(
        filename=filename,
        options=options,
        parsed=parsed,
        instructions=instructions,
        plan=plan,
        stages=infos,
        image_uses=uses,
        target_index=target_index,
    )
