"""A batch's final :class:`Outcome` for each way its delivery can end.

Accepted (with the items a 2xx's ``errors[]`` names as not delivered), rejected, retries
exhausted, or never sent (a body over Braze's limit, a send id that was never created).
The reasons are the dead-letter ``class`` vocabulary (:mod:`bridge.deliver.classify`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from bridge.batch import Batch
from bridge.deliver.attempt import Answer
from bridge.deliver.classify import affected_items, partial_errors
from bridge.deliver.outcome import Outcome
from bridge.ops.metrics import Metrics
from bridge.settings import DeliverySettings

log = logging.getLogger("bridge.deliver")


def accepted(
    batch: Batch, answer: Answer, attempts: int, first_failure: float, metrics: Metrics
) -> Outcome:
    """Braze accepted the batch; a partial answer's errors are counted and logged."""
    endpoint = batch.shape.path
    body = answer.body
    classified = answer.classified
    errs: list[str] = []
    affected: tuple[int, ...] = ()
    if classified.reason == "partial":
        errs = partial_errors(body)
        named = affected_items([i.identity for i in batch.items], errs)
        affected = tuple(range(len(batch))) if named is None else named
        metrics.partial_errors.labels(endpoint).inc(len(errs))
        log.warning(
            "braze accepted with errors",
            extra={
                "endpoint": endpoint,
                "errors": str(errs)[:500],
                "affected": len(affected),
                "items": len(batch),
            },
        )
    metrics.batch_recipients.labels(endpoint).observe(len(batch))
    dispatch = body.get("dispatch_id") if isinstance(body, dict) else None
    return Outcome.success(
        batch,
        status=answer.status,
        reason=classified.reason,
        message=classified.message,
        attempts=attempts,
        first_failure=first_failure,
        dispatch_id=dispatch,
        response=body,
        partial_errors=errs,
        partial_items=affected,
    )


def bisects(delivery: DeliverySettings, batch: Batch, answer: Answer) -> bool:
    """Whether a rejected batch is split in two instead: a 400/413 that may be about one
    recipient (never a request-level rejection), when bisection is on."""
    return (
        delivery.bisect
        and len(batch) > 1
        and answer.status in (400, 413)
        and answer.classified.scope != "request"
    )


def rejected(
    batch: Batch, answer: Answer, text: str, attempts: int, first_failure: float, now: float
) -> Outcome:
    """Braze rejected the batch for good."""
    return Outcome.failure(
        batch,
        status=answer.status,
        reason=answer.classified.reason,
        message=answer.classified.message,
        body=text,
        attempts=attempts,
        first_failure=first_failure,
        last_failure=now,
    )


def retries_exhausted(
    batch: Batch, answer: Answer, text: str, attempts: int, first_failure: float, now: float
) -> Outcome:
    """The batch kept failing transiently past the retry time; the last error is kept."""
    c = answer.classified
    return Outcome.failure(
        batch,
        status=answer.status,
        reason="retries_exhausted",
        message=f"gave up after {attempts} attempts: {c.reason} {c.message}".strip(),
        body=text,
        attempts=attempts,
        first_failure=first_failure,
        last_failure=now,
    )


def send_id_missing(batch: Batch, attempts: int) -> Outcome:
    """A ``generate_send_id`` rule whose id was not created at start-up (added by a reload):
    the placeholder is never sent to Braze."""
    now = time.time()
    return Outcome.failure(
        batch,
        status=None,
        reason="send_id_missing",
        message="the send_id Braze generates for this rule was not created at "
        "start-up (was the rule added by a reload?): restart the bridge, then replay",
        attempts=attempts,
        first_failure=now,
        last_failure=now,
    )


def too_large(batch: Batch, size: int, attempts: int) -> Outcome:
    """A lone item whose body is over Braze's 4 MB limit (never sent)."""
    now = time.time()
    return Outcome.failure(
        batch,
        status=None,
        reason="too_large",
        message=f"request body is {size} bytes; Braze allows at most 4 MB",
        attempts=attempts,
        first_failure=now,
        last_failure=now,
    )


def internal_error(batch: Batch, exc: BaseException, attempts: int) -> Outcome:
    """The delivery task itself failed: the batch is dead-lettered with the error's type."""
    reason = f"{type(exc).__name__} while delivering: {str(exc)[:300]}"
    now = time.time()
    return Outcome.failure(
        batch,
        status=None,
        reason="internal_error",
        message=reason,
        attempts=attempts,
        first_failure=now,
        last_failure=now,
    )


def truncate(body: Any, limit: int = 1000) -> str:
    """The answer's body as text for a dead letter, at most ``limit`` characters."""
    if body is None:
        return ""
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return text[:limit]
