"""Fixtures for the registry client tests: real registries (see helpers.registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from anyarch.registry import RegistryClient, RetryPolicy
from helpers.registry import (  # noqa: F401  (fixtures re-exported for pytest)
    SleepRecorder,
    _fault_proxy_session,
    basic_registry,
    fault_proxy,
    registry,
    repo,
    token_registry,
)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def fast_retry(sleeps: SleepRecorder) -> RetryPolicy:
    """Five attempts, no real waiting: fault tests stay fast."""
    return RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, sleep=sleeps)


@pytest.fixture
def make_client(fast_retry: RetryPolicy) -> Iterator[Callable[..., RegistryClient]]:
    """``make_client(host, **kw)``: a RegistryClient with the fast retry policy, closed after."""
    made: list[RegistryClient] = []

    def make(host: str, **kw: Any) -> RegistryClient:
        kw.setdefault("retry", fast_retry)
        client = RegistryClient(host, **kw)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()
