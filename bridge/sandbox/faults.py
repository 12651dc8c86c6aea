"""Fault injection for the Braze endpoints of the sandbox.

Fault settings (all optional; see docs/sandbox.md):

    {"seed": 7,
     "error_rate": 0.1, "error_statuses": [500, 502, 503, 504],
     "latency_ms": 20  |  [5, 50]  |  {"min": 5, "max": 50},
     "hang_rate": 0.01, "hang_s": 30,
     "reset_rate": 0.01,
     "rate_limit_for_s": 10,
     "unauthorized_for_s": 5,
     "poison_prefixes": ["poison-"], "poison_ids": ["user-13"],
     "paths": ["/campaigns/trigger/send"]}

Random draws come from one `random.Random(seed)`, in a fixed order per request, so a run with
the same seed and the same request sequence injects the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

ERROR_TEXTS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultError(ValueError):
    """Bad fault settings."""


@dataclass(slots=True)
class Decision:
    kind: str | None = None  # None | "unauthorized" | "rate_limited" | "reset" | "error"
    status: int = 0
    delay_s: float = 0.0
    hang: bool = False


NO_FAULT = Decision()


def _rate(data: dict[str, Any], key: str) -> float:
    v = data.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        raise FaultError(f"{key}: expected a number between 0 and 1")
    return float(v)


def _seconds(data: dict[str, Any], key: str, default: float | None) -> float | None:
    v = data.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise FaultError(f"{key}: expected a number >= 0")
    return float(v)


def _latency(v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    if isinstance(v, dict):
        v = [v.get("min"), v.get("max")]
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = [v, v]
    if (
        not isinstance(v, list)
        or len(v) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        or not 0 <= v[0] <= v[1]
    ):
        raise FaultError("latency_ms: expected ms, [min, max] or {min, max} with 0 <= min <= max")
    return float(v[0]), float(v[1])


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    v = data.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise FaultError(f"{key}: expected a list of non-empty strings")
    return tuple(v)


KNOWN = frozenset(
    {
        "seed",
        "error_rate",
        "error_statuses",
        "latency_ms",
        "hang_rate",
        "hang_s",
        "reset_rate",
        "rate_limit_for_s",
        "unauthorized_for_s",
        "poison_prefixes",
        "poison_ids",
        "paths",
    }
)


@dataclass
class Faults:
    spec: dict[str, Any] = field(default_factory=dict)
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    latency: tuple[float, float] | None = None
    hang_rate: float = 0.0
    hang_s: float = 60.0
    reset_rate: float = 0.0
    rate_limit_until: float = 0.0
    unauthorized_until: float = 0.0
    poison_prefixes: tuple[str, ...] = ()
    poison_ids: frozenset[str] = frozenset()
    paths: frozenset[str] | None = None
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def parse(cls, data: dict[str, Any] | None, now: float, seed: int | None) -> Faults:
        if not data:
            return cls(rng=random.Random(seed))
        if not isinstance(data, dict):
            raise FaultError("faults: expected a JSON object")
        unknown = sorted(set(data) - KNOWN)
        if unknown:
            raise FaultError(f"unknown fault setting(s): {', '.join(unknown)}")
        statuses = data.get("error_statuses", [500, 502, 503, 504])
        if (
            not isinstance(statuses, list)
            or not statuses
            or not all(isinstance(s, int) and 500 <= s <= 599 for s in statuses)
        ):
            raise FaultError("error_statuses: expected a non-empty list of 5xx statuses")
        fseed = data.get("seed", seed)
        if fseed is not None and (isinstance(fseed, bool) or not isinstance(fseed, int)):
            raise FaultError("seed: expected an integer")
        paths = data.get("paths")
        rl_for = _seconds(data, "rate_limit_for_s", None)
        unauth_for = _seconds(data, "unauthorized_for_s", None)
        return cls(
            spec=dict(data),
            error_rate=_rate(data, "error_rate"),
            error_statuses=tuple(statuses),
            latency=_latency(data.get("latency_ms")),
            hang_rate=_rate(data, "hang_rate"),
            hang_s=_seconds(data, "hang_s", 60.0) or 0.0,
            reset_rate=_rate(data, "reset_rate"),
            rate_limit_until=now + rl_for if rl_for else 0.0,
            unauthorized_until=now + unauth_for if unauth_for else 0.0,
            poison_prefixes=_strings(data, "poison_prefixes"),
            poison_ids=frozenset(_strings(data, "poison_ids")),
            paths=None if paths is None else frozenset(_strings(data, "paths")),
            rng=random.Random(fseed),
        )

    @property
    def active(self) -> bool:
        return bool(self.spec)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": self.spec,
            "rate_limit_until": self.rate_limit_until or None,
            "unauthorized_until": self.unauthorized_until or None,
        }

    def decide(self, path: str, now: float) -> Decision:
        """The fault (if any) for one request to a Braze endpoint."""
        if not self.spec or (self.paths is not None and path not in self.paths):
            return NO_FAULT
        d = Decision()
        rng = self.rng
        # draws in a fixed order so runs are reproducible
        reset = self.reset_rate > 0 and rng.random() < self.reset_rate
        error = self.error_rate > 0 and rng.random() < self.error_rate
        status = rng.choice(self.error_statuses) if error else 0
        hang = self.hang_rate > 0 and rng.random() < self.hang_rate
        if self.latency is not None:
            lo, hi = self.latency
            d.delay_s = (lo if lo == hi else rng.uniform(lo, hi)) / 1000.0
        if now < self.unauthorized_until:
            d.kind = "unauthorized"
        elif now < self.rate_limit_until:
            d.kind = "rate_limited"
        elif reset:
            d.kind = "reset"
        elif error:
            d.kind, d.status = "error", status
        if hang:
            d.hang = True
            d.delay_s += self.hang_s
        return d

    def poisoned(self, body: dict[str, Any]) -> str | None:
        """The first poisoned external_user_id in the request, if any."""
        if not self.poison_ids and not self.poison_prefixes:
            return None
        ids: list[Any] = []
        recipients = body.get("recipients")
        if isinstance(recipients, list):
            ids.extend(r.get("external_user_id") for r in recipients if isinstance(r, dict))
        ext = body.get("external_user_ids")
        if isinstance(ext, list):
            ids.extend(ext)
        for uid in ids:
            if not isinstance(uid, str):
                continue
            if uid in self.poison_ids or uid.startswith(self.poison_prefixes):
                return uid
        return None
