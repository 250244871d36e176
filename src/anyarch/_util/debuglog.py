"""Debug logging that costs nothing, not even ``import logging``, while nobody listens.

The registry code logs every request, retry and mount at DEBUG level through
the standard :mod:`logging` module, which the program embedding anyarch (or a
test's ``caplog``) configures as usual.  Importing :mod:`logging` itself costs
several milliseconds (it pulls in ``traceback``, ``string``, ``weakref``...),
a noticeable part of ``anyarch copy``'s start.  Until something imports
:mod:`logging`, no handler and no level can have been configured, so a DEBUG
record would only reach the last-resort handler, which drops everything below
WARNING: :class:`DebugLog` then returns at once, and behaves as
``logging.getLogger(name)`` once :mod:`logging` is loaded.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


class DebugLog:
    """``logging.getLogger(name).debug``, without importing :mod:`logging` for nothing."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def debug(self, msg: str, *args: object) -> None:
        logger = self._logger
        if logger is None:
            if "logging" not in sys.modules:
                return  # nobody can have asked for these records
            import logging

            logger = self._logger = logging.getLogger(self.name)
        logger.debug(msg, *args)
