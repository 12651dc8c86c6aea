"""The poll loop: consume -> record -> map -> route, then commit and flow control.

Invariants (see README "Delivery semantics"):

* The loop never waits for HTTP: batches go to the sender thread, outcomes come back through
  a queue drained here. All offset bookkeeping happens on this thread.
* A partition's offset is committed only up to the first event that is not final; an event is
  final when every action derived from it was accepted by Braze or its dead-letter record was
  acknowledged by Kafka.
* Rules swapped by a reload are in force for every record returned by a ``consume()`` that
  ended after the swap was requested (the reload is reported only after the request).
"""

from __future__ import annotations

import logging
import queue
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from bridge.actions.base import BULK_BELOW, Item
from bridge.batch import Batcher
from bridge.deliver.outcome import Control, Outcome
from bridge.errors import SourceError
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.state import StateStore
from bridge.models import Record
from bridge.offsets import Hold, InFlight, PartitionTracker
from bridge.ops.health import HealthState
from bridge.ops.metrics import Metrics, Tally
from bridge.processing.clock import Clock, SystemClock
from bridge.processing.committer import Committer
from bridge.processing.flow import FlowControl
from bridge.processing.mapper import NOTHING, Mapped, Mapper
from bridge.processing.ports import KafkaConsumer, Sending
from bridge.processing.rebalance import Partitions
from bridge.processing.router import Router
from bridge.processing.sources import Source, TopicSource
from bridge.ruleset import RuleSet
from bridge.schedules import ScheduleCoordinator
from bridge.settings import Settings
from bridge.signals import StopFlag

log = logging.getLogger("bridge.pipeline")


class Loop:
    """Owns the consumer loop and all per-partition state (one thread: the caller of run)."""

    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        mapper: Mapper,
        *,
        consumer: KafkaConsumer,
        committer: Committer,
        dead_letters: DeadLetterWriter,
        sender: Sending,
        outcomes: queue.SimpleQueue[Outcome | Control],
        metrics: Metrics,
        health: HealthState,
        state: StateStore | None = None,
        source: Source | None = None,
        clock: Clock | None = None,
        stop: StopFlag | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.mapper = mapper
        self.consumer = consumer
        self.committer = committer
        self.trackers = committer.trackers
        self.dlq = dead_letters
        self.sender = sender
        self.metrics = metrics
        self.health = health
        self.state = state
        self.clock = clock or SystemClock()
        self.stop_flag = stop or StopFlag()
        self.tally = Tally()
        self.source: Source = source or TopicSource(settings.topics(), metrics, self.tally)
        self.inflight = InFlight()
        self.batcher = Batcher(settings.batching.linger_ms / 1000.0)
        self.flow = FlowControl(settings, metrics, health, self.trackers, self.inflight)
        self.router = self._router(outcomes)
        self.schedules = (
            ScheduleCoordinator(state, self.router.send, metrics) if state is not None else None
        )
        self.router.schedules = self.schedules
        self.partitions = self._partitions()
        # bound once: looked up for every record
        self._waits = self.flow.registry_retry_at
        self._admit = self.source.admit
        self._map = self.mapper.map
        self._consumed: dict[str, Any] = {}
        self._pending_rules: RuleSet | None = None
        self._closing = False

    def _router(self, outcomes: queue.SimpleQueue[Outcome | Control]) -> Router:
        return Router(
            sender=self.sender,
            outcomes=outcomes,
            dead_letters=self.dlq,
            flow=self.flow,
            metrics=self.metrics,
            tally=self.tally,
            clock=self.clock,
            shadow_topic=self.settings.kafka.shadow_topic,
            targets=_targets(self.rules),
        )

    def _partitions(self) -> Partitions:
        return Partitions(
            settings=self.settings,
            trackers=self.trackers,
            inflight=self.inflight,
            committer=self.committer,
            flow=self.flow,
            metrics=self.metrics,
            health=self.health,
            clock=self.clock,
            flush=self.flush,
            pump=self.pump,
            stopping=lambda: self.stopping,
            forget=self._forget_series,
        )

    def _forget_series(self, keys: list[tuple[str, int]]) -> None:
        """Partitions given up: their lag series go, and every series of a pattern topic this
        member no longer reads (literal subscriptions keep theirs: counters must not reset)."""
        for t in self.metrics.forget_revoked(keys, self.trackers, self.source.topics()):
            self._consumed.pop(t, None)

    # -- public ----------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self.stop_flag.requested

    def stop(self) -> None:
        """Ask the loop to drain and exit (signal-safe: only sets a flag)."""
        self.stop_flag.set()

    def swap_rules(self, rules: RuleSet) -> None:
        """Install new rules before the next consumed record is handled (any thread)."""
        self._pending_rules = rules

    def start(self) -> None:
        """Start the sender and subscribe to the source's topics."""
        self.sender.start()
        p = self.partitions
        self.consumer.subscribe(
            self.source.topics(), on_assign=p.on_assign, on_revoke=p.on_revoke, on_lost=p.on_lost
        )

    def run(self) -> None:
        """Poll until stopped, drain, close."""
        self.start()
        k = self.settings.kafka
        poll_s = k.poll_timeout_ms / 1000.0
        try:
            while not self.stopping:
                self.poll_once(poll_s, k.consume_batch)
            self.partitions.drain(self.consumer, self.settings.shutdown.drain_deadline_s)
            self.tally.flush()
        finally:
            self.close()

    def poll_once(self, poll_s: float, n: int) -> None:
        """One iteration: consume, handle what came back, then the periodic work."""
        now = self.clock.monotonic()
        wait = min(poll_s, max(self.batcher.next_deadline() - now, 0.0))
        if self.sender.in_flight or self.dlq.pending:
            wait = min(wait, 0.02)
        msgs = self.consumer.consume(n, wait)
        self.health.polled()
        if self._pending_rules is not None:
            # A reload requested while consume() waited applies to what it returned.
            self._install_rules()
        if msgs:
            self._handle_all(msgs)
        self.tick(self.clock.monotonic())

    # -- per iteration ---------------------------------------------------------------------
    def tick(self, now: float) -> None:
        for b in self.batcher.due(now):
            self.router.send(b)
        self.router.drain_outcomes()
        self.tally.flush()
        self.dlq.poll()
        if self.state is not None:
            self.state.poll()
        self.committer.maybe_commit(self.consumer, now)
        self.flow.check(self.consumer, now)
        self.source.tick(now, self.trackers)
        if self.source.finished(self.consumer, self.trackers, self.inflight):
            self.stop()

    def flush(self) -> None:
        """Hand every open batch to the router."""
        for b in self.batcher.drain():
            self.router.send(b)

    def pump(self) -> None:
        """Apply outcomes and serve the producers' acknowledgements (drain, revoke)."""
        self.router.drain_outcomes()
        self.dlq.poll()
        if self.state is not None:
            self.state.poll()

    def _handle_all(self, msgs: list[Message]) -> None:
        counts: dict[str, int] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                _source_error(err)
                continue
            topic = m.topic() or ""
            counts[topic] = counts.get(topic, 0) + 1
            self._handle(m, topic)
        for topic, c in counts.items():
            child = self._consumed.get(topic)
            if child is None:
                child = self._consumed[topic] = self.metrics.events_consumed.labels(topic)
            child.inc(c)

    def _handle(self, m: Message, topic: str) -> None:
        key = (topic, m.partition() or 0)
        tracker = self.trackers.get(key)
        if tracker is None or tracker.revoked:
            return  # not ours (any more); the new owner will read it
        waits = self._waits
        if waits and key in waits:
            return  # the partition waits for the schema registry; it was rewound
        cl = tracker.log
        if cl.limit is not None and not cl.accepts(m.offset() or 0):
            # The completed-work map is full: no new work above it until it has room.
            self.flow.wait_for_map(self.consumer, tracker, m.offset() or 0, self.clock.monotonic())
            return
        if cl.skipping and cl.skip_event(m.offset() or 0):
            tracker.skip(m.offset() or 0)  # final before the restart: not sent again
            self.tally.add(self.metrics.events_skipped, topic, "already_delivered")
            return
        admitted = self._admit(m, topic, tracker, self.rules)
        if admitted is not None:
            record, rules, offset = admitted
            mapped = self._map(record, rules)
            if mapped is NOTHING:  # the common case of a filtering rule set, kept short
                tracker.skip(offset)
                self.tally.add(self.metrics.events_skipped, topic, "no_match")
                return
            if (
                cl.skipping
                and cl.work.partial
                and self._drop_final_actions(tracker, offset, mapped)
            ):
                tracker.skip(offset)  # every remaining action was final before the restart
                self.tally.add(self.metrics.events_skipped, topic, "already_delivered")
                return
            self._route(tracker, record, offset, mapped)

    def _drop_final_actions(self, tracker: PartitionTracker, offset: int, mapped: Mapped) -> bool:
        """Leave out the actions that were final before the restart (by rule name); True
        when that left nothing to do. ``mapped`` is this record's own verdict (not NOTHING)."""
        cl = tracker.log
        before = len(mapped.built) + len(mapped.failures)
        kept = [b for b in mapped.built if not cl.skip_action(offset, b[0])]
        failures = [
            f for f in mapped.failures if f.rule is None or not cl.skip_action(offset, f.rule)
        ]
        dropped = {b[0] for b in mapped.built} - {b[0] for b in kept}
        dropped |= {f.rule for f in mapped.failures if f.rule} - {f.rule for f in failures}
        for rule in dropped:
            self.metrics.actions_skipped.labels(rule, "already_delivered").inc()
        mapped.built, mapped.failures = kept, failures
        return before > 0 and not kept and not failures

    def _route(
        self, tracker: PartitionTracker, record: Record, offset: int, mapped: Mapped
    ) -> None:
        """Act on the mapper's verdict; ``offset`` is the record's position in ``tracker``."""
        topic = record.topic
        if mapped.retry is not None:
            now = self.clock.monotonic()
            self.flow.wait_for_registry(self.consumer, tracker, offset, mapped.retry, now)
            return
        for _ in range(mapped.duplicates):
            self.tally.add(self.metrics.events_skipped, topic, "duplicate")
        built, failures = mapped.built, mapped.failures
        if not built and not failures:
            tracker.skip(offset)
            self.tally.add(self.metrics.events_skipped, topic, "no_match")
            return
        ticket = tracker.track(record, len(record.value or b""), offset)
        if built and built[0][1].priority < BULK_BELOW and not failures:
            for b in built:
                if b[1].priority >= BULK_BELOW:
                    break
            else:
                tracker.mark_bulk(ticket)  # bulk work has its own share of the in-flight budget
        for name in mapped.matched:
            self.tally.add(self.metrics.events_matched, topic, name)
        # Held while the actions are handed out, so a shadow batch released on the spot
        # cannot make the ticket final before its later actions hold it.
        routing = Hold(ticket)
        for failure in failures:
            self.router.dead_letter(ticket, failure)
        now = self.clock.monotonic()
        batcher = self.batcher
        ticket.pending += len(built)  # each item below is one of these actions (Item.release)
        for rule, shape, identity, payload in built:
            item = Item(ticket, rule, shape, identity, payload)
            if shape.kind != "send":
                if self.schedules is None:
                    raise SourceError("schedule actions need the state store")
                item.state_key = identity
                self.schedules.handle(item)
                continue
            full = batcher.add(item, now)
            if full is not None:
                self.router.send(full)
        routing.release()

    # -- rules reload ----------------------------------------------------------------------
    def _install_rules(self) -> None:
        new = self._pending_rules
        self._pending_rules = None
        if new is None:
            return
        self.flush()
        self.rules = new
        self.router.targets = _targets(new)
        log.info("rules swapped", extra={"rules": len(new.rules)})

    # -- shutdown --------------------------------------------------------------------------
    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("consumer close failed", extra={"error": str(exc)})
        self.dlq.flush(10)
        if self.state is not None:
            self.state.close()
        self.sender.close()


def _targets(rules: RuleSet) -> dict[str, str]:
    return {r.name: r.target for r in rules.rules}


def _source_error(err: KafkaError) -> None:
    if err.code() == KafkaError._PARTITION_EOF:
        return
    if err.fatal():
        raise SourceError(f"fatal Kafka error: {err}")
    log.warning("kafka error", extra={"error": str(err)})
