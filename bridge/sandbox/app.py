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

Where each step lives: faults.py decides (1), fault_answers.py answers injected faults (1, 5,
6), intake.py checks the key and the body (2, 3), ratelimit.charge picks and charges the pool
(4), the handlers named in endpoints.py validate and apply (5, 6), recording.py finishes and
records every answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from bridge.sandbox import ratelimit as rl
from bridge.sandbox.admin import handle_admin
from bridge.sandbox.context import Ctx, Endpoint, OverLimit
from bridge.sandbox.endpoints import ENDPOINTS
from bridge.sandbox.fault_answers import check_poison, invalid_answer, refusal, success_answer
from bridge.sandbox.faults import NO_FAULT, Decision, Faults
from bridge.sandbox.fields import Invalid
from bridge.sandbox.intake import check_auth, parse_body
from bridge.sandbox.options import SandboxOptions
from bridge.sandbox.ratelimit import Pool, Pools
from bridge.sandbox.recording import Call, finish, record_reset
from bridge.sandbox.responses import Response, mask_key, rate_limited
from bridge.sandbox.state import State

ADMIN_PREFIX = "/_sandbox/"


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
        call = Call(method, path, query, self.clock())
        if ep is None:
            resp = Response(404, {"message": "Not Found"})
            return finish(self.state, call, None, self._default_rate(call.arrival), resp)
        if method != ep.method:
            resp = Response(
                405, {"message": "Method Not Allowed"}, extra_headers=(("Allow", ep.method),)
            )
            return finish(self.state, call, None, self._default_rate(call.arrival), resp)
        return self._braze(ep, call, headers, raw)

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
        call = Call(method, path, query, now)
        return finish(self.state, call, None, self._default_rate(now), resp)

    def _default_rate(self, now: float) -> tuple[int, int, int]:
        return self.pools[rl.DEFAULT].headers(now)

    def _braze(self, ep: Endpoint, call: Call, headers: dict[str, str], raw: bytes) -> Response:
        """A request to a known Braze endpoint with the right method, in the order of the
        module docstring: fault, auth, body, pool, validation, success."""
        now = call.arrival
        fault: Decision = self.faults.decide(call.path, now) if self.faults.active else NO_FAULT
        if fault.kind == "reset":
            return record_reset(self.state, call, fault)
        rate = self.pools[ep.pool].headers(now)
        refused = self._refuse(call, headers, rate, fault)
        if refused is not None:
            return refused
        body: dict[str, Any] = {}
        rec_body = None
        if call.method == "POST":
            parsed = parse_body(ep.error_key, headers, raw)
            if isinstance(parsed, Response):
                return finish(self.state, call, None, rate, parsed, fault)
            body, rec_body = parsed, raw
        pool, ok = rl.charge(self.pools, ep.pool, ep.broadcast_capable, call.path, body, now)
        if not ok:
            return finish(self.state, call, rec_body, pool.headers(now), rate_limited(), fault)
        return self._process(ep, call, body, len(raw), rec_body, pool, fault)

    def _refuse(
        self, call: Call, headers: dict[str, str], rate: tuple[int, int, int], fault: Decision
    ) -> Response | None:
        """The answers given before the body is read: an injected 401, a missing or wrong API
        key, an injected 403 / 429 / 5xx. None when the request goes on."""
        if fault.kind == "unauthorized":
            resp = Response(401, {"message": "Invalid API key: " + mask_key(self.opts.api_key)})
            return finish(self.state, call, None, rate, resp, fault)
        auth_error = check_auth(self.opts.api_key, headers.get("authorization"))
        if auth_error is not None:
            return finish(self.state, call, None, rate, Response(401, auth_error))
        refused = refusal(fault)
        if refused is None:
            return None
        if fault.kind == "rate_limited":
            rate = (rate[0], 0, rate[2])
        return finish(self.state, call, None, rate, refused, fault)

    def _process(
        self,
        ep: Endpoint,
        call: Call,
        body: dict[str, Any],
        body_size: int,
        rec_body: bytes | None,
        pool: Pool,
        fault: Decision,
    ) -> Response:
        """Validate and apply a request that its pool admitted; answer 400/429 or success."""
        now = call.arrival
        ctx = Ctx(self.opts, self.state, self.pools, now, body_size, self.faults)
        try:
            check_poison(self.faults, body)
            outcome = ep.handler(ctx, body, dict(parse_qsl(call.query)))
        except OverLimit:
            return finish(self.state, call, rec_body, pool.headers(now), rate_limited(), fault)
        except Invalid as exc:
            resp, kind = invalid_answer(exc, ep.error_key)
            return finish(
                self.state, call, rec_body, pool.headers(now), resp, fault, fault_name=kind
            )
        resp = Response(self.opts.status_for(call.path), outcome.body)
        if call.method != "POST":  # the listing is not a message request
            fault = Decision(fault.kind, fault.status, fault.delay_s, fault.hang)
        resp, recipients = success_answer(self.faults, fault, resp, body, outcome)
        return finish(
            self.state,
            call,
            rec_body,
            pool.headers(now),
            resp,
            fault,
            recipients=recipients,
            fault_name=fault.success,
        )
