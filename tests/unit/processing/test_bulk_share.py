"""A bulk backlog holds at most half of max_events_in_flight: its partitions pause before the
budget fills, so a transactional topic beside it keeps flowing (issue 14, priorities)."""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.fakes import FakeMessage, Rig, build_rig
from tests.unit.helpers import settings

BULK = {
    "name": "digest",
    "topic": "backfill",
    "action": "campaign_trigger",
    "campaign_id": "c-digest",
    "recipient": {"external_user_id": "$.user"},
    "priority": "bulk",
}
LIVE = {**BULK, "name": "shipped", "topic": "orders", "campaign_id": "c-ship"}
LIVE.pop("priority")


def msg(topic: str, offset: int) -> FakeMessage:
    return FakeMessage(topic, 0, offset, orjson.dumps({"user": f"u{offset}"}))


def rig(**kafka: Any) -> Rig:
    s = settings([BULK, LIVE], kafka={"bootstrap_servers": "127.0.0.1:1", **kafka})
    r = build_rig(s)
    r.consumer.assign("backfill", 0)
    r.consumer.assign("orders", 0)
    return r


def test_bulk_backlog_pauses_only_its_partitions_and_resumes_when_drained() -> None:
    r = rig(max_events_in_flight=200)
    r.consumer.then([msg("backfill", i) for i in range(150)])
    r.poll()
    assert ("backfill", 0) in r.consumer.paused, "bulk holds more than half: its partition waits"
    assert ("orders", 0) not in r.consumer.paused, "the transactional topic keeps flowing"
    assert r.metric("bridge_bulk_pauses_total") == 1
    r.consumer.then([msg("orders", i) for i in range(40)])
    r.poll()
    r.loop.flush()
    shipped = [b for b in r.sender.batches if b.body()["campaign_id"] == "c-ship"]
    assert sum(len(b) for b in shipped) == 40, "transactional events are sent at once"
    assert ("orders", 0) not in r.consumer.paused
    r.sender.answer_all()
    r.poll(2)
    assert ("backfill", 0) not in r.consumer.paused, "bulk drained: its partition resumes"


def test_transactional_work_alone_is_bounded_by_the_global_limit_only() -> None:
    r = rig(max_events_in_flight=200)
    r.consumer.then([msg("orders", i) for i in range(150)])
    r.poll()
    assert r.consumer.paused == set(), "150 of 200 transactional events: no pause"
    assert r.metric("bridge_bulk_pauses_total") == 0
