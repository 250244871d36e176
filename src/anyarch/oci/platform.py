"""Platforms (os/architecture/variant) as containerd's platforms package treats them.

PLACEHOLDER: the value type only; parsing, normalisation and matching follow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform: the ``platform`` object of a descriptor or an image config's fields."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
