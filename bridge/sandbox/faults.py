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
     "forbidden_for_s": 5,
     "queued_rate": 0.1, "partial_error_rate": 0.1,
     "message_variations": {"c1": ["v1"], "c2": {"v2": "email"}},
     "duplicate_send_id_status": 400,
     "paths": ["/campaigns/trigger/send"]}

Random draws come from one `random.Random(seed)`, in a fixed order per request, so a run with
the same seed and the same request sequence injects the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox import fault_settings as fs
from bridge.sandbox.fault_settings import KNOWN, FaultError

ERROR_TEXTS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(slots=True)
class Decision:
    # None | "unauthorized" | "forbidden" | "rate_limited" | "reset" | "error"
    kind: str | None = None
    status: int = 0
    delay_s: float = 0.0
    hang: bool = False
    # applied to a request that succeeds: None | "queued" | "partial"
    success: str | None = None


NO_FAULT = Decision()


DUPLICATE_SEND_ID_TEXT = "send_id already exists"


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
    forbidden_until: float = 0.0
    queued_rate: float = 0.0
    partial_error_rate: float = 0.0
    message_variations: dict[str, dict[str, str | None]] = field(default_factory=dict)
    duplicate_send_id_status: int | None = None
    duplicate_send_id_message: str = DUPLICATE_SEND_ID_TEXT
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
        rl_for = fs.seconds(data, "rate_limit_for_s", None)
        unauth_for = fs.seconds(data, "unauthorized_for_s", None)
        forbidden_for = fs.seconds(data, "forbidden_for_s", None)
        dup = data.get("duplicate_send_id_status")
        if dup is not None and (
            isinstance(dup, bool) or not isinstance(dup, int) or not 400 <= dup <= 499
        ):
            raise FaultError("duplicate_send_id_status: expected a 4xx status")
        dup_text = data.get("duplicate_send_id_message", DUPLICATE_SEND_ID_TEXT)
        if not isinstance(dup_text, str) or not dup_text:
            raise FaultError("duplicate_send_id_message: expected a non-empty string")
        return cls(
            spec=dict(data),
            error_rate=fs.rate(data, "error_rate"),
            error_statuses=tuple(statuses),
            latency=fs.latency(data.get("latency_ms")),
            hang_rate=fs.rate(data, "hang_rate"),
            hang_s=fs.seconds(data, "hang_s", 60.0) or 0.0,
            reset_rate=fs.rate(data, "reset_rate"),
            rate_limit_until=now + rl_for if rl_for else 0.0,
            unauthorized_until=now + unauth_for if unauth_for else 0.0,
            poison_prefixes=fs.strings(data, "poison_prefixes"),
            poison_ids=frozenset(fs.strings(data, "poison_ids")),
            paths=None if paths is None else frozenset(fs.strings(data, "paths")),
            forbidden_until=now + forbidden_for if forbidden_for else 0.0,
            queued_rate=fs.rate(data, "queued_rate"),
            partial_error_rate=fs.rate(data, "partial_error_rate"),
            message_variations=fs.variations(data.get("message_variations")),
            duplicate_send_id_status=dup,
            duplicate_send_id_message=dup_text,
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
            "forbidden_until": self.forbidden_until or None,
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
        # newer fault kinds draw after the older ones, so old seeds give the old sequence
        queued = self.queued_rate > 0 and rng.random() < self.queued_rate
        partial = self.partial_error_rate > 0 and rng.random() < self.partial_error_rate
        if queued:
            d.success = "queued"
        elif partial:
            d.success = "partial"
        if now < self.unauthorized_until:
            d.kind = "unauthorized"
        elif now < self.forbidden_until:
            d.kind = "forbidden"
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
            if isinstance(uid, int) and not isinstance(uid, bool):
                uid = str(uid)
            if not isinstance(uid, str):
                continue
            if uid in self.poison_ids or uid.startswith(self.poison_prefixes):
                return uid
        return None

    def variations_for(self, campaign_id: str | None) -> dict[str, str | None] | None:
        """The known message-variation ids of a campaign (None = not configured)."""
        if campaign_id is None or not self.message_variations:
            return None
        return self.message_variations.get(campaign_id)

    def pick(self, n: int) -> int:
        """A recipient index for a partial-error answer (drawn only when one is injected)."""
        return self.rng.randrange(n) if n > 1 else 0
