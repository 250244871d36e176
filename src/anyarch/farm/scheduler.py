"""Which node builds which platform, and why: a pure function.

:func:`schedule` takes what is known about the nodes (pinned platforms, the
platforms each runs natively or through emulation, whether it answered) and
the platforms to build, and returns one :class:`Placement` per platform with
a human-readable reason.  No I/O happens here, so every rule is unit-tested.

The rules, in order:

1. Nodes that did not answer are left out (and listed in ``Plan.skipped``).
2. A node *pinned* to the platform is preferred, then a node that runs it
   *natively*, then one that can *emulate* it (QEMU through binfmt_misc).
   Among pinned nodes, native ones come first.  A node is never given a
   platform it can neither run nor emulate, even when pinned to it.
3. Among equally good nodes, the one with the least work so far takes it
   (two native amd64 nodes each take a share of a multi-platform build);
   ties go to the node listed first in the builder.
4. The most constrained platforms (fewest equally good nodes) are placed
   first, so spreading does not strand a platform only one node can build.
5. Emulation is never silent: its placement says so (``mode``) and why.
   With ``require_native`` any platform without a native node is an error
   listing all of them, raised before any work starts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from anyarch.errors import FarmError, InvalidPlatformError
from anyarch.oci.platform import format as format_platform
from anyarch.oci.platform import normalize, parse


class Mode(StrEnum):
    """How a node runs a platform's binaries."""

    NATIVE = "native"
    EMULATED = "emulated"


@dataclass(frozen=True, slots=True)
class NodeCapabilities:
    """What the scheduler knows about one node.

    Platforms are canonical strings (``linux/arm/v7``); ``emulators`` maps an
    emulated platform to its binfmt handler (``qemu-arm``) for the reasons.
    """

    name: str
    pinned: tuple[str, ...] = ()
    native: tuple[str, ...] = ()
    emulated: tuple[str, ...] = ()
    reachable: bool = True
    unreachable_reason: str = ""
    emulators: Mapping[str, str] = field(default_factory=dict)

    def mode_for(self, platform: str) -> Mode | None:
        if platform in self.native:
            return Mode.NATIVE
        if platform in self.emulated:
            return Mode.EMULATED
        return None


@dataclass(frozen=True, slots=True)
class Placement:
    """One platform given to one node."""

    platform: str
    node: str
    mode: Mode
    pinned: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The assignment, nodes left out, and notes worth showing the user."""

    placements: tuple[Placement, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    def for_platform(self, platform: str) -> Placement:
        return next(p for p in self.placements if p.platform == platform)

    def for_node(self, node: str) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.node == node)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.node for p in self.placements))

    @property
    def emulated(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.mode is Mode.EMULATED)


def canonical(spec: str) -> str:
    """One spelling per platform (``linux/arm`` and ``arm`` → ``linux/arm/v7``)."""
    try:
        return format_platform(normalize(parse(spec.strip())))
    except InvalidPlatformError:
        raise
    except ValueError as e:  # pragma: no cover - parse raises InvalidPlatformError
        raise InvalidPlatformError(
            f"invalid platform {spec!r}: {e}", hint="e.g. linux/arm64"
        ) from None


def _rank(node: NodeCapabilities, platform: str) -> tuple[int, int] | None:
    """Lower is better: (0 pinned | 1 native | 2 emulated, 0 native | 1 emulated)."""
    mode = node.mode_for(platform)
    if mode is None:
        return None
    emu = 0 if mode is Mode.NATIVE else 1
    if platform in node.pinned:
        return (0, emu)
    return (1, 0) if mode is Mode.NATIVE else (2, 1)


def schedule(
    nodes: Sequence[NodeCapabilities],
    platforms: Sequence[str],
    *,
    require_native: bool = False,
    load: Mapping[str, int] | None = None,
    exclude: Collection[str] = (),
) -> Plan:
    """Place every platform on a node (see the module docstring for the rules).

    ``load`` is work nodes already have (a retry after a node was lost keeps
    spreading); ``exclude`` names nodes not to use (the lost one).  Raises
    :class:`~anyarch.errors.FarmError` naming the platform(s) when no node
    can build them, or, with ``require_native``, when only emulation could.
    """
    wanted = list(dict.fromkeys(canonical(p) for p in platforms))
    if not wanted:
        raise FarmError(
            "no platforms to build", hint="pass --platform, e.g. --platform linux/amd64,linux/arm64"
        )
    order = {n.name: i for i, n in enumerate(nodes)}
    skipped: list[tuple[str, str]] = []
    usable: list[NodeCapabilities] = []
    for n in nodes:
        if n.name in exclude:
            skipped.append((n.name, n.unreachable_reason or "excluded"))
        elif not n.reachable:
            skipped.append((n.name, n.unreachable_reason or "unreachable"))
        else:
            usable.append(n)
    notes: list[str] = []
    for n in usable:
        for p in n.pinned:
            if p in wanted and n.mode_for(p) is None:
                notes.append(
                    f"{n.name} is pinned to {p} but can neither run nor emulate it; not used for it"
                )

    def candidates(p: str) -> list[tuple[tuple[int, int], NodeCapabilities]]:
        out = []
        for n in usable:
            r = _rank(n, p)
            if r is None:
                continue
            if require_native and n.mode_for(p) is not Mode.NATIVE:
                continue
            out.append((r, n))
        return out

    cands = {p: candidates(p) for p in wanted}
    missing = [p for p in wanted if not cands[p]]
    if missing:
        raise _no_node_error(missing, nodes, usable, skipped, require_native)

    def best(p: str) -> list[tuple[tuple[int, int], NodeCapabilities]]:
        top = min(r for r, _ in cands[p])
        return [(r, n) for r, n in cands[p] if r == top]

    work: dict[str, int] = {n.name: (load or {}).get(n.name, 0) for n in usable}
    by_constraint = sorted(wanted, key=lambda p: (len(best(p)), wanted.index(p)))
    chosen: dict[str, Placement] = {}
    for p in by_constraint:
        tied = best(p)
        pick = min(tied, key=lambda rn: (work[rn[1].name], order[rn[1].name]))[1]
        rank = min(r for r, _ in tied)
        work[pick.name] += 1
        mode = pick.mode_for(p)
        assert mode is not None
        chosen[p] = Placement(
            p, pick.name, mode, rank[0] == 0, _reason(p, pick, mode, rank, tied, cands[p], work)
        )
    return Plan(tuple(chosen[p] for p in wanted), tuple(skipped), tuple(notes))


def _emulator(n: NodeCapabilities, p: str) -> str:
    h = n.emulators.get(p)
    return f"QEMU emulation ({h})" if h else "QEMU emulation"


def _reason(
    p: str,
    pick: NodeCapabilities,
    mode: Mode,
    rank: tuple[int, int],
    tied: list[tuple[tuple[int, int], NodeCapabilities]],
    all_cands: list[tuple[tuple[int, int], NodeCapabilities]],
    work: Mapping[str, int],
) -> str:
    if rank[0] == 0:
        why = f"pinned to {p}"
        if mode is Mode.EMULATED:
            why += f"; it runs {p} through {_emulator(pick, p)}"
            natives = [n.name for r, n in all_cands if n.mode_for(p) is Mode.NATIVE]
            if natives:
                why += f" (native but not pinned: {', '.join(natives)})"
        else:
            why += ", runs it natively"
    elif rank[0] == 1:
        why = f"runs {p} natively"
    else:
        why = f"no node runs {p} natively; emulated through {_emulator(pick, p)}"
    if len(tied) > 1:
        others = ", ".join(f"{n.name}" for _, n in tied if n.name != pick.name)
        why += f"; least busy of {len(tied)} equally suited nodes (also: {others})"
    return why


def _no_node_error(
    missing: list[str],
    nodes: Sequence[NodeCapabilities],
    usable: list[NodeCapabilities],
    skipped: list[tuple[str, str]],
    require_native: bool,
) -> FarmError:
    names = ", ".join(missing)
    down = "; ".join(f"{n}: {why}" for n, why in skipped)
    if require_native:
        emulating = sorted(
            {n.name for n in usable for p in missing if n.mode_for(p) is Mode.EMULATED}
        )
        msg = f"--require-native: no reachable node runs {names} natively"
        if emulating:
            hint = (
                f"{', '.join(emulating)} could emulate it; drop --require-native to allow that, "
                "or add a native node: anyarch builder create --append --name BUILDER --platform "
                f"{missing[0]} CONTEXT"
            )
        else:
            hint = f"add a node of that architecture: anyarch builder create --append --name BUILDER --platform {missing[0]} CONTEXT"
    else:
        msg = f"no node of the builder can build {names}"
        if not usable:
            msg = f"no node of the builder is reachable to build {names}"
        hint = (
            "add a node that runs it (anyarch builder create --append …), or install QEMU user "
            "emulation on one (see 'anyarch doctor')"
        )
    if down:
        msg += f" (left out: {down})"
    return FarmError(msg, hint=hint)


def describe(plan: Plan) -> list[tuple[str, str, str, str]]:
    """Rows for ``--plan``: platform, node, NATIVE/EMULATED, reason."""
    return [(p.platform, p.node, p.mode.value.upper(), p.reason) for p in plan.placements]


def normalize_platforms(platforms: Sequence[str]) -> tuple[str, ...]:
    """``--platform`` values (each may list several, comma-separated), canonical, deduplicated."""
    out: dict[str, None] = {}
    for spec in platforms:
        for part in spec.split(","):
            if part.strip():
                out.setdefault(canonical(part), None)
    return tuple(out)


__all__ = [
    "Mode",
    "NodeCapabilities",
    "Placement",
    "Plan",
    "canonical",
    "describe",
    "normalize_platforms",
    "schedule",
]
