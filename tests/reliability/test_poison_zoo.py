"""The poison zoo (#16): every kind of poison the hardening fixed, mixed into a stream of good
events, through ``kill -9`` and a restart.

Poison kinds (one event each affects only that event):

* ``bigint`` / ``bigstr``: ``as: integer`` of 1e300 / a 23-digit string (the batch never sent)
* ``bigprop``: a 30-digit integer property (silently rounded to a float before)
* ``bigid``: a user id of 2**70 (read as a float and dead-lettered before): delivered exact
* ``nest300``: an attribute nested 300 deep (orjson writes at most 254)
* ``huge``: a 5 MB event whose properties exceed 50 KB; its dead letter is larger than the
  dead-letter producer accepts (exit 1 on every start), so it is written truncated
* ``badconv``: ``as: iso_time`` of an e-mail address (the raw e-mail reached the log)
* ``notjson``: bytes that are not JSON
* ``regex``: an id that makes ``^(a+)+$`` backtrack for hours in Python's ``re`` (skipped)

Checks: every good event (and ``bigid``) is accepted by the sandbox at least once; every other
poison event except ``regex`` is in the dead-letter topic with its reason; ``regex`` events
are skipped, neither delivered nor dead-lettered; the bridge never exits by itself; in the
final process the metrics add up exactly: consumed = delivered + dead-lettered + skipped.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from tests.reliability.conftest import Procs
from tests.support.faults import (
    accepted_counts,
    bridge_config,
    log_tail,
    sandbox_accepted,
    scrape,
    sends,
    wait_for,
    with_new_port,
    write_results,
)
from tests.support.kafka import committed, create_topics, read_all, unique, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

GOOD = 1500
PER_POISON = 6
PARTITIONS = 2

DELIVER = "deliver"
# kind -> what the dead letter's message must say (None: skipped; DELIVER: delivered)
REASONS: dict[str, str | None] = {
    "bigint": "outside the 64-bit range",
    "bigstr": "outside the 64-bit range",
    "bigprop": "integer with 30 digits is outside the 64-bit range",
    "bigid": DELIVER,
    "nest300": "nested deeper than 254 levels",
    "huge": "Braze allows at most 50 KB",
    "badconv": "is not an ISO-8601 time",
    "notjson": "",
    "regex": None,
}


def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = {"n": v}
    return v


def _value(kind: str, eid: str) -> bytes:
    user: dict[str, Any] = {"id": f"u-{eid}", "nick": "aaa", "age": 30}
    ev: dict[str, Any] = {"type": "order.shipped", "id": eid, "user": user}
    if kind == "bigint":
        user["age"] = 1e300
    elif kind == "bigstr":
        user["age"] = "99999999999999999999999"
    elif kind == "bigprop":
        return orjson.dumps(ev)[:-1] + b',"amount":123456789012345678901234567890}'
    elif kind == "bigid":
        return orjson.dumps(ev).replace(f'"u-{eid}"'.encode(), str(2**70).encode())
    elif kind == "nest300":
        user["raw"] = _nested(300)
        return json.dumps(ev).encode()  # orjson itself refuses to write this
    elif kind == "huge":
        ev["blob"] = "".join(random.choices("abcdefghij", k=5_000_000))
    elif kind == "badconv":
        user["signup"] = f"victim.{eid}@poison-example.org"
    elif kind == "notjson":
        return b"\xff\xfe not json " + eid.encode()
    elif kind == "regex":
        user["nick"] = "a" * 40 + "!"
    return orjson.dumps(ev)


def _rules(topic: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "zoo",
            "topic": topic,
            "when": {"all": [{"type": "order.shipped"}, {"$.user.nick": {"regex": "^(a+)+$"}}]},
            "action": "campaign_trigger",
            "campaign_id": "c-ship",
            "recipient": {
                "external_user_id": "$.user.id",
                "attributes": {
                    "age": {"path": "$.user.age", "as": "integer"},
                    "raw": {"path": "$.user.raw", "optional": True},
                    "signup": {"path": "$.user.signup", "as": "iso_time", "optional": True},
                },
            },
            "trigger_properties": {
                "eid": "$.id",
                "blob": {"path": "$.blob", "optional": True},
                "amount": {"path": "$.amount", "optional": True},
            },
        }
    ]


def _produce(bootstrap: str, topic: str) -> dict[str, str]:
    """Produce the shuffled zoo, keyed by event id; return id -> kind."""
    kinds = ["good"] * GOOD + [k for k in REASONS for _ in range(PER_POISON)]
    rnd = random.Random(16)
    rnd.shuffle(kinds)
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 12_000_000, "linger.ms": 5})
    errors: list[str] = []
    out: dict[str, str] = {}
    for i, kind in enumerate(kinds):
        eid = f"z{i}"
        out[eid] = kind
        while True:
            try:
                p.produce(
                    topic,
                    key=eid.encode(),
                    value=_value(kind, eid),
                    partition=i % PARTITIONS,
                    on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
                )
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0 and not errors, errors[:3]
    return out


def test_poison_zoo_through_kill9(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("zoo"), unique("zoo-dlq"), unique("zoo-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS}, {"max.message.bytes": "12000000"})
    create_topics(kafka_bootstrap, {dlq: 1})  # broker default: 1 MB records at most
    sandbox = procs.sandbox("--faults", '{"latency_ms": {"min": 30, "max": 80}}')
    kinds = _produce(kafka_bootstrap, topic)
    good = {e for e, k in kinds.items() if k == "good" or REASONS.get(k) == DELIVER}
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        braze={"max_in_flight": 2},
        batching={"max_recipients": 10, "linger_ms": 50},
        observability={"pii": "mask"},
    )
    cfg["rules"] = _rules(topic)
    t0 = time.monotonic()
    first = procs.bridge(cfg, "zoo0")
    wait_for(
        "a third of the good events accepted before the kill",
        lambda: sandbox_accepted(sandbox) >= GOOD // 3 or first.proc.poll() is not None,  # type: ignore[union-attr]
        timeout=120,
        interval=0.05,
    )
    assert first.proc is not None and first.proc.poll() is None, log_tail(first)
    first.kill()
    first.wait(10)
    at_kill = sum(max(v, 0) for v in committed(kafka_bootstrap, group, topic).values())
    bridge = procs.bridge(with_new_port(cfg), "zoo1")
    done = wait_committed(kafka_bootstrap, group, [topic], 180)
    assert bridge.proc is not None and bridge.proc.poll() is None, log_tail(bridge)
    assert done, log_tail(bridge)

    def settled() -> dict[str, float] | None:
        m = scrape(bridge)
        total = sum(
            m.get(n, 0.0)
            for n in (
                "bridge_recipients_sent_total",
                "bridge_events_dead_lettered_total",
                "bridge_events_skipped_total",
            )
        )
        return m if m and m.get("bridge_events_consumed_total") == total else None

    m = wait_for("metrics to add up in the restarted bridge", settled, timeout=30)
    elapsed = time.monotonic() - t0
    got = accepted_counts(sends(sandbox))
    letters = read_all(kafka_bootstrap, dlq, timeout=30)
    by_eid: dict[str, list[Any]] = {}
    for msg in letters:
        by_eid.setdefault((msg.key() or b"").decode(), []).append(msg)
    log = first.log() + bridge.log()
    assert bridge.proc.poll() is None, "the bridge exited by itself"
    rc = bridge.stop(30)

    lost = sorted(good - set(got))
    wrong_reason: list[str] = []
    missing: list[str] = []
    for eid, kind in kinds.items():
        reason = REASONS.get(kind)
        if kind == "good" or reason == DELIVER:
            assert eid not in by_eid, (eid, dict(by_eid[eid][0].headers()))
            continue
        assert eid not in got, f"poison {kind} {eid} was delivered"
        if reason is None:
            assert eid not in by_eid, f"{kind} {eid} should be skipped"
            continue
        if eid not in by_eid:
            missing.append(f"{kind}:{eid}")
            continue
        headers = dict(by_eid[eid][0].headers())
        if reason.encode() not in headers.get("__bridge.errors.message", b""):
            wrong_reason.append(f"{kind}:{headers.get('__bridge.errors.message')!r}")
        if kind == "huge":
            note = headers.get("__bridge.errors.truncated", b"")
            assert note.startswith(b"value=") and int(note[6:]) > 5_000_000, note
            assert len(by_eid[eid][0].value()) <= 900_000
    write_results(
        "poison-zoo",
        {
            "good": GOOD,
            "poison": {k: PER_POISON for k in REASONS},
            "committed_at_kill": at_kill,
            "dead_letters": len(letters),
            "consumed_final_process": m.get("bridge_events_consumed_total"),
            "delivered_final_process": m.get("bridge_recipients_sent_total"),
            "dead_lettered_final_process": m.get("bridge_events_dead_lettered_total"),
            "skipped_final_process": m.get("bridge_events_skipped_total"),
            "elapsed_s": round(elapsed, 1),
        },
    )
    assert not lost, f"{len(lost)} good events never accepted, e.g. {lost[:5]}"
    assert not missing, f"poison not dead-lettered: {missing[:10]}"
    assert not wrong_reason, wrong_reason[:5]
    assert "victim." not in log, "an e-mail reached the log despite pii: mask"
    assert "Traceback" not in log, log_tail(bridge)
    assert rc == 0, log_tail(bridge)
