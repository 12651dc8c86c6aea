"""The `/_sandbox/*` inspection, fault and configuration API (no rate limit).

Reads (GET) are open unless `protect_inspection` is set. Calls that change state (POST,
DELETE) need `Authorization: Bearer <api key or admin_token>`, and a body, if any, must be
`application/json`: a web page cannot send that header cross-origin without a CORS preflight,
which the sandbox never answers, so it cannot reconfigure the sandbox (CSRF).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from bridge.sandbox.fault_settings import FaultError
from bridge.sandbox.options import OptionsError, apply_mapping
from bridge.sandbox.responses import Response

if TYPE_CHECKING:
    from bridge.sandbox.app import SandboxApp


def _resp(status: int, body: Any) -> Response:
    return Response(status, body)


def _bad(detail: str) -> Response:
    return _resp(400, {"message": "Bad Request", "errors": [detail]})


def _json_body(raw: bytes, allow_empty: bool) -> Any:
    if not raw.strip():
        if allow_empty:
            return None
        raise ValueError("a JSON body is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from exc


def _int_param(params: dict[str, str], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    n = int(value)  # ValueError handled by the caller
    if n < 0:
        raise ValueError(f"{key} must be >= 0")
    return n


def _authorized(app: SandboxApp, value: str | None) -> bool:
    scheme, _, key = (value or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return False
    secrets = [app.opts.api_key, app.opts.admin_token or ""]
    return any(s and hmac.compare_digest(key.encode(), s.encode()) for s in secrets)


def _guard(app: SandboxApp, method: str, headers: dict[str, str], raw: bytes) -> Response | None:
    """401/415 for a state-changing call without the key or with a non-JSON body."""
    changes = method not in ("GET", "HEAD")
    if not changes and not app.opts.protect_inspection:
        return None
    if not _authorized(app, headers.get("authorization")):
        what = "this call changes the sandbox" if changes else "protect_inspection is on"
        return _resp(
            401,
            {
                "message": "Unauthorized",
                "errors": [
                    f"{what}: send Authorization: Bearer <the sandbox API key or admin_token>"
                ],
            },
        )
    ctype = headers.get("content-type", "").lower()
    if changes and (raw.strip() or ctype) and not ctype.startswith("application/json"):
        return _resp(
            415,
            {
                "message": "Unsupported Media Type",
                "errors": ["/_sandbox/* bodies must be sent as Content-Type: application/json"],
            },
        )
    return None


def handle_admin(
    app: SandboxApp, method: str, path: str, query: str, headers: dict[str, str], raw: bytes
) -> Response:
    route = path[len("/_sandbox/") :].rstrip("/")
    if route == "health" and method == "GET":
        return _resp(200, {"status": "ok"})
    refused = _guard(app, method, headers, raw)
    if refused is not None:
        return refused
    params = dict(parse_qsl(query))
    try:
        return _route(app, method, route, params, raw)
    except (ValueError, OptionsError, FaultError) as exc:
        return _bad(str(exc))


def _route(
    app: SandboxApp, method: str, route: str, params: dict[str, str], raw: bytes
) -> Response:
    state = app.state
    key = (method, route)
    if key == ("GET", "health"):
        return _resp(200, {"status": "ok"})
    if key == ("GET", "requests"):
        since = _int_param(params, "since")
        limit = _int_param(params, "limit")
        return _resp(200, {"requests": state.query_records(since, params.get("path"), limit)})
    if key == ("DELETE", "requests"):
        return _resp(200, {"cleared": state.clear_records()})
    if key == ("GET", "stats"):
        stats = state.stats()
        stats["pools"] = app.pools.state()
        return _resp(200, stats)
    if key == ("GET", "faults"):
        return _resp(200, app.faults.to_json())
    if key == ("POST", "faults"):
        spec = _json_body(raw, allow_empty=True)
        if spec is not None and not isinstance(spec, dict):
            raise ValueError("faults must be a JSON object")
        app.set_faults(spec or None)
        return _resp(200, app.faults.to_json())
    if key == ("DELETE", "faults"):
        app.set_faults(None)
        return _resp(200, app.faults.to_json())
    if key == ("GET", "config"):
        return _resp(200, app.opts.public_dict())
    if key == ("POST", "config"):
        data = _json_body(raw, allow_empty=False)
        if not isinstance(data, dict):
            raise ValueError("config must be a JSON object")
        fixed = {"host", "port"} & set(data)
        if fixed:
            raise ValueError(f"cannot change {', '.join(sorted(fixed))} at run time")
        app.apply_options(apply_mapping(app.opts, data))
        return _resp(200, app.opts.public_dict())
    if key == ("GET", "schedules"):
        tz = app.opts.company_time_zone
        return _resp(200, {"schedules": [e.to_json(tz) for e in state.schedules.values()]})
    if key == ("GET", "send_ids"):
        items = [
            {"campaign_id": c, "send_id": s, "created_at": t}
            for (c, s), t in state.send_ids.items()
        ]
        return _resp(200, {"send_ids": items})
    if key == ("POST", "reset"):
        state.clear_records()
        state.reset_stats()
        state.schedules.clear()
        state.deleted_schedules.clear()
        state.send_ids.clear()
        app.pools.reset()
        return _resp(200, {"status": "reset"})
    if route in ROUTES:
        return _resp(405, {"message": "Method Not Allowed"})
    return _resp(404, {"message": "Not Found"})


ROUTES = frozenset(
    {"health", "requests", "stats", "faults", "config", "schedules", "send_ids", "reset"}
)
