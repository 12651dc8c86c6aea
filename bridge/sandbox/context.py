"""What an endpoint handler is given and returns: the request context, the outcome, and the
endpoint description (method, handler, pool, error key)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox import ratelimit as rl
from bridge.sandbox.faults import Faults
from bridge.sandbox.fields import SIZE_GROWTH
from bridge.sandbox.options import SandboxOptions
from bridge.sandbox.ratelimit import Pools
from bridge.sandbox.schedule_object import ScheduleRules
from bridge.sandbox.state import State


class OverLimit(Exception):
    """The request exceeds its pool (raised by handlers that charge their pool themselves)."""


@dataclass(slots=True)
class Ctx:
    opts: SandboxOptions
    state: State
    pools: Pools
    now: float
    body_size: int = 0
    faults: Faults | None = None

    @property
    def rules(self) -> ScheduleRules:
        return ScheduleRules(
            both_flags_ok=self.opts.allow_both_schedule_flags,
            local_offset_ok=self.opts.allow_local_time_offset,
        )

    def variations(self, campaign_id: str | None) -> dict[str, str | None] | None:
        return None if self.faults is None else self.faults.variations_for(campaign_id)

    @property
    def sizes(self) -> int | None:
        """The 50 KB object limit, or None when this body is too small to reach it."""
        limit = self.opts.max_properties_bytes
        return limit if self.body_size * SIZE_GROWTH > limit else None

    @property
    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def dispatch_id(self) -> str:
        return self.state.ids.hex()


@dataclass(slots=True)
class Outcome:
    body: dict[str, Any]
    recipients: int = 0


Handler = Callable[[Ctx, dict[str, Any], dict[str, str]], Outcome]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    handler: Handler
    broadcast_capable: bool = False  # broadcast/audience/segment requests use the broadcast pool
    pool: str = rl.DEFAULT
    error_key: str = "message"  # live activity answers 400s as {"error": ...}
