"""Braze-specific response classification (overridable per status in config).

| Response                                  | Verdict  |
|-------------------------------------------|----------|
| 2xx ``success`` (+ ``dispatch_id``)        | ACCEPT   |
| 2xx with ``errors[]``                     | ACCEPT (entries logged and counted) |
| 2xx with ``notice`` (paused/archived Canvas: nothing sent) | REJECT by default (``on_notice``) |
| 202 ``queued`` (legacy maintenance mode)  | ACCEPT   |
| 400, 404, 413, other 4xx                  | REJECT (permanent for that payload) |
| 401, 403                                  | HALT (configuration fault) |
| 408, 429, 5xx, timeouts, connection errors | RETRY   |
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REJECT = "dead_letter"
    RETRY = "retry"
    HALT = "halt"


@dataclass(frozen=True, slots=True)
class Classified:
    verdict: Verdict
    reason: str  # bounded label: success, partial, notice, queued, bad_request, ...
    message: str  # human text (Braze's message/error/notice)


def _text(body: Any) -> str:
    if isinstance(body, dict):
        for k in ("notice", "message", "error", "errors"):
            v = body.get(k)
            if v:
                return v if isinstance(v, str) else str(v)[:500]
    return ""


def classify(
    status: int,
    body: Any,
    *,
    overrides: Mapping[int, str] | None = None,
    on_notice: str = "dead_letter",
) -> Classified:
    msg = _text(body)
    if overrides and status in overrides:
        return Classified(Verdict(overrides[status]), f"override_{status}", msg)
    if 200 <= status < 300:
        if isinstance(body, dict) and body.get("notice"):
            v = Verdict.ACCEPT if on_notice == "accept" else Verdict.REJECT
            return Classified(v, "notice", str(body["notice"]))
        if isinstance(body, dict) and body.get("message") == "queued":
            return Classified(Verdict.ACCEPT, "queued", "queued")
        if isinstance(body, dict) and body.get("errors"):
            return Classified(Verdict.ACCEPT, "partial", msg)
        return Classified(Verdict.ACCEPT, "success", msg or "success")
    if status in (401, 403):
        return Classified(Verdict.HALT, "unauthorized" if status == 401 else "forbidden", msg)
    if status == 429:
        return Classified(Verdict.RETRY, "rate_limited", msg)
    if status == 408 or status >= 500:
        return Classified(Verdict.RETRY, f"server_{status}" if status >= 500 else "timeout", msg)
    if status == 413:
        return Classified(Verdict.REJECT, "too_large", msg)
    if status == 404:
        return Classified(Verdict.REJECT, "not_found", msg)
    return Classified(Verdict.REJECT, "bad_request", msg)


def status_class(status: int | None) -> str:
    """Bounded label for metrics."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx"
