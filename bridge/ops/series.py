"""The bridge's Prometheus series, defined stage by stage.

Labels come only from bounded sets: topic, rule name, workspace name, endpoint path, pool,
status class, error class. Never user ids, event ids, keys or messages.
:class:`bridge.ops.metrics.Metrics` adds the observation hooks and series removal.
"""

from __future__ import annotations

import platform
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from bridge import __version__
from bridge.ops.kafka_stats import KafkaClientStats

# End-to-end latency (event timestamp -> Braze accepted): from sub-second (live traffic) to
# hours (a backlog after an outage, a replay).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Series:
    """Every ``bridge_*`` series, registered on an injected registry (tests use a fresh one).

    Besides them the registry carries the standard ``process_*`` (CPU, RSS, open fds, start
    time) and ``python_info`` collectors, and ``bridge_build_info``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        if r is not _default_registry():
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self._define_process(r)
        self._define_consume(r)
        self._define_mapping(r)
        self._define_delivery(r)
        self._define_workspaces(r)
        self._define_dead_letters(r)
        self._define_commit(r)
        self._define_flow(r)
        self._define_state(r)

    # -- series, by stage ------------------------------------------------------------------
    def _define_process(self, r: CollectorRegistry) -> None:
        """The process itself: which build runs, and background work that died."""
        self.build_info = Gauge(
            "bridge_build_info",
            "Always 1; the labels say which bridge, Python and librdkafka are running",
            ["version", "python", "librdkafka"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version(), _librdkafka()).set(1)
        self.task_failures = Counter(
            "bridge_task_failures",
            "Background tasks and threads that died with an exception",
            ["task"],
            registry=r,
        )

    def _define_consume(self, r: CollectorRegistry) -> None:
        """Consuming and decoding: records read, lag, polls, rebalances, librdkafka's view."""
        self.events_consumed = Counter(
            "bridge_events_consumed", "Events consumed", ["topic"], registry=r
        )
        self.consumer_lag = Gauge(
            "bridge_consumer_lag",
            "High watermark minus committed offset",
            ["topic", "partition"],
            registry=r,
        )
        self.last_poll = Gauge(
            "bridge_last_poll_timestamp_seconds", "Last successful poll", registry=r
        )
        self.rebalances = Counter(
            "bridge_kafka_rebalances", "Partition assignments and revocations", ["kind"], registry=r
        )
        self.registry_waits = Counter(
            "bridge_schema_registry_waits", "Partitions paused: schema registry down", registry=r
        )
        self.kafka_client = KafkaClientStats()
        r.register(self.kafka_client)

    def _define_mapping(self, r: CollectorRegistry) -> None:
        """Mapping: events matched by rules, skipped, or recorded by shadow rules."""
        self.events_matched = Counter(
            "bridge_events_matched", "Events matched by a rule", ["topic", "rule"], registry=r
        )
        self.events_skipped = Counter(
            "bridge_events_skipped",
            "Events consumed without an action (reason: no_rule, no_match, duplicate, ...)",
            ["topic", "reason"],
            registry=r,
        )
        self.shadow_requests = Counter(
            "bridge_shadow_requests",
            "Requests recorded, not sent (shadow rules)",
            ["rule"],
            registry=r,
        )

    def _define_delivery(self, r: CollectorRegistry) -> None:
        """Delivery to Braze: requests, answers, retries, rate limits, batches, latency."""
        self.recipients_sent = Counter(
            "bridge_recipients_sent",
            "Recipients (items) accepted by Braze",
            ["rule", "target"],
            registry=r,
        )
        self.requests = Counter(
            "bridge_requests", "HTTP requests to Braze", ["endpoint", "status_class"], registry=r
        )
        self.request_duration = Histogram(
            "bridge_request_duration_seconds",
            "Braze request latency",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.retries = Counter(
            "bridge_retries", "Requests retried", ["endpoint", "reason"], registry=r
        )
        self.rate_limited = Counter("bridge_rate_limited", "429 answers", ["pool"], registry=r)
        self.partial_errors = Counter(
            "bridge_partial_errors", "Entries of errors[] in 2xx answers", ["endpoint"], registry=r
        )
        self.ratelimit_remaining = Gauge(
            "bridge_ratelimit_remaining", "X-RateLimit-Remaining", ["pool"], registry=r
        )
        self.ratelimit_limit = Gauge(
            "bridge_ratelimit_limit", "X-RateLimit-Limit", ["pool"], registry=r
        )
        self.ratelimit_reset = Gauge(
            "bridge_ratelimit_reset_timestamp_seconds", "X-RateLimit-Reset", ["pool"], registry=r
        )
        self.paced_seconds = Counter(
            "bridge_paced_seconds", "Time requests waited for pacing", ["pool"], registry=r
        )
        self.batch_recipients = Histogram(
            "bridge_batch_recipients",
            "Items per request",
            ["endpoint"],
            buckets=(1, 2, 5, 10, 20, 30, 40, 45, 49, 50),
            registry=r,
        )
        self.requests_in_flight = Gauge(
            "bridge_requests_in_flight", "Requests being sent or retried", registry=r
        )
        self.event_latency = Histogram(
            "bridge_event_latency_seconds",
            "End-to-end latency: event (Kafka record) timestamp to Braze accepting it, per rule",
            ["rule"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._latency_children: dict[str, Any] = {}

    def _define_workspaces(self, r: CollectorRegistry) -> None:
        """Delivery and halts per Braze workspace (names from braze.workspaces: bounded)."""
        # bridge_halted{reason="auth"} is 1 only while every workspace is halted (fetching
        # paused, not ready).
        self.workspace_halted = Gauge(
            "bridge_workspace_halted",
            "1 while this workspace's sender is halted (its rules wait), by reason",
            ["workspace", "reason"],
            registry=r,
        )
        self.workspace_requests = Counter(
            "bridge_workspace_requests",
            "HTTP requests to Braze by workspace",
            ["workspace", "status_class"],
            registry=r,
        )
        self.workspace_recipients_sent = Counter(
            "bridge_workspace_recipients_sent",
            "Recipients (items) accepted by Braze, by workspace",
            ["workspace"],
            registry=r,
        )
        self.workspace_ratelimit_remaining = Gauge(
            "bridge_workspace_ratelimit_remaining",
            "X-RateLimit-Remaining by workspace and pool",
            ["workspace", "pool"],
            registry=r,
        )

    def _define_dead_letters(self, r: CollectorRegistry) -> None:
        """Dead letters: written, acknowledged, Kafka writes retried, and replayed."""
        self.events_dead_lettered = Counter(
            "bridge_events_dead_lettered",
            "Event actions written to the dead-letter topic",
            ["topic", "stage", "reason"],
            registry=r,
        )
        self.dead_letter_produced = Counter(
            "bridge_dead_letter_produced", "Dead-letter records acknowledged by Kafka", registry=r
        )
        self.kafka_write_failures = Counter(
            "bridge_kafka_write_failures",
            "Dead-letter or state records Kafka did not acknowledge (each is retried)",
            ["topic"],
            registry=r,
        )
        self.replayed = Counter(
            "bridge_replay_records", "Dead letters seen by replay", ["result"], registry=r
        )

    def _define_commit(self, r: CollectorRegistry) -> None:
        """Commits and the completed-work map."""
        self.commits = Counter("bridge_offset_commits", "Offset commits", ["result"], registry=r)
        for result in ("ok", "failed"):
            self.commits.labels(result)
        self.actions_skipped = Counter(
            "bridge_actions_skipped",
            "Actions of re-read events not sent again because they were final before a "
            "restart or rebalance (completed-work map)",
            ["rule", "reason"],
            registry=r,
        )

    def _define_flow(self, r: CollectorRegistry) -> None:
        """Flow control: work in flight, its age, halts, the breaker, and partition pauses."""
        self.events_in_flight = Gauge(
            "bridge_events_in_flight", "Consumed events not yet final", registry=r
        )
        self.oldest_unfinished_age = Gauge(
            "bridge_oldest_unfinished_event_age_seconds",
            "Age (now minus Kafka record timestamp) of the oldest consumed event not yet final; "
            "0 when nothing is open",
            registry=r,
        )
        self.halted = Gauge("bridge_halted", "1 while halted, by reason", ["reason"], registry=r)
        for reason in ("auth", "circuit_breaker"):
            self.halted.labels(reason).set(0)
        self.circuit_breaker_open = Gauge(
            "bridge_circuit_breaker_open", "1 while the dead-letter breaker is open", registry=r
        )
        self.circuit_breaker_open.set(0)
        self.bulk_pauses = Counter(
            "bridge_bulk_pauses",
            "Times bulk-only partitions paused because bulk work held half the in-flight budget",
            registry=r,
        )
        self.completion_map_waits = Counter(
            "bridge_completion_map_waits",
            "Times a partition paused because its completed-work map was full",
            registry=r,
        )

    def _define_state(self, r: CollectorRegistry) -> None:
        """Configuration and state: reloads and the schedule lifecycle."""
        self.config_reloads = Counter(
            "bridge_config_reloads", "Config reloads", ["result"], registry=r
        )
        for result in ("ok", "failed"):
            self.config_reloads.labels(result)
        self.schedule_ops = Counter(
            "bridge_schedule_operations",
            "Schedule lifecycle outcomes (created, updated, cancelled, update_unknown, ...)",
            ["outcome"],
            registry=r,
        )


def _default_registry() -> CollectorRegistry:
    from prometheus_client import REGISTRY

    return REGISTRY


def _librdkafka() -> str:
    try:
        import confluent_kafka

        return str(confluent_kafka.libversion()[0])
    except (ImportError, AttributeError):  # pragma: no cover - always installed
        return "unknown"
