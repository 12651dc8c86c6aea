"""The retry policy: exponential backoff with full jitter, bounded by the time since the
first failure (``delivery.retry``). A 429 is retried like any transient failure; how long
its pool stays closed is the pacer's part (the reset the 429 carries)."""

from __future__ import annotations

import random

from bridge.settings import RetrySettings


def backoff_s(retry: RetrySettings, attempts: int) -> float:
    """Seconds to wait before the next attempt: uniform in [0, cap], where the cap doubles
    with each attempt from ``initial_backoff_ms`` up to ``max_backoff_ms``."""
    cap = min(retry.max_backoff_ms, retry.initial_backoff_ms * (2 ** min(attempts, 20)))
    return random.uniform(0, cap) / 1000.0


def exhausted(retry: RetrySettings, first_failure: float, now: float) -> bool:
    """Whether a batch failing since ``first_failure`` has used up its retry time."""
    return now - first_failure > retry.max_elapsed_s
