"""One request attempt: POST the body, read Braze's answer, classify it.

Transport failures never raise out of an attempt: a timeout or a connection error is an
answer without a status that is retried (``timeout`` / ``connection``). Every attempt reports
its rate-limit headers (or their absence) through ``answered`` before the body is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bridge.deliver.classify import Classified, Verdict, classify
from bridge.deliver.client import Poster
from bridge.deliver.transport import LeanResponse
from bridge.settings import DeliverySettings

# (headers, status) of an answer; (None, None) when the request got no answer
Answered = Callable[[Mapping[str, str] | None, int | None], None]


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: the HTTP status (None: no answer), headers, decoded body (JSON,
    or the first 1000 characters of a body that is not JSON), verdict and duration."""

    status: int | None
    headers: Mapping[str, str] | None
    body: Any
    classified: Classified
    elapsed: float | None


async def attempt(
    poster: Poster,
    endpoint: str,
    payload: bytes,
    delivery: DeliverySettings,
    answered: Answered,
) -> Answer:
    """POST ``payload`` to ``endpoint`` once and classify the answer."""
    t0 = time.perf_counter()
    try:
        resp = await poster.post(endpoint, payload)
    except httpx.TimeoutException as exc:
        answered(None, None)
        return _unanswered(Classified(Verdict.RETRY, "timeout", str(exc) or "timeout"))
    except httpx.HTTPError as exc:
        answered(None, None)
        return _unanswered(Classified(Verdict.RETRY, "connection", f"{type(exc).__name__}: {exc}"))
    elapsed = time.perf_counter() - t0
    headers = resp.headers
    answered(headers, resp.status_code)
    body = _decode(resp)
    classified = classify(
        resp.status_code,
        body,
        overrides=delivery.status_overrides,
        on_notice=delivery.on_notice,
        path=endpoint,
    )
    return Answer(resp.status_code, headers, body, classified, elapsed)


def _unanswered(classified: Classified) -> Answer:
    return Answer(None, None, None, classified, None)


def _decode(resp: httpx.Response | LeanResponse) -> Any:
    """The body as JSON; a body that is not JSON as its first 1000 characters."""
    try:
        return orjson.loads(resp.content) if resp.content else None
    except orjson.JSONDecodeError:
        return resp.text[:1000]
