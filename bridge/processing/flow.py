"""Flow control: one set of pause reasons decides whether fetching runs.

Reasons: ``backpressure`` (too much in flight), ``circuit_breaker`` (too many dead letters),
the sender's halts (``auth``: 401/403 until the key works), ``shutdown`` (the drain). Every
reason except back-pressure is a halt: it is reported to readiness and to the
``bridge_halted{reason}`` gauge. A sender's halt concerns one workspace: fetching goes on
(that workspace's batches wait in its sender, its events' tickets stay open, back-pressure
bounds them) and the halt becomes a pause reason only once every workspace is halted.
A partition waiting for the schema registry is paused on its own and resumed when its
retry time has come (unless a reason pauses everything).
"""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import KafkaException, TopicPartition

from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.health import HealthState
from bridge.ops.metrics import Metrics
from bridge.processing.breaker import CircuitBreaker
from bridge.settings import Settings

log = logging.getLogger("bridge.processing.flow")

BACKPRESSURE = "backpressure"
CIRCUIT_BREAKER = "circuit_breaker"
SHUTDOWN = "shutdown"
REGISTRY_RETRY_S = 5.0
MAP_RETRY_S = 0.25


class Pausing(Protocol):
    """The part of a consumer flow control uses."""

    def pause(self, partitions: list[TopicPartition]) -> None: ...

    def resume(self, partitions: list[TopicPartition]) -> None: ...

    def seek(self, partition: TopicPartition) -> None: ...


class FlowControl:
    """Owns the pause reasons, the breaker's open state and the per-partition registry waits."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        health: HealthState,
        trackers: dict[tuple[str, int], PartitionTracker],
        inflight: InFlight,
    ) -> None:
        self.kafka = settings.kafka
        self.cb = settings.delivery.circuit_breaker
        self.metrics = metrics
        self.health = health
        self.trackers = trackers
        self.inflight = inflight
        self.reasons: set[str] = set()
        self.workspaces = frozenset(settings.braze.by_name())
        self.halted_workspaces: dict[str, set[str]] = {}  # reason -> workspaces halted by it
        self.paused = False
        self.breaker = CircuitBreaker(
            self.cb.window_s, self.cb.min_events, self.cb.max_dead_letter_ratio
        )
        self._breaker_until = 0.0
        # With several workspaces each also has its own breaker: when it opens, that
        # workspace's batches are held (by the router) for probe_interval_s, the others flow.
        several = len(self.workspaces) > 1
        self.workspace_breakers = {
            ws: CircuitBreaker(self.cb.window_s, self.cb.min_events, self.cb.max_dead_letter_ratio)
            for ws in (sorted(self.workspaces) if several else ())
        }
        self.held: dict[str, float] = {}  # workspace -> when its open breaker half-opens
        self.registry_retry_at: dict[tuple[str, int], float] = {}
        self.bulk_paused: set[tuple[str, int]] = set()  # paused for the bulk share (_check_bulk)

    # -- reasons ---------------------------------------------------------------------------
    def set(self, reason: str, on: bool) -> None:
        """Add or remove a pause reason; halts are reported to readiness and the gauge."""
        if on:
            self.reasons.add(reason)
        else:
            self.reasons.discard(reason)
        if reason != BACKPRESSURE:
            self.health.halted(reason, on)

    def set_workspace(self, reason: str, workspace: str, on: bool) -> None:
        """One workspace's sender halted (or resumed) for ``reason``; pause only when every
        configured workspace is halted (a halt from an unknown workspace pauses at once)."""
        if workspace not in self.workspaces:
            self.set(reason, on)
            return
        halted = self.halted_workspaces.setdefault(reason, set())
        if on:
            halted.add(workspace)
        else:
            halted.discard(workspace)
        every = halted >= self.workspaces
        if every != (reason in self.reasons):
            self.set(reason, every)

    def record(self, now: float, dead: bool, n: int = 1, workspace: str | None = None) -> None:
        """``n`` events became final. With several workspaces a workspace's delivery outcomes
        count in its own breaker, and the process-wide one counts as dead only the dead
        letters no workspace owns (decode and mapping failures): one workspace's broken
        campaign holds that workspace, not every partition."""
        wb = self.workspace_breakers.get(workspace) if workspace is not None else None
        if wb is not None:
            wb.record(now, dead, n)
        self.breaker.record(now, dead and wb is None, n)

    def _check_workspace_breakers(self, now: float) -> None:
        cbs = self.cb
        for ws, wb in self.workspace_breakers.items():
            if ws in self.held:
                if now >= self.held[ws]:
                    log.warning("circuit breaker of workspace %s half-open: sending again", ws)
                    del self.held[ws]
                    wb.reset()
                    self.metrics.workspace_halted.labels(ws, CIRCUIT_BREAKER).set(0)
            elif wb.tripped():
                log.error(
                    "HALTED (workspace %s): circuit breaker open: %.0f%% of %d of its events in "
                    "the last %gs were dead-lettered (limit %.0f%%); its requests are held for "
                    "%gs, other workspaces keep flowing. Check its rules and campaign/Canvas ids.",
                    ws,
                    wb.dead / max(wb.finals, 1) * 100,
                    wb.finals,
                    cbs.window_s,
                    cbs.max_dead_letter_ratio * 100,
                    cbs.probe_interval_s,
                )
                self.held[ws] = now + cbs.probe_interval_s
                self.metrics.workspace_halted.labels(ws, CIRCUIT_BREAKER).set(1)

    def waiting_for_registry(self, key: tuple[str, int]) -> bool:
        return bool(self.registry_retry_at) and key in self.registry_retry_at

    # -- per tick --------------------------------------------------------------------------
    def check(self, consumer: Pausing, now: float) -> None:
        """Re-evaluate back-pressure, the breaker and registry waits; pause or resume."""
        self.metrics.events_in_flight.set(self.inflight.events)
        self._check_pressure()
        self._check_bulk(consumer)
        if self.cb.enabled:
            if self.workspace_breakers:
                self._check_workspace_breakers(now)
            self._check_breaker(now)
        if self.registry_retry_at:
            for key, at in list(self.registry_retry_at.items()):
                if now >= at:
                    del self.registry_retry_at[key]
                    if not self.reasons and key not in self.bulk_paused:
                        _resume(consumer, [TopicPartition(key[0], key[1])])
        self.apply(consumer)

    def _check_pressure(self) -> None:
        k, f = self.kafka, self.inflight
        if f.events > k.max_events_in_flight or f.bytes > k.max_bytes_in_flight:
            self.set(BACKPRESSURE, True)
        elif f.events < k.max_events_in_flight // 2 and f.bytes < k.max_bytes_in_flight // 2:
            self.set(BACKPRESSURE, False)

    def _check_bulk(self, consumer: Pausing) -> None:
        """Bulk work (rules with a bulk priority) may hold at most half of
        ``max_events_in_flight``: beyond that, the partitions whose open work is all bulk are
        paused until bulk work drains to a quarter, so a bulk backlog never fills the budget
        that transactional topics need (a partition mixing both waits with its bulk work)."""
        cap = max(self.kafka.max_events_in_flight // 2, 1)
        bulk = self.inflight.bulk_events
        if bulk > cap and not self.bulk_paused:
            keys = {key for key, tr in self.trackers.items() if tr.only_bulk_open}
            if keys:
                try:
                    consumer.pause([TopicPartition(t, p) for (t, p) in keys])
                except KafkaException as exc:
                    log.warning("pause failed", extra={"error": str(exc)})
                    return
                self.bulk_paused = keys
                self.metrics.bulk_pauses.inc()
                log.info(
                    "bulk work holds half the in-flight budget; pausing its partitions",
                    extra={"bulk_events": bulk, "partitions": len(keys)},
                )
        elif self.bulk_paused and bulk < cap // 2:
            keys, self.bulk_paused = self.bulk_paused, set()
            if not self.paused:
                parts = [
                    TopicPartition(t, p)
                    for (t, p) in keys
                    if (t, p) in self.trackers and (t, p) not in self.registry_retry_at
                ]
                _resume(consumer, parts)

    def _check_breaker(self, now: float) -> None:
        cbs, breaker = self.cb, self.breaker
        if CIRCUIT_BREAKER in self.reasons:
            if now >= self._breaker_until:
                log.warning("circuit breaker half-open: resuming to probe")
                self.set(CIRCUIT_BREAKER, False)
                breaker.reset()
                self.metrics.circuit_breaker_open.set(0)
        elif breaker.tripped():
            ratio = breaker.dead / max(breaker.finals, 1)
            log.error(
                "HALTED: circuit breaker open: %.0f%% of %d events in the last %gs were "
                "dead-lettered (limit %.0f%%); fetching paused for %gs. Check rules, "
                "campaign/Canvas ids and the dead-letter topic.",
                ratio * 100,
                breaker.finals,
                cbs.window_s,
                cbs.max_dead_letter_ratio * 100,
                cbs.probe_interval_s,
            )
            self.set(CIRCUIT_BREAKER, True)
            self._breaker_until = now + cbs.probe_interval_s
            self.metrics.circuit_breaker_open.set(1)

    def apply(self, consumer: Pausing) -> None:
        """Pause every assigned partition while any reason holds; resume when none does."""
        want = bool(self.reasons)
        if want == self.paused:
            return
        parts = [TopicPartition(t, p) for (t, p) in self.trackers]
        if want:
            try:
                consumer.pause(parts)
            except KafkaException as exc:
                log.warning("pause failed", extra={"error": str(exc)})
                return
            log.info("fetching paused", extra={"reasons": sorted(self.reasons)})
        else:
            held = self.registry_retry_at.keys() | self.bulk_paused
            parts = [tp for tp in parts if (tp.topic, tp.partition) not in held]
            _resume(consumer, parts)
            log.info("fetching resumed")
        self.paused = want

    # -- the schema registry ---------------------------------------------------------------
    def wait_for_registry(
        self, consumer: Pausing, tracker: PartitionTracker, offset: int, exc: Exception, now: float
    ) -> None:
        """Pause ``tracker``'s partition and rewind it to ``offset`` for a later retry."""
        tp = TopicPartition(tracker.topic, tracker.partition, offset)
        log.warning(
            "schema registry unavailable; pausing partition and retrying",
            extra={"topic": tracker.topic, "partition": tracker.partition, "error": str(exc)},
        )
        self.metrics.registry_waits.inc()
        self.registry_retry_at[(tracker.topic, tracker.partition)] = now + REGISTRY_RETRY_S
        try:
            consumer.pause([tp])
            consumer.seek(tp)
        except KafkaException as e:
            log.warning("pause/seek failed", extra={"error": str(e)})

    # -- the completed-work map -------------------------------------------------------------
    def wait_for_map(
        self, consumer: Pausing, tracker: PartitionTracker, offset: int, now: float
    ) -> None:
        """The partition's completed-work map is full: pause it and rewind to ``offset``
        until the watermark moves and the map has room (checked every ``MAP_RETRY_S``)."""
        key = (tracker.topic, tracker.partition)
        if key not in self.registry_retry_at:
            self.metrics.completion_map_waits.inc()
            log.info(
                "completed-work map full; pausing the partition until it has room",
                extra={"topic": tracker.topic, "partition": tracker.partition, "offset": offset},
            )
        self.registry_retry_at[key] = now + MAP_RETRY_S
        tp = TopicPartition(tracker.topic, tracker.partition, offset)
        try:
            consumer.pause([tp])
            consumer.seek(tp)
        except KafkaException as e:
            log.warning("pause/seek failed", extra={"error": str(e)})

    def forget(self, key: tuple[str, int]) -> None:
        """A partition was given up: its registry wait and bulk pause go with it."""
        self.registry_retry_at.pop(key, None)
        self.bulk_paused.discard(key)


def _resume(consumer: Pausing, parts: list[TopicPartition]) -> None:
    try:
        consumer.resume(parts)
    except KafkaException as exc:
        log.warning("resume failed", extra={"error": str(exc)})
