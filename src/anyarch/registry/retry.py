"""When and how long to wait before repeating a failed registry request.

Registries shed load with 429/503 and drop connections under pressure; a push
of a large image must ride that out, but must not hammer a struggling server
or hang for ever.  Waits grow exponentially with full jitter (so parallel
transfers do not retry in lock-step), honour ``Retry-After`` up to a cap, and
the number of attempts is bounded.  The policy is a value so tests can inject
one that does not really sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: HTTP statuses worth repeating: timeouts, rate limits and server-side failures.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _real_sleep(seconds: float) -> None:
    time.sleep(seconds)


def _real_random() -> float:
    import random  # here: only a repeated request needs it, and every command would pay ~1 ms

    return random.random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    ``attempts`` counts every try, the first included.  ``sleep`` is called
    with each wait; replace it in tests to record waits instead of sleeping.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: float = 0.5
    sleep: Callable[[float], None] = field(default=_real_sleep, compare=False)
    rand: Callable[[], float] = field(default=_real_random, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def should_retry_status(self, status: int) -> bool:
        """Whether an answer with ``status`` may succeed if asked again."""
        return status in RETRYABLE_STATUSES

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based).

        A server's ``Retry-After`` wins over the computed backoff but is
        capped at ``max_retry_after`` so a hostile or confused registry
        cannot park us for hours.
        """
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        backoff = min(self.max_delay, math.ldexp(self.base_delay, attempt - 1))
        # Keep (1 - jitter) of the backoff fixed and randomise the rest.
        return backoff * (1.0 - self.jitter) + backoff * self.jitter * self.rand()

    def wait(self, attempt: int, retry_after: float | None = None) -> None:
        """Sleep before the next try."""
        self.sleep(self.delay(attempt, retry_after))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), else ``None``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # rare (most servers send seconds), and slow to import

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


#: A policy that never repeats anything; for probes whose failure is an answer.
NO_RETRY = RetryPolicy(attempts=1)
