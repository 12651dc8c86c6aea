"""The last N records of a topic, read from the configured broker without joining a group."""

from __future__ import annotations

from typing import Any

from bridge.console.pii import mask_ids
from bridge.errors import SourceError
from bridge.settings import Settings

MAX_RECORDS = 50


def last_records(settings: Settings, topic: str, n: int, pii: str) -> list[dict[str, Any]]:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    n = max(1, min(n, MAX_RECORDS))
    conf: dict[str, Any] = {
        **{k: v for k, v in settings.kafka.properties.items()},
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "group.id": "braze-bridge-console",  # never commits: assign() without a subscription
        "enable.auto.commit": False,
        "socket.timeout.ms": 5000,
    }
    c = Consumer(conf)
    try:
        md = c.list_topics(topic, timeout=5)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise SourceError(f"topic {topic!r} does not exist on the broker")
        tps = []
        for p in meta.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            if hi > lo:
                tps.append(TopicPartition(topic, p, max(lo, hi - n)))
        if not tps:
            return []
        want = sum(min(n, 1_000_000) for _ in tps)
        c.assign(tps)
        got: list[Any] = []
        empty = 0
        while len(got) < want and empty < 3:
            batch = c.consume(500, timeout=1.0)
            if not batch:
                empty += 1
                continue
            got.extend(m for m in batch if m.error() is None)
    except KafkaException as exc:
        raise SourceError(f"broker: {exc}") from exc
    finally:
        c.close()
    got.sort(key=lambda m: (m.timestamp()[1], m.partition(), m.offset()))
    out: list[dict[str, Any]] = []
    for m in got[-n:]:
        value = m.value() or b""
        key = m.key()
        try:
            text = value.decode()
        except UnicodeDecodeError:
            continue  # binary (Avro) records cannot be pasted into the editor
        out.append(
            {
                "name": f"{topic}[{m.partition()}]@{m.offset()}",
                "topic": topic,
                "event": _masked_text(text, pii),
                "key": None
                if key is None
                else mask_ids({"user": key.decode(errors="replace")}, pii)["user"],
                "headers": {k: (v or b"").decode(errors="replace") for k, v in (m.headers() or [])},
            }
        )
    return out


def _masked_text(text: str, pii: str) -> str:
    if pii == "none":
        return text
    import orjson

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return orjson.dumps(mask_ids(value, pii)).decode()
