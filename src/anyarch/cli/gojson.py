"""Go's ``encoding/json`` output shapes, for docker-compatible printing.

``indent`` re-indents raw JSON bytes token by token like Go's ``json.Indent``
(keys, order and escapes untouched); ``marshal_indent`` encodes Python data
like ``json.MarshalIndent`` (which escapes ``<``, ``>`` and ``&``).
"""

from __future__ import annotations

import json
from typing import Any


def indent(raw: bytes, prefix: str = "", ind: str = "\t") -> str:
    """Go's ``json.Indent``: whitespace changes only."""
    text = raw.decode("utf-8")
    out: list[str] = []
    depth = 0
    i = 0
    n = len(text)
    need_indent = False
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if need_indent and c not in "]}":
            out.append("\n" + prefix + ind * depth)
        need_indent = False
        if c == '"':
            j = i + 1
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == '"':
                    break
                j += 1
            out.append(text[i : j + 1])
            i = j + 1
            continue
        if c in "[{":
            out.append(c)
            depth += 1
            need_indent = True
            # empty container stays compact: Go prints [] and {}
            k = i + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k < n and text[k] in "]}":
                out.append(text[k])
                depth -= 1
                need_indent = False
                i = k + 1
                continue
        elif c in "]}":
            depth -= 1
            out.append("\n" + prefix + ind * depth + c)
        elif c == ",":
            out.append(",")
            need_indent = True
        elif c == ":":
            out.append(": ")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def marshal_indent(obj: Any, ind: str) -> str:
    """Go's ``json.MarshalIndent`` for dicts (in insertion order), lists and scalars."""
    text = json.dumps(obj, indent=ind, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
