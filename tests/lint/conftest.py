"""Fixtures of the ``anyarch check`` tests: a real registry (see helpers.registry)."""

from helpers.registry import registry, repo  # noqa: F401  (fixtures re-exported for pytest)
