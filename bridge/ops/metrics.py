"""Every Prometheus series the bridge exports, in one place.

Labels come only from bounded sets: topic, rule name, endpoint path, pool, status class,
error class. Never user ids, event ids, keys or messages.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """All series, registered on an injected registry (tests use a fresh one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.events_consumed = Counter(
            "bridge_events_consumed", "Events consumed", ["topic"], registry=r
        )
        self.events_matched = Counter(
            "bridge_events_matched", "Events matched by a rule", ["topic", "rule"], registry=r
        )
        self.events_skipped = Counter(
            "bridge_events_skipped", "Events that matched no rule", ["topic", "reason"], registry=r
        )
        self.events_dead_lettered = Counter(
            "bridge_events_dead_lettered",
            "Event actions written to the dead-letter topic",
            ["topic", "stage", "reason"],
            registry=r,
        )
        self.dead_letter_produced = Counter(
            "bridge_dead_letter_produced", "Dead-letter records acknowledged by Kafka", registry=r
        )
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
        self.events_in_flight = Gauge(
            "bridge_events_in_flight", "Consumed events not yet final", registry=r
        )
        self.consumer_lag = Gauge(
            "bridge_consumer_lag",
            "High watermark minus committed offset",
            ["topic", "partition"],
            registry=r,
        )
        self.halted = Gauge("bridge_halted", "1 while halted, by reason", ["reason"], registry=r)
        self.task_failures = Counter(
            "bridge_task_failures",
            "Background tasks and threads that died with an exception",
            ["task"],
            registry=r,
        )
        self.last_poll = Gauge(
            "bridge_last_poll_timestamp_seconds", "Last successful poll", registry=r
        )
        self.config_reloads = Counter(
            "bridge_config_reloads", "Config reloads", ["result"], registry=r
        )
        self.circuit_breaker_open = Gauge(
            "bridge_circuit_breaker_open", "1 while the dead-letter breaker is open", registry=r
        )
        self.rebalances = Counter(
            "bridge_kafka_rebalances", "Partition assignments and revocations", ["kind"], registry=r
        )
        self.commits = Counter("bridge_offset_commits", "Offset commits", ["result"], registry=r)
        self.schedule_ops = Counter(
            "bridge_schedule_operations",
            "Schedule lifecycle outcomes (created, updated, cancelled, update_unknown, ...)",
            ["outcome"],
            registry=r,
        )
        self.registry_waits = Counter(
            "bridge_schema_registry_waits", "Partitions paused: schema registry down", registry=r
        )
        self.shadow_requests = Counter(
            "bridge_shadow_requests",
            "Requests recorded, not sent (shadow rules)",
            ["rule"],
            registry=r,
        )
        self.replayed = Counter(
            "bridge_replay_records", "Dead letters seen by replay", ["result"], registry=r
        )
        self.kafka_stat = Gauge(
            "bridge_kafka_client", "Selected librdkafka statistics", ["stat"], registry=r
        )
        for reason in ("auth", "circuit_breaker"):
            self.halted.labels(reason).set(0)
        self.circuit_breaker_open.set(0)
        for result in ("ok", "failed"):
            self.config_reloads.labels(result)


class Tally:
    """Per-event counts kept in a plain dict and added to the counters once per poll-loop
    iteration: a labelled ``inc()`` costs microseconds, a dict update a fraction of one."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[Counter, tuple[str, ...]], int] = {}

    def add(self, counter: Counter, *labels: str) -> None:
        key = (counter, labels)
        self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self) -> None:
        if self.counts:
            for (counter, labels), n in self.counts.items():
                counter.labels(*labels).inc(n)
            self.counts.clear()
