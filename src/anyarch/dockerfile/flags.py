"""Instruction flags (``--from=build``, ``--link``) checked as BuildKit's ``BFlags`` does.

Each instruction declares the flags it knows; any other ``--name`` is an
error with a "did you mean" suggestion, a repeated flag is an error unless it
may repeat (``--mount``, ``--exclude``), a boolean flag takes ``--link``,
``--link=true`` or ``--link=false``, and a string flag needs ``=value``.  A
lone ``--`` ends the flags.  The messages are BuildKit's, and each error
points at the flag in the source with a hint listing the valid flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from anyarch.dockerfile.nodes import Instruction
from anyarch.dockerfile.suggest import suggest
from anyarch.errors import DockerfileError

__all__ = ["FlagKind", "FlagSpec", "ParsedFlags", "parse_flags"]


class FlagKind(Enum):
    """How a flag takes its value."""

    BOOL = "bool"
    STRING = "string"
    STRINGS = "strings"  # may repeat; every value kept


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """One flag an instruction accepts, with its default (bools: ``"true"``/``"false"``)."""

    name: str
    kind: FlagKind
    default: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFlags:
    """The flag values of one instruction, defaults filled in."""

    values: dict[str, str]
    lists: dict[str, tuple[str, ...]]
    used: frozenset[str]

    def get(self, name: str) -> str:
        """A string flag's value (its default when not given)."""
        return self.values[name]

    def is_true(self, name: str) -> bool:
        """A boolean flag's value."""
        return self.values[name] == "true"

    def strings(self, name: str) -> tuple[str, ...]:
        """Every value of a repeatable flag, in order."""
        return self.lists.get(name, ())

    def is_used(self, name: str) -> bool:
        """Whether the flag was written at all (``--unpack=false`` counts)."""
        return name in self.used


def _valid_flags_hint(keyword: str, specs: Sequence[FlagSpec]) -> str:
    if not specs:
        return f"{keyword.upper()} takes no flags"
    names = ", ".join("--" + spec.name for spec in sorted(specs, key=lambda s: s.name))
    return f"valid flags for {keyword.upper()}: {names}"


def parse_flags(instruction: Instruction, specs: Sequence[FlagSpec]) -> ParsedFlags:
    """Check ``instruction.flags`` against ``specs``; raise :class:`DockerfileError` as BuildKit.

    The error location points at the offending flag, so the user sees which
    word of a long ``RUN --mount=... --network=...`` line is wrong.
    """
    by_name = {spec.name: spec for spec in specs}
    values = {spec.name: spec.default for spec in specs if spec.kind is not FlagKind.STRINGS}
    lists: dict[str, list[str]] = {}
    used: set[str] = set()
    keyword = instruction.keyword

    def fail(message: str, word: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(
            message,
            location=instruction.locate(word),
            hint=hint or _valid_flags_hint(keyword, specs),
        )

    for word in instruction.flags:
        if word == "--":
            break
        if not word.startswith("--"):
            raise fail(f"arg should start with -- : {word}", word)
        flag_name, has_value, value = word.partition("=")
        name = flag_name[2:]
        spec = by_name.get(name)
        if spec is None:
            match = suggest(name, by_name) if by_name else None
            valid = _valid_flags_hint(keyword, specs)
            hint = f"did you mean --{match}? {valid}" if match else valid
            raise fail(f"unknown flag: {flag_name}", flag_name, hint)
        if name in used and spec.kind is not FlagKind.STRINGS:
            raise fail(
                f"duplicate flag specified: {flag_name}",
                flag_name,
                f"give {flag_name} only once",
            )
        used.add(name)
        if spec.kind is FlagKind.BOOL:
            if has_value and value == "":
                raise fail(f"missing a value on flag: {flag_name}", flag_name)
            lowered = value.lower()
            if lowered in ("true", ""):
                values[name] = "true"
            elif lowered == "false":
                values[name] = "false"
            else:
                raise fail(
                    f"expecting boolean value for flag {flag_name}, not: {value}",
                    flag_name,
                    f"write {flag_name}, {flag_name}=true or {flag_name}=false",
                )
        elif not has_value:
            raise fail(
                f"missing a value on flag: {flag_name}",
                flag_name,
                f"write {flag_name}=<value>",
            )
        elif spec.kind is FlagKind.STRING:
            values[name] = value
        else:
            lists.setdefault(name, []).append(value)
    return ParsedFlags(values, {k: tuple(v) for k, v in lists.items()}, frozenset(used))
