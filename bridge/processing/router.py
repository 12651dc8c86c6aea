"""The outcome router: where mapped work and delivery outcomes go.

* a full or due batch goes to the sender, or (shadow rules) is only recorded;
* a :class:`~bridge.models.Failure` becomes a dead letter; the ticket stays open until Kafka
  acknowledged it;
* a delivery outcome (from the sender thread, through the outcome queue) releases each item
  (an item is its own hold on its ticket, :meth:`bridge.actions.base.Item.release`, exactly
  once: a second outcome for the same items changes nothing), or dead-letters its items; a
  halt/resume from the sender sets a pause reason.
"""

from __future__ import annotations

import logging
import queue
from typing import Any, Protocol

import orjson
from prometheus_client import Counter

from bridge.actions.base import Item
from bridge.batch import Batch
from bridge.deliver.outcome import Control, Outcome
from bridge.kafka.deadletter import DeadLetterWriter, failure_headers
from bridge.models import Failure
from bridge.offsets import Hold, Ticket
from bridge.ops.metrics import Metrics, Tally
from bridge.processing.clock import Clock
from bridge.processing.flow import FlowControl
from bridge.processing.latency import LatencyObserver
from bridge.schedules import ScheduleCoordinator

log = logging.getLogger("bridge.processing.router")


class Submitting(Protocol):
    """The part of the sender the router uses."""

    def submit(self, batch: Batch) -> None: ...


class WorkspaceSender(Submitting, Protocol):
    """One workspace's sender, as :class:`WorkspaceSenders` drives it."""

    @property
    def in_flight(self) -> int: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


class WorkspaceSenders:
    """One sender per Braze workspace behind the loop's one ``Sending``: a batch goes to the
    sender of its shape's workspace (a shape never mixes workspaces, so neither does a
    request); each sender has its own connections, pacer and halt state."""

    def __init__(self, senders: dict[str, WorkspaceSender]) -> None:
        self.senders = senders

    @property
    def in_flight(self) -> int:
        return sum(s.in_flight for s in self.senders.values())

    def start(self) -> None:
        for s in self.senders.values():
            s.start()

    def submit(self, batch: Batch) -> None:
        self.senders[batch.shape.workspace].submit(batch)

    def close(self) -> None:
        for s in self.senders.values():
            s.close()


class Router:
    """Routes batches, failures and outcomes (all on the loop thread)."""

    def __init__(
        self,
        *,
        sender: Submitting,
        outcomes: queue.SimpleQueue[Outcome | Control],
        dead_letters: DeadLetterWriter,
        flow: FlowControl,
        metrics: Metrics,
        tally: Tally,
        clock: Clock,
        shadow_topic: str | None,
        targets: dict[str, str],
    ) -> None:
        self.sender = sender
        self.outcomes = outcomes
        self.dlq = dead_letters
        self.flow = flow
        self.metrics = metrics
        self.tally = tally
        self.clock = clock
        self.shadow_topic = shadow_topic
        self.targets = targets
        self.schedules: ScheduleCoordinator | None = None
        self.held: dict[str, list[Batch]] = {}  # a workspace's batches while its breaker is open
        self.latency = LatencyObserver(metrics.event_latency)

    def send(self, batch: Batch) -> None:
        if batch.shape.shadow:
            self.record_shadow(batch)
            return
        if self.flow.held and batch.shape.workspace in self.flow.held:
            self.held.setdefault(batch.shape.workspace, []).append(batch)
            return
        self.sender.submit(batch)

    def _release_held(self) -> None:
        """Submit the batches of each workspace whose breaker half-opened."""
        for ws in [w for w in self.held if w not in self.flow.held]:
            for batch in self.held.pop(ws):
                self.sender.submit(batch)

    def record_shadow(self, batch: Batch) -> None:
        """Shadow rules: record the request that would have been sent; nothing goes to Braze."""
        shape = batch.shape
        rules = sorted({i.rule for i in batch.items})
        for r in rules:
            self.metrics.shadow_requests.labels(r).inc()
        doc = {
            "rules": rules,
            "method": shape.method,
            "path": shape.path,
            "body": batch.body(),
            "events": [
                f"{i.ticket.record.topic}/{i.ticket.record.partition}@{i.ticket.record.offset}"
                for i in batch.items
            ],
        }
        log.info(
            "shadow request (not sent)",
            extra={"rules": rules, "path": shape.path, "items": len(batch)},
        )
        items = self._unreleased(batch)
        for item in items:
            if item.state_key is not None and self.schedules is not None:
                self.schedules.on_final(item, False, None)
        if self.shadow_topic:
            holds = [Hold(item.ticket) for item in items]

            def acked() -> None:
                for h in holds:
                    h.release()

            self.dlq.produce_raw(self.shadow_topic, None, orjson.dumps(doc), acked)
        for item in items:
            item.release()

    def drain_outcomes(self) -> None:
        """Apply every outcome the sender reported since the last call."""
        now = self.clock.time()
        if self.held:
            self._release_held()
        outcomes = self.outcomes
        while not outcomes.empty():  # one consumer (this thread): not empty means get works
            o = outcomes.get_nowait()
            if isinstance(o, Control):
                self._control(o)
            elif o.accepted:
                self._accepted(o, now)
            else:
                path, ws = o.batch.shape.path, o.batch.shape.workspace
                for item in self._unreleased(o.batch):
                    self.dead_letter(item.ticket, _delivery_failure(o, item.rule, path), ws)
                    item.release()

    def _unreleased(self, batch: Batch) -> list[Item]:
        """The items of ``batch`` still open. An outcome delivered a second time (a retry
        racing a revoke) finds them final: it is logged and changes nothing."""
        items = batch.items
        for item in items:
            if not item.open:
                break
        else:
            return items  # the common case: every item still open
        open_items = [item for item in items if item.open]
        log.warning(
            "outcome for items already final ignored",
            extra={"path": batch.shape.path, "items": len(items) - len(open_items)},
        )
        for item in items:
            if not item.open:
                item.ticket.tracker.repeated_releases += 1
        return open_items

    def _accepted(self, o: Outcome, now: float) -> None:
        items = o.batch.items
        open_items = self._unreleased(o.batch)
        if not open_items:
            return
        if not o.partial_items and open_items is items:  # the common case: all delivered
            self.flow.record(now, False, len(items), o.batch.shape.workspace)
            self._count_delivered(o.batch, self._release_delivered(items, o.response), now)
            return
        partial = set(o.partial_items)  # 2xx + errors[]: these items were not delivered
        repeated = open_items is not items  # some items were final before this outcome
        delivered = len(open_items) - sum(1 for i in partial if items[i].open)
        self.flow.record(now, False, delivered, o.batch.shape.workspace)
        stamps: dict[str, list[int]] = {}  # rule -> Kafka timestamps of its delivered items
        schedules = self.schedules
        for idx, item in enumerate(items):
            if repeated and not item.open:
                continue
            if idx in partial:
                # Braze accepted the request but says these were not delivered: dead-letter
                # them (class "partial") so they can be inspected and replayed.
                if item.state_key is not None and schedules is not None:
                    schedules.on_final(item, True, o.response)
                self.dead_letter(item.ticket, _partial_failure(o, item.rule))
                item.release()
                continue
            rule_stamps = stamps.get(item.rule)
            if rule_stamps is None:
                rule_stamps = stamps[item.rule] = []
            rule_stamps.append(item.ticket.record.timestamp_ms)
            if item.state_key is not None and schedules is not None:
                schedules.on_final(item, True, o.response)
            else:  # a schedule's action is final once its state is written (the event is)
                item.ticket.action_final(item.rule)
            item.release()
        self._count_delivered(o.batch, stamps, now)

    def _release_delivered(self, items: list[Item], response: Any) -> dict[str, list[int]]:
        """Release every item of a request Braze accepted whole; returns the Kafka timestamps
        of its items per rule (the general path of :meth:`_accepted`, without its checks)."""
        stamps: dict[str, list[int]] = {}
        schedules = self.schedules
        for item in items:
            rule = item.rule
            ticket = item.ticket
            rule_stamps = stamps.get(rule)
            if rule_stamps is None:
                rule_stamps = stamps[rule] = []
            rule_stamps.append(ticket.record.timestamp_ms)
            if item.state_key is not None and schedules is not None:
                schedules.on_final(item, True, response)
            elif ticket.pending > 1:  # Ticket.action_final, inlined: others are still open
                ticket.tracker.log.complete_action(ticket.offset, rule)
            item.release()
        return stamps

    def _count_delivered(self, batch: Batch, stamps: dict[str, list[int]], now: float) -> None:
        """Count a request's delivered items once per rule (recipients, workspace, latency)."""
        counts = self.tally.counts
        m = self.metrics
        n = 0
        for rule, rule_stamps in stamps.items():
            sent: tuple[Counter, tuple[str, ...]] = (
                m.recipients_sent,
                (rule, self.targets.get(rule, "")),
            )
            counts[sent] = counts.get(sent, 0) + len(rule_stamps)
            self.latency.observe(rule, rule_stamps, now)
            n += len(rule_stamps)
        if n:
            ws: tuple[Counter, tuple[str, ...]] = (
                m.workspace_recipients_sent,
                (batch.shape.workspace,),
            )
            counts[ws] = counts.get(ws, 0) + n

    def _control(self, c: Control) -> None:
        extra = {"reason": c.reason, "workspace": c.workspace}
        which = f" (workspace {c.workspace})" if len(self.flow.workspaces) > 1 else ""
        if c.kind == "halt":
            log.error("HALTED%s: %s", which, c.message, extra=extra)
        else:
            log.warning("resumed%s: %s", which, c.message, extra=extra)
        self.flow.set_workspace(c.reason, c.workspace, c.kind == "halt")

    def dead_letter(self, ticket: Ticket, failure: Failure, workspace: str | None = None) -> None:
        """Write a dead letter for ``ticket``'s record; the ticket stays open until acked.

        ``workspace``: the workspace whose delivery failed (counted in its breaker)."""
        record = ticket.record
        headers = failure_headers(record, failure)
        ticket.dead_lettered = True
        hold = Hold(ticket)
        self.metrics.events_dead_lettered.labels(
            record.topic, failure.stage, failure.error_class
        ).inc()
        self.flow.record(self.clock.time(), True, 1, workspace)
        log.warning(
            "dead-lettered",
            extra={
                "stage": failure.stage,
                "rule": failure.rule,
                "class": failure.error_class,
                "reason": failure.message[:300],
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
            },
        )

        def acked() -> None:
            self.metrics.dead_letter_produced.inc()
            if failure.rule is not None:
                ticket.action_final(failure.rule)
            hold.release()

        self.dlq.send(record, headers, acked)


def _delivery_failure(o: Outcome, rule: str, endpoint: str) -> Failure:
    return Failure(
        "deliver",
        o.reason,
        o.message,
        rule=rule,
        status=o.status,
        endpoint=endpoint,
        response=o.body,
        attempts=o.attempts,
        first_failure=o.first_failure,
        last_failure=o.last_failure,
    )


def _partial_failure(o: Outcome, rule: str) -> Failure:
    return Failure(
        "deliver",
        "partial",
        "; ".join(o.partial_errors)[:1000],
        rule=rule,
        status=o.status,
        endpoint=o.batch.shape.path,
        response=orjson.dumps(o.partial_errors).decode()[:1000],
        attempts=o.attempts,
    )
