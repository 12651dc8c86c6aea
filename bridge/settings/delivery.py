"""How work is delivered and drained: batching, retries, pacing, the circuit breaker, the
response outcomes and the shutdown deadline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.settings.base import FrozenModel


class BatchingSettings(FrozenModel):
    """Recipients per request and how long to wait for more."""

    max_recipients: int = Field(50, ge=1, le=50, description="Recipients per request (Braze: ≤50)")
    linger_ms: int = Field(200, ge=0, le=60_000, description="Send a partial batch after this")


class RetrySettings(FrozenModel):
    """Exponential backoff with full jitter for transient failures."""

    initial_backoff_ms: int = Field(200, ge=1)
    max_backoff_ms: int = Field(30_000, ge=1)
    max_elapsed_s: float = Field(
        900.0, gt=0, description="After this long a request is dead-lettered with its last error"
    )


class PacingSettings(FrozenModel):
    """Pace requests from Braze's X-RateLimit-* headers so the budget lasts to the reset."""

    enabled: bool = True
    reserve_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of each window left for other users of the workspace"
    )
    even_spend: bool = Field(
        True,
        description="Estimate this replica's share of the workspace's spending from the "
        "headers and pace so all replicas together spend evenly to the reset",
    )
    audience_limit_per_minute: int = Field(
        10, ge=1, description="Broadcast requests per minute per unique audience (Braze: 10)"
    )


class CircuitBreakerSettings(FrozenModel):
    """Halt instead of flooding the dead-letter topic."""

    enabled: bool = True
    window_s: float = Field(60.0, gt=0)
    min_events: int = Field(200, ge=1, description="Events in the window before it can open")
    max_dead_letter_ratio: float = Field(0.5, gt=0, le=1)
    probe_interval_s: float = Field(30.0, gt=0, description="Half-open retry after this long")


Outcome = Literal["accept", "dead_letter", "retry", "halt"]


class DeliverySettings(FrozenModel):
    """How responses are classified and acted on."""

    retry: RetrySettings = RetrySettings()
    pacing: PacingSettings = PacingSettings()
    bulk_floor: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Bulk rules (priority: bulk) spend each window's budget only down to this "
        "share of the limit; the rest is left to transactional rules until the reset",
    )
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    on_notice: Literal["dead_letter", "accept"] = Field(
        "dead_letter",
        description="2xx with a 'notice' (paused/archived Canvas: nothing was sent)",
    )
    status_overrides: dict[int, Outcome] = Field(
        default_factory=dict, description="Override the outcome of an HTTP status"
    )
    bisect: bool = Field(True, description="Split 400-rejected batches to isolate bad recipients")
    halt_probe_interval_s: float = Field(
        15.0, gt=0, description="While halted on 401/403, retry one request this often"
    )


class ShutdownSettings(FrozenModel):
    drain_deadline_s: float = Field(25.0, gt=0, description="SIGTERM: finish in-flight work within")
