"""The checks a Braze endpoint makes before its rate limit: the API key and the JSON body."""

from __future__ import annotations

import hmac
from typing import Any

import orjson

from bridge.sandbox.responses import Response, mask_key

# Braze's documented live-activity 400 body text (live_activity/update.md, start.md)
LIVE_ACTIVITY_BAD_BODY = (
    "\nProblem:\n  message body does not match declared format\nResolution:\n  when specifying "
    "application/json as content-type, you must pass valid application/json in the "
    "request's 'body' "
)


def check_auth(api_key: str, value: str | None) -> dict[str, str] | None:
    """The 401 body for an `Authorization` header that does not carry `Bearer <api_key>`,
    else None."""
    if not value:
        return {"message": "Invalid API key: no API key (send Authorization: Bearer <key>)"}
    scheme, _, key = value.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return {"message": "Invalid API key: expected Authorization: Bearer <key>"}
    if not hmac.compare_digest(key.encode(), api_key.encode()):
        return {"message": "Invalid API key: " + mask_key(key)}
    return None


def parse_body(error_key: str, headers: dict[str, str], raw: bytes) -> dict[str, Any] | Response:
    """The JSON object of a POST body, or the 400 answer (live activity's own text when the
    endpoint's `error_key` is "error")."""

    def bad(detail: str) -> Response:
        if error_key == "error":
            return Response(400, {"error": LIVE_ACTIVITY_BAD_BODY})
        return Response(400, {"message": "Bad Request", "errors": [detail]})

    ctype = headers.get("content-type", "")
    if not ctype.lower().startswith("application/json"):
        return bad("Content-Type must be application/json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return bad(f"body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return bad("body must be a JSON object")
    return body
