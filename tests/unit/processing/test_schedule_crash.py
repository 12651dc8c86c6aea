"""Issue 11 with schedules: Braze created the schedule and its state was written, but the
offset was not committed before the crash. The re-read event must not create a second
schedule: the state store has it, so the coordinator moves it (an update) instead."""

from __future__ import annotations

import orjson

from bridge.deliver.outcome import Outcome
from bridge.kafka.state import StateStore
from tests.support.fakes import FakeMessage, FakeProducer, Rig, build_rig
from tests.unit.helpers import settings

RULE = {
    "name": "reminder",
    "topic": "orders",
    "when": {"type": "order.placed"},
    "action": "campaign_schedule",
    "campaign_id": "c-remind",
    "recipient": {"external_user_id": "$.user"},
    "schedule": {"key": "$.order", "time": "2099-01-01T10:00:00Z"},
}


def msg(offset: int) -> FakeMessage:
    doc = {"type": "order.placed", "user": "u1", "order": "o-1"}
    return FakeMessage("orders", 0, offset, orjson.dumps(doc))


def rig(store: StateStore) -> Rig:
    r = build_rig(settings([RULE]), state=store)
    return r


def test_a_create_whose_state_was_written_is_not_created_again_after_a_crash() -> None:
    s = settings([RULE])
    producer = FakeProducer()
    store = StateStore(s.kafka, producer, in_memory=True)  # type: ignore[arg-type]
    a = rig(store)
    a.consumer.ack_commits = False  # the commit never reaches the broker before the kill
    a.consumer.assign("orders", 0)
    a.consumer.then([msg(0)])
    a.poll()
    a.loop.flush()
    (create,) = a.sender.batches
    assert create.shape.path == "/campaigns/trigger/schedule/create"
    a.sender.outcomes.put(Outcome.success(create, status=201, response={"schedule_id": "s-1"}))
    a.poll(2)
    producer.poll()  # the state record is acknowledged
    assert (store.get("schedule/reminder/o-1") or {}).get("schedule_id") == "s-1"

    b = rig(store)  # the restarted process reads the same state (the topic is the truth)
    b.consumer.assign("orders", 0)  # nothing committed: offset 0 is read again
    b.consumer.then([msg(0)])
    b.poll()
    b.loop.flush()
    paths = [x.shape.path for x in b.sender.batches]
    assert paths == ["/campaigns/trigger/schedule/update"], "moved, never created twice"
    assert b.sender.batches[0].body()["schedule_id"] == "s-1"
