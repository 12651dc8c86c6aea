"""Per-stage CPU cost per event, measured in-process on the bridge's own stage objects.

Each stage runs over the same pre-generated events as the scenarios and is timed with
``time.process_time`` (CPU of this process, all threads):

* ``kafka``   -- ``Consumer.consume(500)`` of the events from a real topic (fresh group),
  librdkafka's fetch/decompress threads included; no decoding.
* ``decode``  -- ``JsonDecoder`` / ``ConfluentAvroDecoder`` (schema cached) on a ``Record``.
* ``rules``   -- the compiled predicates of the topic's rules, plus ``build`` of each match.
* ``batch``   -- ``Batcher.add`` of each item (full batches handed out).
* ``deliver`` -- request body + ``orjson.dumps`` per batch, and the HTTP POST as the sender
  makes it (``LeanPoster``, 16 concurrent) to a zero-latency sandbox, per recipient.
* ``track``   -- offset bookkeeping (``PartitionTracker.track``/``skip``, ticket done) and
  the per-event Prometheus counter updates the poll loop performs.

These are lower bounds of the in-process cost (no GIL contention between the poll loop and
the sender thread, warm caches); the scenarios measure the whole process.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer

from bench import events as ev
from bridge.actions.base import Item
from bridge.batch import Batcher
from bridge.decode.avro import ConfluentAvroDecoder
from bridge.decode.json import JsonDecoder
from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics
from bridge.processing.mapper import Built, Mapper
from bridge.ruleset import compile_rules
from bridge.settings import Settings


class _Registry:
    """Duck-typed registry for the decoder: the writer schema by id (cached after the first)."""

    cache_size = 10

    def __init__(self, text: str) -> None:
        self.text = text

    def get_schema(self, schema_id: int) -> Any:
        from bridge.decode.registry import RegisteredSchema

        return RegisteredSchema(schema_id, self.text)


def _settings(topic: str) -> Settings:
    return Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:9", "group_id": "g"},
            "braze": {"rest_endpoint": "http://127.0.0.1:9", "api_key": "k"},
            "rules": ev.match_rules(topic),
        }
    )


def _us_per(cpu: float, n: int) -> float:
    return cpu / n * 1e6 if n else 0.0


def kafka_cost(bootstrap: str, topic: str, n: int, timeout: float = 120) -> float:
    """CPU µs per event of consume(500) with no decoding."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-stage-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + timeout
    cpu0 = None
    try:
        while got < n and time.monotonic() < deadline:
            msgs = c.consume(500, 0.5)
            if msgs and cpu0 is None:
                cpu0 = time.process_time()  # exclude group join
            got += len(msgs)
        cpu = time.process_time() - (cpu0 or time.process_time())
    finally:
        c.close()
    return _us_per(cpu, got)


def pipeline_costs(values: list[bytes], fmt: str, matching: bool, sandbox_url: str | None) -> dict:
    """CPU µs per event for decode, rules, batch, deliver and track over ``values``."""
    topic = "bench-stages"
    settings = _settings(topic)
    rules = compile_rules(settings).for_topic(topic)
    if fmt == "avro":
        decoder: Any = ConfluentAvroDecoder(_Registry(ev.avro_schema_text()))  # type: ignore[arg-type]
    else:
        decoder = JsonDecoder()
    n = len(values)
    records = [Record(topic, i % 4, i // 4, None, v, (), 0) for i, v in enumerate(values)]
    out: dict[str, float] = {}

    t = time.process_time()
    payloads = [decoder.decode(r) for r in records]
    out["decode"] = _us_per(time.process_time() - t, n)
    del payloads

    # The bridge's own mapper (decode, match, dedupe, build); "rules" is its cost beyond decode.
    mapper = Mapper(lambda _topic: decoder)
    t = time.process_time()
    built: list[Built] = []
    for r in records:
        mapped = mapper.map(r, rules)
        built.extend(mapped.built)
    out["rules"] = max(_us_per(time.process_time() - t, n) - out["decode"], 0.0)
    if matching and len(built) != 3 * n:
        raise RuntimeError(f"expected {3 * n} matches, got {len(built)}")

    inflight = InFlight()
    trackers = [PartitionTracker(topic, p, inflight) for p in range(4)]
    metrics = Metrics()
    t = time.process_time()
    tickets = []
    for r in records:
        tr = trackers[r.partition]
        if matching:
            tk = tr.track(r, len(r.value or b""))
            for rule in rules:
                metrics.events_matched.labels(topic, rule.name).inc()
                tk.add()
            tickets.append(tk)
        else:
            tr.skip(r.offset)
            metrics.events_skipped.labels(topic, "no_match").inc()
    metrics.events_consumed.labels(topic).inc(n)
    for tk in tickets:
        for rule in rules:
            metrics.recipients_sent.labels(rule.name, "x").inc()
            tk.done()
    for tr in trackers:
        tr.advance()
    out["track"] = _us_per(time.process_time() - t, n)

    batcher = Batcher(0.1)
    full = []
    t = time.process_time()
    k = 0
    for name, shape, identity, payload in built:
        tk = tickets[k // 3] if tickets else None
        b = batcher.add(Item(tk, name, shape, identity, payload))  # type: ignore[arg-type]
        k += 1
        if b is not None:
            full.append(b)
    full.extend(batcher.drain())
    out["batch"] = _us_per(time.process_time() - t, n)

    if full:
        t = time.process_time()
        bodies = [orjson.dumps(b.body()) for b in full]
        ser = time.process_time() - t
        http = (
            _post_all(
                sandbox_url, [(b.shape.path, body) for b, body in zip(full, bodies, strict=True)]
            )
            if sandbox_url
            else 0.0
        )
        out["deliver"] = _us_per(ser + http, n)
        out["deliver_serialize"] = _us_per(ser, n)
        out["deliver_http"] = _us_per(http, n)
        out["requests"] = len(full)
    else:
        out["deliver"] = 0.0
    return out


def _post_all(url: str, reqs: list[tuple[str, bytes]], concurrency: int = 16) -> float:
    """CPU seconds of this process to POST every request the way bridge/deliver/sender.py
    does: ``LeanPoster`` over the lean transport, ``concurrency`` at a time."""
    from bench.harness import API_KEY
    from bridge.deliver.transport import LeanPoster, LeanTransport

    async def run() -> float:
        poster = LeanPoster(
            url,
            {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
            httpx.Timeout(30),
            LeanTransport(max_idle=concurrency),
        )
        try:
            await poster.post(reqs[0][0], reqs[0][1])  # connect outside the timing
            todo = list(reversed(reqs[1:]))

            async def worker() -> None:
                while todo:
                    path, body = todo.pop()
                    r = await poster.post(path, body)
                    if r.status_code >= 300:
                        raise RuntimeError(f"sandbox answered {r.status_code}: {r.text[:200]}")

            t = time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.process_time() - t
        finally:
            await poster.aclose()

    return asyncio.run(run())


def stage_table(rows: dict[str, dict[str, float]]) -> str:
    cols = ["kafka", "decode", "rules", "batch", "track", "deliver"]
    lines = [
        "| Path | " + " | ".join(cols) + " | total µs/event | ⇒ events/s/core |",
        "|---" * (len(cols) + 3) + "|",
    ]
    for name, r in rows.items():
        total = sum(r.get(c, 0.0) for c in cols)
        rate = 1e6 / total if total else 0
        lines.append(
            f"| {name} | "
            + " | ".join(f"{r.get(c, 0.0):.2f}" for c in cols)
            + f" | {total:.2f} | {rate:,.0f} |"
        )
    return "\n".join(lines)


def save(rows: dict[str, dict[str, float]], path: Path) -> None:
    path.write_text(json.dumps(rows, indent=2))
