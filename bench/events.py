"""Pre-generated benchmark events (JSON and Confluent-wire-format Avro) and the rules for them.

Events follow ``schemas/order_event.avsc``: ``type``, ``user{id,email}``,
``order{id,total,currency}``, ``occurred_at`` (epoch millis). User ids cycle over a large pool
in production order, so 50 consecutive events of one partition never repeat a user (a repeat
would correctly open a second batch and blur the batch-fill figures).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "schemas" / "order_event.avsc"
MATCH_TYPE = "order.shipped"
FILTER_TYPE = "order.viewed"
CAMPAIGNS = ("bench-c-a", "bench-c-b", "bench-c-c")
USERS = 200_000


def event(i: int, etype: str, ts_ms: int) -> dict[str, Any]:
    uid = f"u{i % USERS}"
    return {
        "type": etype,
        "user": {"id": uid, "email": f"{uid}@example.com"},
        "order": {"id": f"o{i}", "total": float(10 + i % 990), "currency": "USD"},
        "occurred_at": ts_ms,
    }


def json_values(n: int, etype: str) -> list[bytes]:
    ts = int(time.time() * 1000)
    dumps = orjson.dumps
    return [dumps(event(i, etype, ts)) for i in range(n)]


def avro_schema_text() -> str:
    return SCHEMA_PATH.read_text()


def avro_values(n: int, etype: str, schema_id: int) -> list[bytes]:
    import fastavro

    schema = fastavro.parse_schema(json.loads(avro_schema_text()))
    header = b"\x00" + schema_id.to_bytes(4, "big")
    ts = int(time.time() * 1000)
    out: list[bytes] = []
    write = fastavro.schemaless_writer
    for i in range(n):
        buf = io.BytesIO()
        buf.write(header)
        write(buf, schema, event(i, etype, ts))
        out.append(buf.getvalue())
    return out


def match_rules(topic: str, n_rules: int = 3, extra_props: dict[str, Any] | None = None) -> list:
    """``n_rules`` campaign-trigger rules that all match ``order.shipped`` events."""
    whens: list[dict[str, Any]] = [
        {"type": MATCH_TYPE},
        {"type": MATCH_TYPE, "$.order.total": {"gte": 0}},
        {"type": {"one_of": [MATCH_TYPE, "order.delivered"]}},
    ]
    rules = []
    for k in range(n_rules):
        props: dict[str, Any] = {"order_id": "$.order.id", "total": "$.order.total"}
        props.update(extra_props or {})
        rules.append(
            {
                "name": f"bench-{k}",
                "topic": topic,
                "when": whens[k % len(whens)],
                "action": "campaign_trigger",
                "campaign_id": CAMPAIGNS[k % len(CAMPAIGNS)],
                "recipient": {"external_user_id": "$.user.id"},
                "trigger_properties": props,
            }
        )
    return rules
