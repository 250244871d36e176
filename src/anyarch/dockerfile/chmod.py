"""``COPY --chmod`` / ``ADD --chmod`` values: octal (``0755``) or symbolic (``u+x,go-w``).

BuildKit accepts an octal number up to ``07777`` or a symbolic mode in the
syntax of BSD ``setmode(3)`` (``tonistiigi/dchapes-mode``).  A value that
looks numeric but is not a valid octal number gets BuildKit's "should be
octal string" message; a bad symbolic mode gets "invalid syntax".  The
frontend only validates; applying a symbolic mode to a file is the builder's
job, because it depends on the file's current mode.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChmodError", "ChmodSpec", "parse_chmod"]

_OCTAL = frozenset("01234567")


class ChmodError(ValueError):
    """A ``--chmod`` value BuildKit refuses."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ChmodSpec:
    """A validated mode: ``octal`` set for numbers, else ``symbolic`` holds the text."""

    octal: int | None = None
    symbolic: str = ""


def _symbolic_ok(s: str) -> bool:
    """The grammar ``dchapes-mode.ParseWithUmask`` accepts for a non-numeric mode."""
    i, n = 0, len(s)
    if n == 0:
        return False
    while True:
        while i < n and s[i] in "augo":
            i += 1
        if i >= n:
            return False
        while True:  # one or more op+perm groups without a comma between them
            if s[i] not in "+-=":
                return False
            i += 1
            while i < n and s[i] in "rstwXxugo":
                i += 1
            if i >= n:
                return True
            if s[i] == ",":
                i += 1
                break
        if i >= n:
            return False


def parse_chmod(value: str) -> ChmodSpec:
    """Validate ``value`` as BuildKit's ``dispatchCopy`` does; raise :class:`ChmodError`."""
    non_octal = ChmodError(
        f"invalid chmod parameter: '{value}'. it should be octal string and between 0 and 07777"
    )
    if value and all(c in _OCTAL for c in value):
        number = int(value, 8)
        if number > 0o7777:
            raise non_octal
        return ChmodSpec(octal=number)
    if value and value[0].isdigit() and value[0].isascii():
        raise non_octal  # Go's ParseInt fails: BuildKit reports the octal message
    if not _symbolic_ok(value):
        raise ChmodError(f"invalid chmod parameter: '{value}': invalid syntax")
    return ChmodSpec(symbolic=value)
