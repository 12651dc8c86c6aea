"""The poll loop: source -> decode -> rules -> batch -> deliver -> commit / dead-letter.

Invariants (see README "Delivery semantics"):

* The loop never waits for HTTP: batches go to the :class:`Sender` thread, outcomes come back
  through a queue drained here. All offset bookkeeping happens on this thread.
* A partition's offset is committed only up to the first event that is not final; an event
  is final when every action derived from it was accepted by Braze or its dead-letter record
  was acknowledged by Kafka.
* Fetching pauses when too much is in flight, while halted (401/403) and while the
  dead-letter circuit breaker is open; nothing is dropped.
* On revoke, the revoked partitions' work is finished (up to a deadline) and committed
  before they are given up. On SIGTERM: stop fetching, flush, wait up to the drain deadline,
  commit, close.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from bridge.actions.base import Item
from bridge.batch import Batch, Batcher
from bridge.decode.base import Decoder
from bridge.deliver.sender import Control, Outcome, Sender
from bridge.errors import DecodeError, RuleError, SchemaRegistryUnavailable, SourceError
from bridge.kafka.deadletter import DeadLetterWriter, context_headers
from bridge.kafka.state import StateStore
from bridge.models import Event, Record
from bridge.offsets import InFlight, PartitionTracker, Ticket
from bridge.ops.health import HealthState
from bridge.ops.metrics import Metrics, Tally
from bridge.rules.engine import CompiledRule, RuleSet
from bridge.schedules import ScheduleCoordinator
from bridge.settings import Settings

log = logging.getLogger("bridge.pipeline")


class CircuitBreaker:
    """Opens when the dead-letter share over a sliding window exceeds a threshold."""

    def __init__(self, window_s: float, min_events: int, max_ratio: float) -> None:
        self.window_s = window_s
        self.min_events = min_events
        self.max_ratio = max_ratio
        self._buckets: deque[list[float]] = deque()  # [second, finals, dead]
        self.finals = 0
        self.dead = 0

    def record(self, now: float, dead: bool, n: int = 1) -> None:
        """``n`` events became final (``dead``: dead-lettered) at ``now``."""
        sec = float(int(now))
        if not self._buckets or self._buckets[-1][0] != sec:
            self._buckets.append([sec, 0, 0])
        b = self._buckets[-1]
        b[1] += n
        self.finals += n
        if dead:
            b[2] += n
            self.dead += n
        limit = now - self.window_s
        while self._buckets and self._buckets[0][0] < limit:
            old = self._buckets.popleft()
            self.finals -= int(old[1])
            self.dead -= int(old[2])

    def tripped(self) -> bool:
        return self.finals >= self.min_events and self.dead / self.finals > self.max_ratio

    def reset(self) -> None:
        self._buckets.clear()
        self.finals = self.dead = 0


class Pipeline:
    """Owns the consumer loop and all per-partition state."""

    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        decoders: Callable[[str], Decoder],
        consumer: Consumer,
        dead_letters: DeadLetterWriter,
        sender_factory: Callable[[Callable[[Outcome | Control], None]], Sender],
        metrics: Metrics,
        health: HealthState,
        state: StateStore | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self._decoder_for = decoders
        self._decoders: dict[str, Decoder] = {}
        self.consumer = consumer
        self.dlq = dead_letters
        self.metrics = metrics
        self.health = health
        self.outcomes: queue.SimpleQueue[Outcome | Control] = queue.SimpleQueue()
        self.sender = sender_factory(self.outcomes.put)
        self.batcher = Batcher(settings.batching.linger_ms / 1000.0)
        self.inflight = InFlight()
        self.trackers: dict[tuple[str, int], PartitionTracker] = {}
        self.pause_reasons: set[str] = set()
        self._paused = False
        self.stopping = False
        self._closing = False
        self._last_commit = 0.0
        self._pending_rules: RuleSet | None = None
        cb = settings.delivery.circuit_breaker
        self.breaker = CircuitBreaker(cb.window_s, cb.min_events, cb.max_dead_letter_ratio)
        self._breaker_until = 0.0
        self._registry_retry_at: dict[tuple[str, int], float] = {}
        self._consumed: dict[str, Any] = {}
        self.tally = Tally()
        self._targets = {r.name: r.target for r in rules.rules}
        self.state = state
        self.schedules = (
            ScheduleCoordinator(state, self._send, metrics) if state is not None else None
        )

    # -- public ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to drain and exit (signal-safe: only sets a flag)."""
        self.stopping = True

    def swap_rules(self, rules: RuleSet) -> None:
        """Install new rules between batches (called from the loop thread or a signal)."""
        self._pending_rules = rules

    def run(self) -> None:
        self.sender.start()
        k = self.settings.kafka
        self.consumer.subscribe(
            self.subscriptions(),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        poll_s = k.poll_timeout_ms / 1000.0
        n = k.consume_batch
        try:
            while not self.stopping:
                now = time.monotonic()
                wait = min(poll_s, max(self.batcher.next_deadline() - now, 0.0))
                if self.sender.in_flight or self.dlq.pending:
                    wait = min(wait, 0.02)
                msgs = self.consumer.consume(n, wait)
                self.health.polled()
                if msgs:
                    self._handle_all(msgs)
                self._tick(time.monotonic())
            self._drain(self.settings.shutdown.drain_deadline_s)
        finally:
            self._close()

    def subscriptions(self) -> list[str]:
        return self.settings.topics()

    # -- per iteration ---------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        for b in self.batcher.due(now):
            self._send(b)
        self._drain_outcomes()
        self.tally.flush()
        self.dlq.poll()
        if self.state is not None:
            self.state.poll()
        self._maybe_commit(now)
        self._check_pressure(now)
        if self._pending_rules is not None:
            self._install_rules()

    def _handle_all(self, msgs: list[Message]) -> None:
        counts: dict[str, int] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                self._source_error(err)
                continue
            topic = m.topic() or ""
            counts[topic] = counts.get(topic, 0) + 1
            self._handle(m, topic)
        for topic, c in counts.items():
            child = self._consumed.get(topic)
            if child is None:
                child = self._consumed[topic] = self.metrics.events_consumed.labels(topic)
            child.inc(c)

    def _source_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise SourceError(f"fatal Kafka error: {err}")
        log.warning("kafka error", extra={"error": str(err)})

    def _handle(self, m: Message, topic: str) -> None:
        partition = m.partition() or 0
        tracker = self.trackers.get((topic, partition))
        if tracker is None or tracker.revoked:
            return  # not ours (any more); the new owner will read it
        offset = m.offset() or 0
        if self._registry_retry_at and (topic, partition) in self._registry_retry_at:
            return  # partition waits for the schema registry; it was rewound
        rules = self.rules.for_topic(topic)
        if not rules:
            tracker.skip(offset)
            self.tally.add(self.metrics.events_skipped, topic, "no_rule")
            return
        hdrs = m.headers() or ()
        record = Record(
            topic,
            partition,
            offset,
            m.key(),
            m.value(),
            tuple(hdrs),  # type: ignore[arg-type]
            m.timestamp()[1],
        )
        self._process(tracker, record, rules, offset)

    def _process(
        self,
        tracker: PartitionTracker,
        record: Record,
        rules: tuple[CompiledRule, ...],
        offset: int,
    ) -> None:
        """Decode, match and map one record; ``offset`` is its position in ``tracker``."""
        topic = record.topic
        size = len(record.value or b"")
        decoder = self._decoders.get(topic)
        if decoder is None:
            decoder = self._decoders[topic] = self._decoder_for(topic)
        try:
            payload = decoder.decode(record)
        except SchemaRegistryUnavailable as exc:
            self._wait_for_registry(tracker, offset, exc)
            return
        except DecodeError as exc:
            bad = tracker.track(record, size, offset)
            self._dead_letter(bad, stage="decode", error_class=type(exc).__name__, message=str(exc))
            return
        event = Event(record, payload)
        ticket: Ticket | None = None
        for rule in rules:
            try:
                if not rule.matches(event):
                    continue
            except Exception as exc:  # noqa: BLE001 - a predicate must never stop the loop
                log.warning("condition failed", extra={"rule": rule.name, "error": repr(exc)})
                continue
            if rule.dedupe is not None and rule.dedupe.seen(event):
                self.tally.add(self.metrics.events_skipped, topic, "duplicate")
                continue
            if ticket is None:
                ticket = tracker.track(record, size, offset)
            self.tally.add(self.metrics.events_matched, topic, rule.name)
            try:
                shape, identity, item_payload = rule.build(event)
            except RuleError as exc:
                self._dead_letter(
                    ticket, stage="rules", error_class="RuleError", message=str(exc), rule=rule.name
                )
                continue
            except Exception as exc:  # noqa: BLE001 - mapping bugs dead-letter, never crash
                self._dead_letter(
                    ticket,
                    stage="rules",
                    error_class=type(exc).__name__,
                    message=str(exc),
                    rule=rule.name,
                )
                continue
            ticket.add()
            item = Item(ticket, rule.name, shape, identity, item_payload)
            if shape.kind != "send":
                if self.schedules is None:
                    raise SourceError("schedule actions need the state store")
                item.state_key = identity
                self.schedules.handle(item)
                continue
            full = self.batcher.add(item)
            if full is not None:
                self._send(full)
        if ticket is None:
            tracker.skip(offset)
            self.tally.add(self.metrics.events_skipped, topic, "no_match")

    def _wait_for_registry(self, tracker: PartitionTracker, offset: int, exc: Exception) -> None:
        tp = TopicPartition(tracker.topic, tracker.partition, offset)
        log.warning(
            "schema registry unavailable; pausing partition and retrying",
            extra={"topic": tracker.topic, "partition": tracker.partition, "error": str(exc)},
        )
        self.metrics.registry_waits.inc()
        self._registry_retry_at[(tracker.topic, tracker.partition)] = time.monotonic() + 5.0
        try:
            self.consumer.pause([tp])
            self.consumer.seek(tp)
        except KafkaException as e:
            log.warning("pause/seek failed", extra={"error": str(e)})

    # -- outcomes --------------------------------------------------------------------------
    def _send(self, batch: Batch) -> None:
        if batch.shape.shadow:
            self._record_shadow(batch)
            return
        self.sender.submit(batch)

    def _record_shadow(self, batch: Batch) -> None:
        """Shadow rules: record the request that would have been sent; nothing goes to Braze."""
        shape = batch.shape
        body = batch.body()
        rules = sorted({i.rule for i in batch.items})
        for r in rules:
            self.metrics.shadow_requests.labels(r).inc()
        topic = self.settings.kafka.shadow_topic
        doc = {
            "rules": rules,
            "method": shape.method,
            "path": shape.path,
            "body": body,
            "events": [
                f"{i.ticket.record.topic}/{i.ticket.record.partition}@{i.ticket.record.offset}"
                for i in batch.items
            ],
        }
        log.info(
            "shadow request (not sent)",
            extra={"rules": rules, "path": shape.path, "items": len(batch)},
        )
        for item in batch.items:
            if item.state_key is not None and self.schedules is not None:
                self.schedules.on_final(item, False, None)
        if topic:
            items = list(batch.items)
            for item in items:
                item.ticket.add()

            def acked() -> None:
                for it in items:
                    it.ticket.done()

            self.dlq.produce_raw(topic, None, orjson.dumps(doc), acked)
        for item in batch.items:
            item.ticket.done()

    def _drain_outcomes(self) -> None:
        now = time.time()
        while True:
            try:
                o = self.outcomes.get_nowait()
            except queue.Empty:
                return
            if isinstance(o, Control):
                self._control(o)
                continue
            if o.accepted:
                self.breaker.record(now, False, len(o.batch.items))
                for item in o.batch.items:
                    self.tally.add(
                        self.metrics.recipients_sent, item.rule, self._targets.get(item.rule, "")
                    )
                    self.metrics.event_accepted(item.rule, item.ticket.record.timestamp_ms, now)
                    if item.state_key is not None and self.schedules is not None:
                        self.schedules.on_final(item, True, o.response)
                    item.ticket.done()
            else:
                shape = o.batch.shape
                for item in o.batch.items:
                    self._dead_letter(
                        item.ticket,
                        stage="deliver",
                        error_class=o.reason,
                        message=o.message,
                        rule=item.rule,
                        status=o.status,
                        endpoint=shape.path,
                        response=o.body,
                        attempts=o.attempts,
                        first_failure=o.first_failure,
                        last_failure=o.last_failure,
                    )
                    item.ticket.done()

    def _control(self, c: Control) -> None:
        if c.kind == "halt":
            log.error("HALTED: %s", c.message, extra={"reason": c.reason})
            self.pause_reasons.add(c.reason)
            self.health.halted(c.reason, True)
        else:
            log.warning("resumed: %s", c.message, extra={"reason": c.reason})
            self.pause_reasons.discard(c.reason)
            self.health.halted(c.reason, False)

    def _dead_letter(
        self,
        ticket: Ticket,
        *,
        stage: str,
        error_class: str,
        message: str,
        rule: str | None = None,
        status: int | None = None,
        endpoint: str | None = None,
        response: str = "",
        attempts: int = 0,
        first_failure: float = 0.0,
        last_failure: float = 0.0,
    ) -> None:
        """Write a dead letter for ``ticket``'s record; the ticket stays open until acked."""
        record = ticket.record
        headers = context_headers(
            record,
            stage=stage,
            error_class=error_class,
            message=message,
            rule=rule,
            status=status,
            endpoint=endpoint,
            response=response,
            attempts=attempts,
            first_failure=first_failure,
            last_failure=last_failure,
        )
        ticket.dead_lettered = True
        ticket.add()
        self.metrics.events_dead_lettered.labels(record.topic, stage, error_class).inc()
        self.breaker.record(time.time(), True)
        log.warning(
            "dead-lettered",
            extra={
                "stage": stage,
                "rule": rule,
                "class": error_class,
                "reason": message[:300],
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
            },
        )

        def acked() -> None:
            self.metrics.dead_letter_produced.inc()
            ticket.done()

        self.dlq.send(record, headers, acked)

    # -- commit, back-pressure, breaker ----------------------------------------------------
    def _maybe_commit(self, now: float, force: bool = False) -> None:
        if not force and now - self._last_commit < self.settings.kafka.commit_interval_ms / 1000:
            return
        self._last_commit = now
        self.commit(list(self.trackers.values()), asynchronous=not force)
        self.metrics.set_oldest_unfinished(tr.oldest_open_ms() for tr in self.trackers.values())

    def commit(self, trackers: list[PartitionTracker], asynchronous: bool) -> None:
        """Commit each tracker's position unless Kafka already confirmed it.

        ``committed`` is what was last requested, ``confirmed`` what Kafka acknowledged; a
        failed commit resets ``committed`` to ``confirmed`` so the next tick sends it again,
        and a synchronous commit (drain, revoke) sends everything not yet confirmed.
        """
        offsets = []
        for tr in trackers:
            pos = tr.advance()
            if pos < 0:
                continue
            if pos > tr.committed or (not asynchronous and pos != tr.confirmed):
                offsets.append(TopicPartition(tr.topic, tr.partition, pos))
                tr.committed = pos
        if not offsets:
            return
        if asynchronous:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                self._commit_failed(offsets, str(exc))
            return
        try:
            result = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._commit_failed(offsets, str(exc))
            return
        self.on_commit(None, result or [])

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's commit callback (called on this thread, from consume/commit)."""
        if err is not None:
            self._commit_failed(partitions, str(err))
            return
        failed = [tp for tp in partitions if tp.error is not None]
        if failed:
            self._commit_failed(failed, str(failed[0].error))
        ok = 0
        for tp in partitions:
            if tp.error is not None:
                continue
            tr = self.trackers.get((tp.topic, tp.partition))
            if tr is None:
                continue
            # The broker keeps the last commit it processed. Commits retried after a broker
            # outage can land after newer ones, so an older acknowledgement means the
            # stored offset went back: record that and let the next tick commit again.
            tr.confirmed = tp.offset
            if tp.offset < tr.committed:
                tr.committed = tp.offset
            ok += 1
        if ok:
            self.metrics.commits.labels("ok").inc()

    def _commit_failed(self, partitions: list[TopicPartition], error: str) -> None:
        self.metrics.commits.labels("failed").inc()
        log.warning("offset commit failed; will retry", extra={"error": error})
        for tp in partitions:
            tr = self.trackers.get((tp.topic, tp.partition))
            if tr is not None:
                tr.committed = tr.confirmed

    def _check_pressure(self, now: float) -> None:
        k = self.settings.kafka
        self.metrics.events_in_flight.set(self.inflight.events)
        full = self.inflight.events > k.max_events_in_flight or (
            self.inflight.bytes > k.max_bytes_in_flight
        )
        low = self.inflight.events < k.max_events_in_flight // 2 and (
            self.inflight.bytes < k.max_bytes_in_flight // 2
        )
        if full:
            self.pause_reasons.add("backpressure")
        elif low:
            self.pause_reasons.discard("backpressure")
        # circuit breaker
        cbs = self.settings.delivery.circuit_breaker
        if cbs.enabled:
            if "circuit_breaker" in self.pause_reasons:
                if now >= self._breaker_until:
                    log.warning("circuit breaker half-open: resuming to probe")
                    self.pause_reasons.discard("circuit_breaker")
                    self.breaker.reset()
                    self.metrics.circuit_breaker_open.set(0)
                    self.health.halted("circuit_breaker", False)
            elif self.breaker.tripped():
                ratio = self.breaker.dead / max(self.breaker.finals, 1)
                log.error(
                    "HALTED: circuit breaker open: %.0f%% of %d events in the last %gs were "
                    "dead-lettered (limit %.0f%%); fetching paused for %gs. Check rules, "
                    "campaign/Canvas ids and the dead-letter topic.",
                    ratio * 100,
                    self.breaker.finals,
                    cbs.window_s,
                    cbs.max_dead_letter_ratio * 100,
                    cbs.probe_interval_s,
                )
                self.pause_reasons.add("circuit_breaker")
                self._breaker_until = now + cbs.probe_interval_s
                self.metrics.circuit_breaker_open.set(1)
                self.health.halted("circuit_breaker", True)
        # schema registry waits
        if self._registry_retry_at:
            for key, at in list(self._registry_retry_at.items()):
                if now >= at:
                    del self._registry_retry_at[key]
                    if not self.pause_reasons:
                        self._resume_partitions([TopicPartition(key[0], key[1])])
        self._apply_pause()

    def _apply_pause(self) -> None:
        want = bool(self.pause_reasons)
        if want == self._paused:
            return
        parts = [TopicPartition(t, p) for (t, p) in self.trackers]
        if want:
            try:
                self.consumer.pause(parts)
            except KafkaException as exc:
                log.warning("pause failed", extra={"error": str(exc)})
                return
            log.info("fetching paused", extra={"reasons": sorted(self.pause_reasons)})
        else:
            parts = [tp for tp in parts if (tp.topic, tp.partition) not in self._registry_retry_at]
            self._resume_partitions(parts)
            log.info("fetching resumed")
        self._paused = want

    def _resume_partitions(self, parts: list[TopicPartition]) -> None:
        try:
            self.consumer.resume(parts)
        except KafkaException as exc:
            log.warning("resume failed", extra={"error": str(exc)})

    # -- rules reload ----------------------------------------------------------------------
    def _install_rules(self) -> None:
        new = self._pending_rules
        self._pending_rules = None
        if new is None:
            return
        for b in self.batcher.drain():
            self._send(b)
        self.rules = new
        self._targets = {r.name: r.target for r in new.rules}
        log.info("rules swapped", extra={"rules": len(new.rules)})

    # -- rebalances ------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assign").inc()
        for tp in partitions:
            self.trackers[(tp.topic, tp.partition)] = PartitionTracker(
                tp.topic, tp.partition, self.inflight
            )
        self.health.assigned(len(self.trackers))
        log.info("partitions assigned", extra={"partitions": _names(partitions)})
        if self._paused:
            try:
                consumer.pause(partitions)
            except KafkaException:
                pass

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("revoke").inc()
        keys = [(tp.topic, tp.partition) for tp in partitions]
        trackers = [self.trackers[k] for k in keys if k in self.trackers]
        # Finish the revoked partitions' work, then commit it, before giving them up.
        for b in self.batcher.drain():
            self._send(b)
        budget = min(
            self.settings.shutdown.drain_deadline_s,
            self.settings.kafka.max_poll_interval_ms / 2000,
        )
        if not self.stopping:  # on shutdown the drain already waited
            self._wait_final(trackers, time.monotonic() + budget)
        self.commit(trackers, asynchronous=False)
        for k in keys:
            tr = self.trackers.pop(k, None)
            if tr is not None:
                tr.revoked = True
            self._registry_retry_at.pop(k, None)
        for t in self.metrics.forget_revoked(keys, self.trackers, self.subscriptions()):
            self._consumed.pop(t, None)
        self.health.assigned(len(self.trackers))
        log.info("partitions revoked", extra={"partitions": _names(partitions)})

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("lost").inc()
        for tp in partitions:
            tr = self.trackers.pop((tp.topic, tp.partition), None)
            if tr is not None:
                tr.revoked = True
        lost = [(tp.topic, tp.partition) for tp in partitions]
        for t in self.metrics.forget_revoked(lost, self.trackers, self.subscriptions()):
            self._consumed.pop(t, None)
        self.health.assigned(len(self.trackers))
        log.warning("partitions lost (not committed)", extra={"partitions": _names(partitions)})

    def _wait_final(self, trackers: list[PartitionTracker], deadline: float) -> None:
        while time.monotonic() < deadline:
            self._drain_outcomes()
            self.dlq.poll()
            if self.state is not None:
                self.state.poll()
            if all(all(t.pending == 0 for t in tr.tickets) for tr in trackers):
                return
            time.sleep(0.005)

    # -- shutdown --------------------------------------------------------------------------
    def _drain(self, deadline_s: float) -> None:
        log.info("draining", extra={"deadline_s": deadline_s})
        self.health.halted("shutdown", True)
        try:
            self.consumer.pause([TopicPartition(t, p) for (t, p) in self.trackers])
        except KafkaException:
            pass
        for b in self.batcher.drain():
            self._send(b)
        deadline = time.monotonic() + deadline_s
        self._wait_final(list(self.trackers.values()), deadline)
        self._maybe_commit(time.monotonic(), force=True)
        self.tally.flush()
        open_events = self.inflight.events
        if open_events:
            log.warning(
                "drain deadline reached; unfinished events will be redelivered",
                extra={"events": open_events},
            )
        else:
            log.info("drained")

    def _close(self) -> None:
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


def _names(parts: list[TopicPartition]) -> str:
    return ",".join(f"{tp.topic}[{tp.partition}]" for tp in parts)
