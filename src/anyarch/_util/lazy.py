"""Package attributes loaded on first use (PEP 562), for fast command start-up.

A package's ``__init__`` that imports every submodule makes each command pay
for all of them: ``anyarch copy`` needs descriptors and indexes, not image
configs, the store or the validator.  A package lists where each public name
lives instead, and gets a module ``__getattr__`` and ``__dir__`` from
:func:`lazy_attributes`; its real imports stay under ``TYPE_CHECKING`` for
type checkers and readers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, where: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``.

    ``where`` maps each name to the module defining it: a submodule of
    ``package`` by its short name, or any module by its full dotted name.  A
    name mapped to itself is that submodule.  A loaded name is stored in the
    package, so later lookups are plain attribute reads.
    """
    names = sorted(public)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        full = module if "." in module else f"{package}.{module}"
        # __import__ rather than importlib.import_module: -X importtime then shows the module
        __import__(full)
        mod = sys.modules[full]
        value = mod if module == name else getattr(mod, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
