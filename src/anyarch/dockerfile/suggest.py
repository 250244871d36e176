"""Unknown instructions, reported with the nearest valid keyword ("did you mean COPY?").

BuildKit's parser accepts any keyword (its ``result`` dump and our conformance
tests need that); the typed-instruction stage rejects unknown ones, with a
suggestion from ``util/suggest``: the closest known name at Levenshtein
distance below 3, in the user's letter case.  :func:`check_instructions` is
that stage's check, usable on its own by ``anyarch check`` and the planner.
"""

from __future__ import annotations

from collections.abc import Iterable

from anyarch.dockerfile.line_parsers import INSTRUCTIONS
from anyarch.dockerfile.nodes import Dockerfile, Instruction, ParseResult
from anyarch.errors import DockerfileError

__all__ = ["check_instructions", "levenshtein", "suggest", "unknown_instructions"]

_MAX_DISTANCE = 3  # suggestions must be strictly closer than this (as BuildKit/HCL)


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit costs for insertion, deletion and substitution."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _match_case(option: str, original: str) -> str:
    if original == original.lower():
        return option.lower()
    if original == original.upper():
        return option.upper()
    return option


def suggest(value: str, options: Iterable[str]) -> str | None:
    """BuildKit's ``suggest.Search`` (case-insensitive): the closest option, or None.

    None also when ``value`` is itself an option.  Ties go to the option that
    sorts first, so the answer does not depend on iteration order.
    """
    lowered = value.lower()
    best: str | None = None
    best_distance = _MAX_DISTANCE
    for option in sorted(option.lower() for option in options):
        if option == lowered:
            return None
        distance = levenshtein(lowered, option)
        if distance < best_distance:
            best, best_distance = option, distance
    return None if best is None else _match_case(best, value)


def _unknown(instruction: Instruction) -> DockerfileError:
    name = instruction.raw_keyword
    match = suggest(name, (keyword.upper() for keyword in INSTRUCTIONS))
    hint = (
        f"did you mean {match}?"
        if match
        else "valid instructions are " + ", ".join(sorted(k.upper() for k in INSTRUCTIONS))
    )
    return DockerfileError(f"unknown instruction: {name}", location=instruction.location, hint=hint)


def unknown_instructions(tree: Dockerfile | ParseResult) -> list[DockerfileError]:
    """One error per instruction (or ONBUILD trigger) whose keyword BuildKit does not know."""
    root = tree.ast if isinstance(tree, ParseResult) else tree
    errors: list[DockerfileError] = []
    for instruction in root.instructions:
        for node in (instruction, instruction.trigger):
            if node is not None and node.keyword not in INSTRUCTIONS:
                errors.append(_unknown(node))
    return errors


def check_instructions(tree: Dockerfile | ParseResult) -> None:
    """Raise :class:`~anyarch.errors.DockerfileError` for the first unknown instruction."""
    errors = unknown_instructions(tree)
    if errors:
        raise errors[0]
