"""What the loop needs of its adapters: a consumer and a sender (the real ones, or fakes)."""

from __future__ import annotations

from typing import Any, Protocol

from confluent_kafka import Message, TopicPartition

from bridge.batch import Batch


class KafkaConsumer(Protocol):
    """What the loop needs of a consumer (confluent_kafka.Consumer, or a test's fake)."""

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[Message]: ...

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> object: ...

    def pause(self, partitions: list[TopicPartition]) -> None: ...

    def resume(self, partitions: list[TopicPartition]) -> None: ...

    def seek(self, partition: TopicPartition) -> None: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def close(self) -> None: ...


class Sending(Protocol):
    """What the loop needs of the sender (bridge.deliver.sender.Sender, or a test's fake)."""

    @property
    def in_flight(self) -> int: ...

    def start(self) -> None: ...

    def submit(self, batch: Batch) -> None: ...

    def close(self) -> None: ...
