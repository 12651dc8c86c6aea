"""The librdkafka boundary: every client's config is built here from settings.

Consumer, producers (dead letters and shadow records, the state store), admin and probe
clients share the configured ``kafka.properties``; consumer-only properties are dropped for
the others, and every client logs its errors through ``error_cb``.

Offsets are never committed automatically: the pipeline commits per partition only the
position below which every event is final (see :mod:`bridge.offsets`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bridge.kafka.rdlog import kafka_logger
from bridge.ops.metrics import Metrics
from bridge.settings import KafkaSettings

log = logging.getLogger("bridge.kafka.clients")

# Called with the topic whenever a produce_until_acked write fails (the app counts them in
# bridge_kafka_write_failures_total).
write_failure_hooks: list[Callable[[str], None]] = []


def _common(k: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = dict(k.properties)
    conf["bootstrap.servers"] = k.bootstrap_servers
    return conf


def consumer_config(
    k: KafkaSettings,
    stats_cb: Callable[[str], None] | None = None,
    on_commit: Callable[[Any, list[Any]], None] | None = None,
) -> dict[str, Any]:
    conf = _common(k)
    conf.update(
        {
            "group.id": k.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": k.auto_offset_reset,
            "enable.partition.eof": False,
        }
    )
    # librdkafka prefetches up to 64 MB per client by default; the bridge bounds what it
    # holds itself (max_events_in_flight), so a small prefetch keeps RSS bounded. When that
    # queue is full librdkafka postpones the next fetch by fetch.queue.backoff.ms (1 s by
    # default) and pausing for back-pressure empties it: with the default the bridge sat
    # idle for up to a second after every resume (seen in the match benchmark). librdkafka's
    # docs advise a lower backoff with low queue thresholds; refetching sooner keeps the
    # queue fuller on average, so the threshold is halved to hold the memory target.
    conf.setdefault("queued.max.messages.kbytes", 8192)
    conf.setdefault("fetch.queue.backoff.ms", 50)
    if k.group_protocol == "consumer":
        conf["group.protocol"] = "consumer"  # KIP-848: the broker assigns, incrementally
        conf["max.poll.interval.ms"] = k.max_poll_interval_ms
    else:
        conf.setdefault("partition.assignment.strategy", "cooperative-sticky")
        conf["max.poll.interval.ms"] = k.max_poll_interval_ms
        conf.setdefault("session.timeout.ms", 45_000)
    if stats_cb is not None:
        conf.setdefault("statistics.interval.ms", 10_000)
        conf["stats_cb"] = stats_cb
    if on_commit is not None:
        conf["on_commit"] = on_commit
    conf["error_cb"] = _error_cb
    conf["logger"] = kafka_logger("consumer")
    return conf


_CONSUMER_ONLY = (
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "partition.assignment.strategy",
    "auto.offset.reset",
    "fetch.",
    "max.partition.fetch.bytes",
    "isolation.level",
    "queued.",
    "check.crcs",
    "client.rack",
    "max.poll.interval.ms",
)


def producer_config(k: KafkaSettings) -> dict[str, Any]:
    conf = {key: v for key, v in _common(k).items() if not key.startswith(_CONSUMER_ONLY)}
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            "error_cb": _error_cb,
            "logger": kafka_logger("producer"),
        }
    )
    return conf


_errors = kafka_logger("error_cb", target=log)  # at most 5 per error code per 10 s


def _error_cb(err: Any) -> None:
    code = err.name() if hasattr(err, "name") else "ERROR"
    _errors.event(logging.WARNING, code, "kafka client error", error=str(err), code=code)


def admin_config(k: KafkaSettings) -> dict[str, Any]:
    """An admin client's config (topic checks): the shared properties, no consumer-only ones."""
    conf = {key: v for key, v in _common(k).items() if not key.startswith(_CONSUMER_ONLY)}
    conf["error_cb"] = _error_cb
    conf["logger"] = kafka_logger("admin")
    return conf


def probe_config(k: KafkaSettings, group_id: str) -> dict[str, Any]:
    """A short-lived consumer that only reads metadata and offsets (never joins the group)."""
    conf = _common(k)
    conf.update(
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "error_cb": _error_cb,
            "logger": kafka_logger("probe"),
        }
    )
    return conf


def state_consumer_config(k: KafkaSettings, group_id: str) -> dict[str, Any]:
    """The state store's reader: assigned partitions only, from the start, never committing."""
    conf = probe_config(k, group_id)
    conf.update({"auto.offset.reset": "earliest", "enable.partition.eof": False})
    conf["logger"] = kafka_logger("state")
    return conf


def state_producer_config(k: KafkaSettings) -> dict[str, Any]:
    """The state store's producer: idempotent, every write acknowledged, a short linger."""
    conf = producer_config(k)
    conf.update({"linger.ms": 5})
    conf.pop("compression.type", None)
    return conf


def make_consumer(
    k: KafkaSettings,
    metrics: Metrics,
    on_commit: Callable[[Any, list[Any]], None] | None = None,
) -> Consumer:
    return Consumer(consumer_config(k, stats_callback(metrics), on_commit))


def end_offsets(k: KafkaSettings, topic: str, timeout: float = 15) -> dict[int, int]:
    """Each partition's end offset (high watermark) of ``topic``."""
    c = Consumer(probe_config(k, "braze-bridge-replay-probe"))
    try:
        md = c.list_topics(topic, timeout=timeout)
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
            for p in md.topics[topic].partitions
        }
    finally:
        c.close()


def topic_names(k: KafkaSettings, timeout: float = 15) -> set[str]:
    """The cluster's topic names (raises KafkaException when it cannot be reached)."""
    md = AdminClient(admin_config(k)).list_topics(timeout=timeout)
    return set(md.topics)


def make_producer(k: KafkaSettings) -> Producer:
    return Producer(producer_config(k))


def stats_callback(metrics: Metrics) -> Callable[[str], None]:
    """Export the librdkafka statistics that matter: lag per partition, queue depths."""

    def cb(raw: str) -> None:
        try:
            stats = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        metrics.kafka_stats(stats)
        for tname, topic in (stats.get("topics") or {}).items():
            for pid, p in (topic.get("partitions") or {}).items():
                if pid == "-1" or not p.get("fetch_state") or p.get("fetch_state") == "none":
                    continue
                if not p.get("desired", True):  # revoked: librdkafka still lists it a while
                    continue
                lag = p.get("consumer_lag", -1)
                if lag is not None and lag >= 0:
                    metrics.consumer_lag.labels(tname, pid).set(lag)

    return cb


# Errors that no retry can cure: the record (or its batch) is too large or malformed for
# the producer or the topic. Everything else (timeouts, leader changes, broker down) is
# retried until Kafka has the record.
PERMANENT_PRODUCE_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_MSG,
        KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
    }
)


def is_permanent(err: Any) -> bool:
    try:
        return err.code() in PERMANENT_PRODUCE_ERRORS
    except AttributeError:
        return False


def produce_until_acked(
    producer: Producer,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    on_ack: Callable[[], None],
    headers: list[tuple[str, bytes]] | None = None,
    on_permanent: Callable[[Any], None] | None = None,
) -> None:
    """Produce one record and call ``on_ack`` once Kafka acknowledged it; a failed delivery
    is logged and produced again (dead letters and state must not be dropped).

    A permanent error (:data:`PERMANENT_PRODUCE_ERRORS`, raised by ``produce()`` or reported
    on delivery) is never retried: ``on_permanent(KafkaError)`` is called instead, once. With
    no ``on_permanent`` it is logged as an error and the record is not acknowledged.
    """

    def permanent(err: Any) -> None:
        if on_permanent is not None:
            on_permanent(err)
            return
        log.error(
            "kafka refused the record permanently; not retrying",
            extra={"topic": topic, "error": str(err)},
        )

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            if is_permanent(err):
                permanent(err)
                return
            log.warning("kafka write failed, retrying", extra={"topic": topic, "error": str(err)})
            for hook in write_failure_hooks:
                hook(topic)
            produce_until_acked(
                producer,
                topic,
                key=key,
                value=value,
                on_ack=on_ack,
                headers=headers,
                on_permanent=on_permanent,
            )
            return
        on_ack()

    hdrs: list[tuple[str, str | bytes | None]] | None = None if headers is None else list(headers)
    while True:
        try:
            producer.produce(topic, key=key, value=value, headers=hdrs, on_delivery=delivered)
            return
        except BufferError:  # local queue full: serve delivery reports, then try again
            producer.poll(0.1)
        except KafkaException as exc:  # refused before queueing, e.g. larger than message.max.bytes
            err = exc.args[0] if exc.args else exc
            if not is_permanent(err):
                raise
            permanent(err)
            return
