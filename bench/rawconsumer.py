"""Baseline: the fastest plain consumer loop -- ``consume(batch)`` + decode, nothing else.

Run as its own process (like the bridge), with a fresh group from the beginning of the topic::

    python -m bench.rawconsumer --bootstrap B --topic T --n N [--format json|avro]

Prints one JSON line: events, seconds (first message to the N-th), rate, cpu_s.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid

import orjson
from confluent_kafka import Consumer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--format", choices=["json", "avro"], default="json")
    ap.add_argument("--schema-file", help="writer schema (.avsc) for --format avro")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args(argv)

    if a.format == "avro":
        import fastavro

        schema = fastavro.parse_schema(json.load(open(a.schema_file)))
        reader = fastavro.schemaless_reader

        def decode(v: bytes) -> object:
            return reader(io.BytesIO(memoryview(v)[5:]), schema, None)
    else:
        decode = orjson.loads

    c = Consumer(
        {
            "bootstrap.servers": a.bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    c.subscribe([a.topic])
    n = 0
    first = None
    cpu0 = time.process_time()
    deadline = time.monotonic() + a.timeout
    try:
        while n < a.n and time.monotonic() < deadline:
            msgs = c.consume(a.batch, 0.5)
            if msgs and first is None:
                first = time.monotonic()
                cpu0 = time.process_time()  # CPU of the steady phase, as for the bridge
            for m in msgs:
                if m.error() is None:
                    decode(m.value())
                    n += 1
        end = time.monotonic()
    finally:
        c.close()
    if n < a.n:
        print(f"rawconsumer: only {n}/{a.n} events before the timeout", file=sys.stderr)
        return 1
    secs = end - (first or end)
    out = {
        "events": n,
        "seconds": secs,
        "rate": n / secs if secs > 0 else 0.0,
        "cpu_s": time.process_time() - cpu0,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
