"""``anyarch build``'s farm flags, and whether a build goes to the farm, without the farm code.

:mod:`anyarch.cli.farm_build` (the scheduler, dispatch, SSH transport) costs
tens of milliseconds to import; a plain local build -- the common case, and
all of a warm rebuild's time -- must not pay for it.  This module needs click
only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT = "default"
"""The built-in local builder (as :data:`anyarch.farm.config.DEFAULT`)."""


def builders_file() -> str:
    """Where ``anyarch builder use`` records the current builder.

    The same path as :meth:`anyarch.farm.config.FarmConfig.builders_path` (a
    test checks it), computed without importing the farm configuration.
    """
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "anyarch", "builders.json")


def may_use_farm(builder: str | None, *, force: bool = False) -> bool:
    """False when the build is surely local; True when the farm code must decide.

    ``--builder default`` or no ``--builder`` and no builders file (so no
    current builder but the default) is a local build, unless ``force``.
    """
    if force:
        return True
    if builder is not None:
        return builder != DEFAULT
    return os.path.exists(builders_file())


def farm_options(f: F) -> F:
    """The build command's farm flags: --builder, --plan, --require-native, --node-push."""
    f = click.option(
        "--node-push",
        is_flag=True,
        help="With --push and --builder: nodes push their images by digest; only the index goes from here.",
    )(f)
    f = click.option(
        "--require-native",
        is_flag=True,
        help="With --builder: fail before building if a platform has no native node.",
    )(f)
    f = click.option(
        "--plan",
        "plan_only",
        is_flag=True,
        help="With --builder: print which node builds which platform, and why; build nothing.",
    )(f)
    f = click.option(
        "--builder",
        metavar="NAME",
        help="Build on this builder's nodes (default: the current builder, see 'anyarch builder use').",
    )(f)
    return f
