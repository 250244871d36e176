"""BuildKit's ``Node.Dump``: the s-expression text of its parser's ``result`` files.

BuildKit's parser tests compare ``AST.Dump()`` with a checked-in ``result``
file per case.  Producing the same text from our nodes is the sharpest check
that we split every instruction exactly as BuildKit does, and it gives
humans a compact view of a parse (``anyarch`` debug output, bug reports).
"""

from __future__ import annotations

from anyarch.dockerfile._gotext import go_quote, go_quote_list, trim_space
from anyarch.dockerfile.nodes import Dockerfile, Instruction

__all__ = ["dump"]


def _dump_instruction(node: Instruction) -> str:
    parts = [node.raw_keyword.lower()]
    if node.flags:
        parts.append(" " + go_quote_list(node.flags))
    if node.trigger is not None:
        # The Next node holding the trigger dumps as "(" + child + ")\n", trimmed.
        parts.append(" (" + _dump_instruction(node.trigger) + ")")
    for arg in node.args:
        parts.append(" " + go_quote(arg))
    return trim_space("".join(parts))


def dump(node: Dockerfile | Instruction) -> str:
    """``node.Dump()`` as BuildKit writes it.

    For a :class:`Dockerfile` that is one ``(instruction ...)`` line per
    instruction, joined by newlines, with no final newline (a ``result`` file
    is ``dump(ast) + "\\n"``).  For an :class:`Instruction` it is the inside of
    one such line: ``copy ["--from=x"] "a" "/b"``.
    """
    if isinstance(node, Instruction):
        return _dump_instruction(node)
    return trim_space(
        "\n".join("(" + _dump_instruction(child) + ")" for child in node.instructions)
    )
