"""Finishing an answer: serialize it, attach the rate-limit headers and the injected delay, and
record the request (counters, the fault name, the kept entry) in the sandbox state."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from bridge.sandbox.endpoints import ENDPOINTS
from bridge.sandbox.faults import NO_FAULT, Decision
from bridge.sandbox.responses import Response
from bridge.sandbox.state import State


@dataclass(frozen=True, slots=True)
class Call:
    """One request as it is recorded: method, path, query string and arrival time."""

    method: str
    path: str
    query: str
    arrival: float


def _record(
    state: State,
    call: Call,
    body: bytes | None,
    status: int,
    response: bytes | None,
    fault: str | None,
    delay_s: float,
    *,
    recipients: int = 0,
    rate: tuple[int, int, int] | None = None,
) -> None:
    state.record(
        arrival=call.arrival,
        method=call.method,
        path=call.path,
        query=call.query,
        body=body,
        status=status,
        response=response,
        recipients=recipients,
        fault=fault,
        known_path=call.path in ENDPOINTS,
        delay_s=delay_s,
        rate=rate,
    )


def finish(
    state: State,
    call: Call,
    body: bytes | None,
    rate: tuple[int, int, int] | None,
    resp: Response,
    fault: Decision = NO_FAULT,
    *,
    recipients: int = 0,
    fault_name: str | None = None,
) -> Response:
    """Complete `resp` (payload, rate headers, delay) and record the request.

    The recorded fault name is the injected fault's kind, else `fault_name` (queued, partial,
    poison), else "hang" for an injected hang."""
    resp.rate = rate
    resp.delay_s = fault.delay_s
    name = fault_name
    if fault.kind is not None:
        name = fault.kind
    elif name is None and fault.hang:
        name = "hang"
    resp.payload = orjson.dumps(resp.body)
    _record(
        state,
        call,
        body,
        resp.status,
        resp.payload,
        name,
        resp.delay_s,
        recipients=recipients,
        rate=rate,
    )
    return resp


def record_reset(state: State, call: Call, fault: Decision) -> Response:
    """Record an injected connection reset and return the answer that closes the connection."""
    _record(state, call, None, 0, None, "reset", fault.delay_s)
    return Response(0, None, reset=True, delay_s=fault.delay_s)
