"""Avro in the Confluent wire format, decoded through a real schema registry (Apicurio)."""

from __future__ import annotations

import io
import struct
from collections import Counter
from pathlib import Path

import fastavro
import orjson
import pytest

from bridge.decode.registry import SchemaRegistryClient
from tests.support.config import bridge_config
from tests.support.kafka import create_topics, produce, read_all, unique, wait_committed
from tests.support.procs import Bridge, Sandbox, accepted_recipients

pytestmark = pytest.mark.integration

SCHEMA = orjson.loads(Path("schemas/order_event.avsc").read_bytes())


def wire(schema_id: int, value: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(SCHEMA), value)
    return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()


def test_confluent_avro_through_the_bridge(
    kafka_bootstrap: str, registry_url: str, tmp_path: Path
) -> None:
    topic, dlq = unique("payments"), unique("dlq")
    create_topics(kafka_bootstrap, {topic: 2, dlq: 1})
    with SchemaRegistryClient(registry_url) as reg:
        sid = reg.register(f"{topic}-value", orjson.dumps(SCHEMA).decode())
    events = []
    for i in range(200):
        value = {
            "type": "order.shipped",
            "user": {"id": f"u{i}", "email": f"u{i}@example.com"},
            "order": {"id": f"o{i}", "total": float(i), "currency": "EUR"},
            "occurred_at": 1_800_000_000_000 + i,
        }
        events.append((topic, f"u{i}".encode(), wire(sid, value), None))
    events.append((topic, b"x", wire(sid + 100_000, value), None))  # unknown schema id
    events.append((topic, b"y", b"\x07not-avro", None))  # wrong magic byte
    produce(kafka_bootstrap, events)
    sandbox = Sandbox()
    group = unique("grp")
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox.url,
        group=group,
        dlq=dlq,
        batching={"linger_ms": 50},
        observability={"port": 0},
        decoding={topic: {"format": "confluent_avro"}},
        schema_registry={"url": registry_url},
        rules=[
            {
                "name": "shipped",
                "topic": topic,
                "when": {"type": "order.shipped"},
                "action": "campaign_trigger",
                "campaign_id": "c-avro",
                "recipient": {"external_user_id": "$.user.id"},
                "trigger_properties": {
                    "order_id": "$.order.id",
                    "total": "$.order.total",
                    "at": "$.occurred_at",
                },
            }
        ],
    )
    bridge = Bridge(tmp_path, cfg).start()
    try:
        assert wait_committed(kafka_bootstrap, group, [topic], 90), bridge.log()[-3000:]
    finally:
        rc = bridge.stop()
        reqs = sandbox.requests()
        sandbox.stop()
    assert rc == 0, bridge.log()[-3000:]
    got = {r["external_user_id"]: r["trigger_properties"] for r in accepted_recipients(reqs)}
    assert len(got) == 200
    assert got["u7"] == {"order_id": "o7", "total": 7.0, "at": "2027-01-15T08:00:00.007000Z"}
    dead = read_all(kafka_bootstrap, dlq)
    classes = Counter(dict(m.headers())["__bridge.errors.class"].decode() for m in dead)
    assert sum(classes.values()) == 2
    assert all(dict(m.headers())["__bridge.errors.stage"] == b"decode" for m in dead)
