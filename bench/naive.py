"""Baseline: the integration users would otherwise write -- one call per event per rule.

For each event: decode, check the same three conditions as the bench rules, and for every
match send one synchronous ``POST /campaigns/trigger/send`` with one recipient (sync httpx,
keep-alive), then commit that event's offset synchronously. At least once, like the bridge,
but with no batching, no concurrency and no pacing.

    python -m bench.naive --bootstrap B --topic T --url URL --max-seconds S --max-events N

Runs until ``max-events`` or ``max-seconds`` (whichever first) and prints one JSON line:
events, recipients, requests, seconds (from the first message), non_2xx.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid

import httpx
import orjson
from confluent_kafka import Consumer

CAMPAIGNS = ("bench-c-a", "bench-c-b", "bench-c-c")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--max-events", type=int, required=True)
    ap.add_argument("--format", choices=["json", "avro"], default="json")
    ap.add_argument("--schema-file")
    a = ap.parse_args(argv)

    if a.format == "avro":
        import fastavro

        schema = fastavro.parse_schema(json.load(open(a.schema_file)))

        def decode(v: bytes) -> dict:
            return fastavro.schemaless_reader(io.BytesIO(v[5:]), schema, None)
    else:
        decode = orjson.loads

    key = os.environ["BRAZE_API_KEY"]
    http = httpx.Client(
        base_url=a.url,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    c = Consumer(
        {
            "bootstrap.servers": a.bootstrap,
            "group.id": f"bench-naive-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([a.topic])
    events = recipients = requests = bad = 0
    first = None
    hard_deadline = time.monotonic() + a.max_seconds + 60  # waiting for the assignment
    try:
        while events < a.max_events and time.monotonic() < hard_deadline:
            if first is not None and time.monotonic() - first >= a.max_seconds:
                break
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            if first is None:
                first = time.monotonic()
                hard_deadline = first + a.max_seconds
            ev = decode(m.value())
            matched = []
            if ev.get("type") == "order.shipped":
                matched.append(CAMPAIGNS[0])
                if ev.get("order", {}).get("total", -1) >= 0:
                    matched.append(CAMPAIGNS[1])
            if ev.get("type") in ("order.shipped", "order.delivered"):
                matched.append(CAMPAIGNS[2])
            for campaign in matched:
                body = {
                    "campaign_id": campaign,
                    "recipients": [
                        {
                            "external_user_id": ev["user"]["id"],
                            "trigger_properties": {
                                "order_id": ev["order"]["id"],
                                "total": ev["order"]["total"],
                            },
                        }
                    ],
                }
                r = http.post("/campaigns/trigger/send", content=orjson.dumps(body))
                requests += 1
                if 200 <= r.status_code < 300:
                    recipients += 1
                else:
                    bad += 1
            c.commit(message=m, asynchronous=False)
            events += 1
        end = time.monotonic()
    finally:
        c.close()
        http.close()
    secs = end - (first or end)
    print(
        json.dumps(
            {
                "events": events,
                "recipients": recipients,
                "requests": requests,
                "non_2xx": bad,
                "seconds": secs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
