"""Braze-specific response classification (overridable per status in config).

| Response                                  | Verdict  |
|-------------------------------------------|----------|
| 2xx ``success`` (+ ``dispatch_id``)        | ACCEPT   |
| 2xx with ``errors[]``                     | ACCEPT (entries logged and counted) |
| 2xx with ``notice`` (paused/archived Canvas: nothing sent) | REJECT by default (``on_notice``) |
| 202 ``queued`` (legacy maintenance mode)  | ACCEPT   |
| 400, 413, other 4xx                       | REJECT (permanent for that payload) |
| 401, 403                                  | HALT (configuration fault) |
| 404 on a fixed documented path            | HALT ("Invalid URL": wrong base URL or proxy) |
| 404 on ``/messages/live_activity/*``      | REJECT (a per-activity 404 is possible) |
| 408, 429, 5xx, timeouts, connection errors | RETRY   |

A 400 also carries a *scope* (:func:`rejection_scope`), read from Braze's documented error
messages (``/api/errors``): ``request`` when the cause is shared by every recipient of the
request (the campaign, the message variation, the push payload, ...), so bisecting cannot
help; ``count`` when there are too many ids (halving helps); ``recipient`` otherwise (a
generic ``Bad Request`` or an undocumented text may concern one recipient).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


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
    scope: str = ""  # 400s: request | count | recipient (see rejection_scope)


# Braze's documented fatal 400 messages (errors.md, "Fatal errors") whose cause is a property of
# the whole request: every recipient shares it, so no half of the batch can succeed.
REQUEST_LEVEL_MESSAGES = frozenset(
    m.lower()
    for m in (
        "No Recipients",
        "Invalid Campaign ID",
        "Message Variant Unspecified",
        "Invalid Message Variant",
        "Mismatched Message Type",
        "Invalid Extra Push Payload",
        "No message to send",
        "Slideup Message Length Exceeded",
        "Apple Push Length Exceeded",
        "Android Push Length Exceeded",
    )
)
# Too many ids in one request: a smaller request succeeds.
COUNT_MESSAGES = frozenset(
    m.lower()
    for m in (
        "The max number of external_ids and aliases per request was exceeded",
        "The max number of ids per request was exceeded",
        "Max Input Length Exceeded",
    )
)
# Paths where a 404 may concern the payload (an unknown live activity), not the URL.
_PER_ITEM_404 = ("/messages/live_activity/",)


def rejection_scope(body: Any) -> str:
    """``request``, ``count`` or ``recipient`` for a 400 body (Braze's ``message`` text)."""
    msg = body.get("message") if isinstance(body, dict) else None
    if not isinstance(msg, str):
        return "recipient"
    m = msg.strip().rstrip(".").lower()
    if m in REQUEST_LEVEL_MESSAGES:
        return "request"
    if m in COUNT_MESSAGES:
        return "count"
    return "recipient"


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
    path: str = "",
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
        if path.startswith(_PER_ITEM_404):
            return Classified(Verdict.REJECT, "not_found", msg)
        # Braze documents 404 as "Invalid URL": the bridge only calls fixed documented paths,
        # so the base URL or a proxy is wrong for every request. Halt, probe, resume.
        return Classified(Verdict.HALT, "not_found", msg)
    return Classified(Verdict.REJECT, "bad_request", msg, rejection_scope(body))


def partial_errors(body: Any) -> list[str]:
    """The entries of ``errors[]`` in a 2xx answer, as texts."""
    errs = body.get("errors") if isinstance(body, dict) else None
    if not errs:
        return []
    if not isinstance(errs, list):
        errs = [errs]
    out = []
    for e in errs:
        if isinstance(e, str):
            out.append(e[:500])
        else:
            try:
                out.append(orjson.dumps(e).decode()[:500])
            except TypeError:
                out.append(str(e)[:500])
    return out


def _names(identity: Any) -> list[str]:
    """The identifier texts of an item identity (("x", uid), ("a", name, label), ...)."""
    if isinstance(identity, tuple) and len(identity) >= 2:
        return [str(v) for v in identity[1:2] if v]
    if isinstance(identity, str) and identity:
        return [identity]
    return []


def affected_items(identities: list[Any], errors: list[str]) -> tuple[int, ...] | None:
    """Indices of the items the ``errors[]`` texts name, or None: all items are affected.

    Braze does not document the format of these entries. Only when *every* entry names at
    least one recipient of the batch (as a whole token) are the unnamed recipients taken as
    delivered; otherwise every item of the batch is treated as affected.
    """
    if not errors:
        return ()
    named: set[int] = set()
    patterns = []
    for i, ident in enumerate(identities):
        for n in _names(ident):
            patterns.append((i, re.compile(r"(?<![\w.@-])" + re.escape(n) + r"(?![\w.@-])", re.I)))
    for text in errors:
        hit = {i for i, pat in patterns if pat.search(text)}
        if not hit:
            return None
        named |= hit
    return tuple(sorted(named))


def status_class(status: int | None) -> str:
    """Bounded label for metrics."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx"
