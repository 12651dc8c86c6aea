"""The outcome router: shadow records, dead letters, outcomes back to tickets."""

from __future__ import annotations

import orjson

from tests.support.fakes import FakeMessage, build_rig
from tests.unit.helpers import settings

SHADOW = {
    "name": "trial",
    "topic": "orders",
    "shadow": True,
    "action": "campaign_trigger",
    "campaign_id": "c-trial",
    "recipient": {"external_user_id": "$.user"},
}


def test_shadow_request_is_recorded_not_sent_and_final_once_the_record_is_acked() -> None:
    r = build_rig(settings([SHADOW], kafka={"bootstrap_servers": "x:1", "shadow_topic": "shadow"}))
    r.consumer.assign("orders", 0)
    r.producer.acking = False
    r.consumer.then([FakeMessage("orders", 0, 0, orjson.dumps({"user": "u1"}))])
    r.poll()
    r.loop.flush()
    r.poll()
    assert r.sender.batches == []
    assert [rec["topic"] for rec in r.producer.records] == ["shadow"]
    doc = orjson.loads(r.producer.records[0]["value"])
    assert doc["path"] == "/campaigns/trigger/send" and doc["events"] == ["orders/0@0"]
    assert doc["body"]["recipients"] == [{"external_user_id": "u1"}]
    assert r.consumer.committed() == {}, "not final before the shadow record is acknowledged"
    r.producer.acking = True
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 1}
    assert r.metric("bridge_shadow_requests_total", {"rule": "trial"}) == 1


def test_shadow_without_topic_is_final_at_once() -> None:
    r = build_rig(settings([SHADOW]))
    r.consumer.assign("orders", 0)
    r.consumer.then([FakeMessage("orders", 0, 0, orjson.dumps({"user": "u1"}))])
    r.poll()
    r.loop.flush()
    r.poll()
    assert r.producer.records == []
    assert r.consumer.committed() == {("orders", 0): 1}


def test_a_repeated_dead_letter_acknowledgement_releases_the_ticket_once() -> None:
    from bridge.models import Record
    from bridge.offsets import Hold, InFlight, PartitionTracker

    inflight = InFlight()
    tr = PartitionTracker("orders", 0, inflight)
    ticket = tr.track(Record("orders", 0, 0, None, b"x"), 1)
    first, second = Hold(ticket), Hold(ticket)
    first.release()
    first.release()
    assert ticket.pending == 1 and inflight.events == 1
    second.release()
    assert ticket.pending == 0 and inflight.events == 0
