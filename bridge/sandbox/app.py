"""Request handling of the sandbox, independent of the HTTP transport.

Order of checks for a Braze endpoint (each step answers and stops on failure):

1. fault decision (connection reset / 401 window / 403 window / 429 window / injected 5xx)
2. `Authorization: Bearer <key>` → 401
3. body: Content-Type and JSON object → 400 (`{"error": ...}` for live activity)
4. rate-limit pool (`broadcast` for broadcast/audience/segment requests on the send and
   trigger-schedule-create endpoints, `sends_id` for new send ids, else `default`) → 429.
   Requests that reach this step count against the pool even if validation then fails.
5. per-endpoint validation → 400; poison-recipient fault → 400
6. success (status per endpoint, overridable) and state change; the `queued` fault turns it
   into `202 {"message": "queued"}`, the `partial` fault adds an `errors[]` entry.

Injected latency and hangs delay the answer after processing (the request has already been
accepted and recorded when the client times out - the ambiguous case a client must handle).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from bridge.deliver.pools import audience_key
from bridge.sandbox import ratelimit as rl
from bridge.sandbox.admin import handle_admin
from bridge.sandbox.endpoints import ENDPOINTS, Ctx, Endpoint, OverLimit, is_broadcast
from bridge.sandbox.faults import ERROR_TEXTS, NO_FAULT, Decision, Faults
from bridge.sandbox.options import SandboxOptions
from bridge.sandbox.ratelimit import Pools
from bridge.sandbox.state import State
from bridge.sandbox.validate import IDENTIFIERS, Invalid

ADMIN_PREFIX = "/_sandbox/"
# Braze's documented live-activity 400 body text (live_activity/update.md, start.md)
LIVE_ACTIVITY_BAD_BODY = (
    "\nProblem:\n  message body does not match declared format\nResolution:\n  when specifying "
    "application/json as content-type, you must pass valid application/json in the "
    "request's 'body' "
)
MSG_ACCESS_DENIED = "Access Denied"
PARTIAL_TEXT = "sandbox fault: not delivered"
POISON_TEXT = "sandbox fault: the request contains a poisoned recipient"


@dataclass(slots=True)
class Response:
    status: int
    body: Any  # JSON-able
    payload: bytes | None = None  # body serialized (set by SandboxApp._finish)
    rate: tuple[int, int, int] | None = None  # X-RateLimit-Limit/Remaining/Reset
    delay_s: float = 0.0
    reset: bool = False  # close the connection without answering
    close: bool = False
    extra_headers: tuple[tuple[str, str], ...] = ()


def mask_key(key: str) -> str:
    return key[:4] + "****" if len(key) > 8 else "****"


class SandboxApp:
    def __init__(self, options: SandboxOptions, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.opts = options
        self.state = State(options.record_limit, options.seed, options.record_max_bytes)
        self.pools = Pools(
            hourly_limit=options.hourly_limit,
            hourly_window_s=options.hourly_window_s,
            broadcast_limit=options.broadcast_limit,
            broadcast_window_s=options.broadcast_window_s,
            sends_id_limit=options.sends_id_daily_limit,
            sends_id_window_s=options.sends_id_window_s,
            broadcast_audience_limit=options.broadcast_audience_limit,
            clock=clock,
        )
        self.faults = Faults.parse(options.faults, clock(), options.seed)

    # ------------------------------------------------------------ configuration

    def apply_options(self, new: SandboxOptions) -> None:
        """Switch to `new` settings; all or nothing (bad faults raise before any change)."""
        faults = None
        if new.faults != self.opts.faults:
            faults = Faults.parse(new.faults, self.clock(), new.seed)
        old, self.opts = self.opts, new
        self.pools.reconfigure(rl.DEFAULT, new.hourly_limit, new.hourly_window_s, None)
        self.pools.reconfigure(
            rl.BROADCAST,
            new.broadcast_limit,
            new.broadcast_window_s,
            new.broadcast_audience_limit,
        )
        self.pools.reconfigure(rl.SENDS_ID, new.sends_id_daily_limit, new.sends_id_window_s, None)
        if (new.record_limit, new.record_max_bytes) != (old.record_limit, old.record_max_bytes):
            self.state.set_record_limit(new.record_limit, new.record_max_bytes)
        if faults is not None:
            self.faults = faults

    def set_faults(self, spec: dict[str, Any] | None) -> None:
        self.faults = Faults.parse(spec, self.clock(), self.opts.seed)
        self.opts.faults = spec

    # ------------------------------------------------------------ requests

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
        path, _, query = target.partition("?")
        if path.startswith(ADMIN_PREFIX):
            return handle_admin(self, method, path, query, headers, raw)
        ep = ENDPOINTS.get(path)
        now = self.clock()
        if ep is None:
            return self._finish(
                method,
                path,
                query,
                None,
                now,
                self._default_rate(now),
                Response(404, {"message": "Not Found"}),
            )
        if method != ep.method:
            resp = Response(
                405, {"message": "Method Not Allowed"}, extra_headers=(("Allow", ep.method),)
            )
            return self._finish(method, path, query, None, now, self._default_rate(now), resp)
        return self._braze(ep, method, path, query, headers, raw, now)

    def too_large(self, method: str, target: str, length: int) -> Response:
        """Answer for a body over the size limit (sent before reading the body)."""
        path, _, query = target.partition("?")
        now = self.clock()
        resp = Response(
            413,
            {"message": "Request Entity Too Large"},
            close=True,
        )
        if path.startswith(ADMIN_PREFIX):
            return resp
        return self._finish(method, path, query, None, now, self._default_rate(now), resp)

    def _default_rate(self, now: float) -> tuple[int, int, int]:
        return self.pools[rl.DEFAULT].headers(now)

    def _braze(
        self,
        ep: Endpoint,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        raw: bytes,
        now: float,
    ) -> Response:
        fault: Decision = self.faults.decide(path, now) if self.faults.active else NO_FAULT
        pool = self.pools[ep.pool]
        if fault.kind == "reset":
            self.state.record(
                arrival=now,
                method=method,
                path=path,
                query=query,
                body=None,
                status=0,
                response=None,
                fault="reset",
                delay_s=fault.delay_s,
            )
            return Response(0, None, reset=True, delay_s=fault.delay_s)
        rate = pool.headers(now)
        if fault.kind == "unauthorized":
            resp = Response(401, {"message": "Invalid API key: " + mask_key(self.opts.api_key)})
            return self._finish(method, path, query, None, now, rate, resp, fault)
        auth_error = self._check_auth(headers.get("authorization"))
        if auth_error is not None:
            return self._finish(method, path, query, None, now, rate, Response(401, auth_error))
        if fault.kind == "forbidden":
            resp = Response(403, {"message": MSG_ACCESS_DENIED})
            return self._finish(method, path, query, None, now, rate, resp, fault)
        if fault.kind == "rate_limited":
            resp = Response(429, {"message": "Rate limit exceeded"})
            return self._finish(method, path, query, None, now, (rate[0], 0, rate[2]), resp, fault)
        if fault.kind == "error":
            resp = Response(
                fault.status, {"message": ERROR_TEXTS.get(fault.status, "Server Error")}
            )
            return self._finish(method, path, query, None, now, rate, resp, fault)
        body: dict[str, Any] = {}
        if method == "POST":
            parsed = self._parse_body(ep, headers, raw)
            if isinstance(parsed, Response):
                return self._finish(method, path, query, None, now, rate, parsed, fault)
            body = parsed
        rec_body = raw if method == "POST" else None
        if ep.broadcast_capable and is_broadcast(path, body):
            pool = self.pools[rl.BROADCAST]
            ok = pool.take(now, audience_key(body) if pool.sub_limit else None)
        else:
            ok = ep.pool == rl.SENDS_ID or pool.take(now)
        if not ok:
            resp = Response(429, {"message": "Rate limit exceeded"})
            return self._finish(method, path, query, rec_body, now, pool.headers(now), resp, fault)
        ctx = Ctx(self.opts, self.state, self.pools, now, len(raw), self.faults)
        try:
            if self.faults.active and self.faults.poisoned(body) is not None:
                raise Invalid("Bad Request", POISON_TEXT)
            outcome = ep.handler(ctx, body, dict(parse_qsl(query)))
        except OverLimit:
            resp = Response(429, {"message": "Rate limit exceeded"})
            return self._finish(method, path, query, rec_body, now, pool.headers(now), resp, fault)
        except Invalid as exc:
            err: dict[str, Any] = exc.body()
            if ep.error_key != "message":
                err[ep.error_key] = err.pop("message")
            resp = Response(exc.status, err)
            kind = "poison" if exc.errors == [POISON_TEXT] else None
            return self._finish(
                method, path, query, rec_body, now, pool.headers(now), resp, fault, fault_name=kind
            )
        resp = Response(self.opts.status_for(path), outcome.body)
        recipients = outcome.recipients
        if method != "POST":  # the listing is not a message request
            fault = Decision(fault.kind, fault.status, fault.delay_s, fault.hang)
        if fault.success == "queued":
            resp = Response(202, {"message": "queued"})
        elif fault.success == "partial":
            error = self._partial_error(body, recipients)
            resp.body = {**outcome.body, "errors": [error]}
            recipients = max(0, recipients - 1)
        return self._finish(
            method,
            path,
            query,
            rec_body,
            now,
            pool.headers(now),
            resp,
            fault,
            recipients=recipients,
            fault_name=fault.success,
        )

    def _partial_error(self, body: dict[str, Any], n: int) -> str:
        """The `errors[]` entry of an injected partial success, naming one recipient."""
        if n <= 0:
            return f"{PARTIAL_TEXT} (some users of the audience)"
        i = self.faults.pick(n)
        recipients = body.get("recipients")
        if isinstance(recipients, list) and i < len(recipients):
            rec = recipients[i]
            ident = next((k for k in IDENTIFIERS if rec.get(k) is not None), "recipient")
            return (
                f"recipients[{i}] ({ident} {orjson.dumps(rec.get(ident)).decode()}): {PARTIAL_TEXT}"
            )
        ids = [*(body.get("external_user_ids") or []), *(body.get("user_aliases") or [])]
        if i < len(ids):
            return f"{orjson.dumps(ids[i]).decode()}: {PARTIAL_TEXT}"
        return f"recipient {i}: {PARTIAL_TEXT}"

    def _check_auth(self, value: str | None) -> dict[str, str] | None:
        if not value:
            return {"message": "Invalid API key: no API key (send Authorization: Bearer <key>)"}
        scheme, _, key = value.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return {"message": "Invalid API key: expected Authorization: Bearer <key>"}
        if not hmac.compare_digest(key.encode(), self.opts.api_key.encode()):
            return {"message": "Invalid API key: " + mask_key(key)}
        return None

    def _parse_body(
        self, ep: Endpoint, headers: dict[str, str], raw: bytes
    ) -> dict[str, Any] | Response:
        def bad(detail: str) -> Response:
            if ep.error_key == "error":
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

    def _finish(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes | None,
        now: float,
        rate: tuple[int, int, int] | None,
        resp: Response,
        fault: Decision = NO_FAULT,
        *,
        recipients: int = 0,
        fault_name: str | None = None,
    ) -> Response:
        resp.rate = rate
        resp.delay_s = fault.delay_s
        name = fault_name
        if fault.kind is not None:
            name = fault.kind
        elif name is None and fault.hang:
            name = "hang"
        resp.payload = orjson.dumps(resp.body)
        self.state.record(
            arrival=now,
            method=method,
            path=path,
            query=query,
            body=body,
            status=resp.status,
            response=resp.payload,
            recipients=recipients,
            fault=name,
            known_path=path in ENDPOINTS,
            delay_s=resp.delay_s,
            rate=rate,
        )
        return resp
