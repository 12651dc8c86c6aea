"""Pacing lanes: requests wait for the pacer one lane at a time.

A lane is one ``(pool, class, audience)``: only the head of each lane waits for the
:class:`~bridge.deliver.pacing.Pacer`, highest priority first, so a queued bulk backlog never
holds the slot a transactional batch needs, and one busy broadcast audience never delays
another's requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.deliver.gate import PriorityGate
from bridge.deliver.pacing import Pacer, is_bulk
from bridge.ops.metrics import Metrics

_MAX_LANES = 10_000  # beyond this, idle audience lanes are forgotten

LaneKey = tuple[str, bool, str | None]  # (pool, bulk?, audience)


class PacingLanes:
    """The sender's pacing lanes over one pacer."""

    def __init__(self, pacer: Pacer, metrics: Metrics) -> None:
        self.pacer = pacer
        self.metrics = metrics
        self._lanes: dict[LaneKey, PriorityGate] = {}

    def __len__(self) -> int:
        return len(self._lanes)

    async def admit(
        self,
        pool: str,
        priority: int,
        audience: str | None,
        *,
        progress: Callable[[float], None],
        halted: Callable[[], bool],
    ) -> None:
        """Wait until the pacer lets this request start, and reserve its place in the pool.

        The wait is cut short when the workspace halts (the halt's probe wait takes over).
        Seconds waited are counted in ``bridge_paced_seconds_total``.
        """
        key = (pool, is_bulk(priority), audience)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = PriorityGate(1)
        await lane.acquire(priority)  # lane.slot(), without a generator per request
        try:
            waited = 0.0
            while (d := self.pacer.delay(pool, priority, audience)) > 0:
                progress(min(d, 1.0))
                await asyncio.sleep(min(d, 1.0))
                waited += min(d, 1.0)
                if halted():
                    break
            if waited:
                self.metrics.paced_seconds.labels(pool).inc(waited)
            self.pacer.started(pool, audience)
        finally:
            lane.release()
        if audience is not None and len(self._lanes) > _MAX_LANES:
            self._lanes = {k: v for k, v in self._lanes.items() if v.held or k[2] is None}
