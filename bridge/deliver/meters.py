"""The sender's per-answer metrics: requests by status class, durations, rate-limit gauges."""

from __future__ import annotations

from bridge.deliver.attempt import Answer
from bridge.deliver.budget import PoolState
from bridge.deliver.classify import status_class
from bridge.ops.metrics import Metrics


def count_answer(metrics: Metrics, workspace: str, endpoint: str, answer: Answer) -> None:
    """Count one attempt's answer (and its duration, when it got one)."""
    metrics.requests.labels(endpoint, status_class(answer.status)).inc()
    metrics.workspace_requests.labels(workspace, status_class(answer.status)).inc()
    if answer.elapsed is not None:
        metrics.request_duration.labels(endpoint).observe(answer.elapsed)


def export_pool(metrics: Metrics, workspace: str, p: PoolState) -> None:
    """Export a pool's rate-limit numbers as the pacer last learnt them."""
    pool = p.name
    if p.remaining is not None:
        metrics.ratelimit_remaining.labels(pool).set(p.remaining)
        metrics.workspace_ratelimit_remaining.labels(workspace, pool).set(p.remaining)
    if p.limit is not None:
        metrics.ratelimit_limit.labels(pool).set(p.limit)
    if p.reset:
        metrics.ratelimit_reset.labels(pool).set(p.reset)
