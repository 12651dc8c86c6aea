"""Metrics an SRE can trust: no stale per-partition or per-topic series, process and build
metadata, end-to-end latency and oldest-open-event age, typed librdkafka statistics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bridge import __version__
from bridge.ops.metrics import Metrics


def _m() -> Metrics:
    return Metrics(CollectorRegistry())


def test_forget_partition_drops_only_that_partitions_lag() -> None:
    m = _m()
    m.consumer_lag.labels("orders", "0").set(498)
    m.consumer_lag.labels("orders", "1").set(3)
    m.forget_partition("orders", 0)
    m.forget_partition("orders", 7)  # never seen: no error
    text = generate_latest(m.registry).decode()
    assert 'bridge_consumer_lag{partition="0",topic="orders"}' not in text
    assert (
        m.registry.get_sample_value("bridge_consumer_lag", {"topic": "orders", "partition": "1"})
        == 3
    )


def test_forget_topic_drops_every_series_of_the_topic_and_keeps_others() -> None:
    m = _m()
    for t in ("orders.eu", "orders.us"):
        m.events_consumed.labels(t).inc()
        m.events_matched.labels(t, "r").inc()
        m.events_skipped.labels(t, "no_rule").inc()
        m.events_dead_lettered.labels(t, "deliver", "bad_request").inc()
        m.consumer_lag.labels(t, "0").set(1)
    m.forget_topic("orders.eu")
    text = generate_latest(m.registry).decode()
    assert 'topic="orders.eu"' not in text
    kept = {
        fam.name
        for fam in m.registry.collect()
        for s in fam.samples
        if s.labels.get("topic") == "orders.us"
    }
    assert len(kept) == 5


def test_forget_revoked_keeps_literal_and_still_owned_topics() -> None:
    m = _m()
    for t in ("orders", "p.a", "p.b"):
        m.events_consumed.labels(t).inc()
        m.consumer_lag.labels(t, "0").set(5)
        m.consumer_lag.labels(t, "1").set(5)
    gone = m.forget_revoked(
        [("orders", 0), ("orders", 1), ("p.a", 0), ("p.a", 1), ("p.b", 0)],
        still_owned=[("p.b", 1)],
        subscribed=["orders", "^p\\..*"],
    )
    assert gone == ["p.a"]
    reg = m.registry
    assert reg.get_sample_value("bridge_events_consumed_total", {"topic": "orders"}) == 1
    assert reg.get_sample_value("bridge_events_consumed_total", {"topic": "p.a"}) is None
    assert (
        reg.get_sample_value("bridge_consumer_lag", {"topic": "orders", "partition": "0"}) is None
    )
    assert reg.get_sample_value("bridge_consumer_lag", {"topic": "p.b", "partition": "0"}) is None
    assert reg.get_sample_value("bridge_consumer_lag", {"topic": "p.b", "partition": "1"}) == 5


def test_process_build_info_and_python_series_are_exported() -> None:
    m = _m()
    text = generate_latest(m.registry).decode()
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text
    assert "python_info" in text
    samples = [
        s for fam in m.registry.collect() if fam.name == "bridge_build_info" for s in fam.samples
    ]
    assert len(samples) == 1 and samples[0].value == 1
    assert samples[0].labels["version"] == __version__
    assert samples[0].labels["librdkafka"].count(".") >= 1


def test_event_latency_is_observed_per_rule_and_oldest_open_age_tracks_the_head() -> None:
    m = _m()
    now = 1_000_000.0
    m.event_accepted("shipped", int((now - 2.0) * 1000), now)
    m.event_accepted("shipped", int((now - 40.0) * 1000), now)
    m.event_accepted("shipped", 0, now)  # no timestamp: not observed
    reg = m.registry
    assert reg.get_sample_value("bridge_event_latency_seconds_count", {"rule": "shipped"}) == 2
    assert (
        reg.get_sample_value(
            "bridge_event_latency_seconds_bucket", {"rule": "shipped", "le": "2.5"}
        )
        == 1
    )
    assert (
        reg.get_sample_value(
            "bridge_event_latency_seconds_bucket", {"rule": "shipped", "le": "60.0"}
        )
        == 2
    )
    m.set_oldest_unfinished([int((now - 90) * 1000), None, int((now - 5) * 1000)], now)
    assert reg.get_sample_value("bridge_oldest_unfinished_event_age_seconds") == 90
    m.set_oldest_unfinished([None], now)
    assert reg.get_sample_value("bridge_oldest_unfinished_event_age_seconds") == 0


def test_librdkafka_statistics_are_typed_families_not_one_mixed_gauge() -> None:
    m = _m()
    m.kafka_stats(
        {
            "replyq": 2,
            "rxmsgs": 10,
            "rx_bytes": 2048,
            "cgrp": {"rebalance_cnt": 3, "assignment_size": 2},
        }
    )
    kinds = {
        f.name: f.type for f in m.registry.collect() if f.name.startswith("bridge_kafka_client")
    }
    assert kinds == {
        "bridge_kafka_client_replyq": "gauge",
        "bridge_kafka_client_assigned_partitions": "gauge",
        "bridge_kafka_client_received_messages": "counter",
        "bridge_kafka_client_received_bytes": "counter",
        "bridge_kafka_client_rebalances": "counter",
    }
    assert m.registry.get_sample_value("bridge_kafka_client_received_bytes_total") == 2048
    assert "bridge_kafka_client{" not in generate_latest(m.registry).decode()
