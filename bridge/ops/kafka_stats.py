"""The librdkafka statistics the bridge exports, as a Prometheus collector."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class KafkaClientStats(Collector):
    """The librdkafka statistics worth exporting, each under its own name and type
    (they used to share one ``bridge_kafka_client{stat}`` gauge, counters and gauges
    mixed). Updated from the statistics callback; exported as librdkafka reported them."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def update(self, **values: float) -> None:
        self.values.update(values)

    def describe(self) -> Iterable[Metric]:
        return []  # families only appear once librdkafka reported statistics

    def collect(self) -> Iterable[Metric]:
        v = self.values
        if not v:
            return
        yield from _kafka_families(v)


def _kafka_families(v: dict[str, float]) -> Iterator[Metric]:
    for name, doc, key in (
        ("bridge_kafka_client_replyq", "librdkafka ops waiting in the reply queue", "replyq"),
        (
            "bridge_kafka_client_assigned_partitions",
            "Partitions librdkafka reports assigned to this consumer",
            "assignment_size",
        ),
    ):
        if key in v:
            yield GaugeMetricFamily(name, doc, value=v[key])
    for name, doc, key in (
        (
            "bridge_kafka_client_received_messages",
            "Messages librdkafka fetched from brokers",
            "rx_msgs",
        ),
        (
            "bridge_kafka_client_received_bytes",
            "Bytes librdkafka fetched from brokers",
            "rx_bytes",
        ),
        (
            "bridge_kafka_client_rebalances",
            "Consumer group rebalances librdkafka went through",
            "rebalance_cnt",
        ),
    ):
        if key in v:
            yield CounterMetricFamily(name, doc, value=v[key])
