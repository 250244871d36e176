"""Real registries for the CLI end-to-end tests (see helpers.registry)."""

from helpers.registry import (  # noqa: F401  (fixtures re-exported for pytest)
    _fault_proxy_session,
    basic_registry,
    fault_proxy,
    registry,
    repo,
    token_registry,
)
