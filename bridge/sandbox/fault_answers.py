"""How injected faults change an answer: the answers that replace processing (403, 429, 5xx),
the poisoned-recipient 400, and the success variants (`queued`, `partial`)."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.sandbox.context import Outcome
from bridge.sandbox.faults import ERROR_TEXTS, Decision, Faults
from bridge.sandbox.fields import Invalid
from bridge.sandbox.recipients import IDENTIFIERS
from bridge.sandbox.responses import Response, rate_limited

MSG_ACCESS_DENIED = "Access Denied"
PARTIAL_TEXT = "sandbox fault: not delivered"
POISON_TEXT = "sandbox fault: the request contains a poisoned recipient"


def refusal(fault: Decision) -> Response | None:
    """The answer of an injected 403 window, 429 window or 5xx error; None for other faults."""
    if fault.kind == "forbidden":
        return Response(403, {"message": MSG_ACCESS_DENIED})
    if fault.kind == "rate_limited":
        return rate_limited()
    if fault.kind == "error":
        return Response(fault.status, {"message": ERROR_TEXTS.get(fault.status, "Server Error")})
    return None


def check_poison(faults: Faults, body: dict[str, Any]) -> None:
    """Raise the poisoned-recipient 400 when the body names a poisoned recipient."""
    if faults.active and faults.poisoned(body) is not None:
        raise Invalid("Bad Request", POISON_TEXT)


def invalid_answer(exc: Invalid, error_key: str) -> tuple[Response, str | None]:
    """The 4xx answer of a rejected request, and "poison" when the poison fault rejected it."""
    err: dict[str, Any] = exc.body()
    if error_key != "message":
        err[error_key] = err.pop("message")
    kind = "poison" if exc.errors == [POISON_TEXT] else None
    return Response(exc.status, err), kind


def success_answer(
    faults: Faults, fault: Decision, resp: Response, body: dict[str, Any], outcome: Outcome
) -> tuple[Response, int]:
    """The success answer after the `queued` / `partial` faults, and the recipients it counts."""
    recipients = outcome.recipients
    if fault.success == "queued":
        return Response(202, {"message": "queued"}), recipients
    if fault.success == "partial":
        error = _partial_error(faults, body, recipients)
        resp.body = {**outcome.body, "errors": [error]}
        recipients = max(0, recipients - 1)
    return resp, recipients


def _partial_error(faults: Faults, body: dict[str, Any], n: int) -> str:
    """The `errors[]` entry of an injected partial success, naming one recipient."""
    if n <= 0:
        return f"{PARTIAL_TEXT} (some users of the audience)"
    i = faults.pick(n)
    recipients = body.get("recipients")
    if isinstance(recipients, list) and i < len(recipients):
        rec = recipients[i]
        ident = next((k for k in IDENTIFIERS if rec.get(k) is not None), "recipient")
        return f"recipients[{i}] ({ident} {orjson.dumps(rec.get(ident)).decode()}): {PARTIAL_TEXT}"
    ids = [*(body.get("external_user_ids") or []), *(body.get("user_aliases") or [])]
    if i < len(ids):
        return f"{orjson.dumps(ids[i]).decode()}: {PARTIAL_TEXT}"
    return f"recipient {i}: {PARTIAL_TEXT}"
