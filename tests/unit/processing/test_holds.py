"""Every action of a record is held once and released once, whatever path its outcome takes.

A release that happens twice would let a record's ticket turn final while another of its
actions is still open (the offset committed early, the event lost on a crash); one that never
happens stalls the partition. Each path below is run on a record that has a second, still
open action (another rule's batch), so both mistakes show in the committed offsets.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.batch import Batch
from bridge.deliver.outcome import Outcome
from bridge.models import Record
from bridge.offsets import Hold, InFlight, PartitionTracker
from tests.support.fakes import FakeMessage, Rig, build_rig
from tests.unit.helpers import settings


def rule(name: str, campaign: str) -> dict[str, Any]:
    return {
        "name": name,
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": campaign,
        "recipient": {"external_user_id": "$.user"},
    }


def rig() -> Rig:
    r = build_rig(settings([rule("live", "c-live"), rule("other", "c-other")]))
    r.consumer.assign("orders", 0)
    return r


def msg(offset: int) -> FakeMessage:
    return FakeMessage("orders", 0, offset, orjson.dumps({"user": f"u{offset}"}))


def batches(r: Rig) -> tuple[Batch, Batch]:
    """Consume two records, flush: one batch per rule, each holding both records."""
    r.consumer.then([msg(0), msg(1)])
    r.poll()
    r.loop.flush()
    by = {b.body()["campaign_id"]: b for b in r.sender.batches}
    assert sorted(by) == ["c-live", "c-other"] and all(len(b) == 2 for b in by.values())
    r.sender.batches = []
    return by["c-live"], by["c-other"]


def committed(r: Rig) -> int:
    """The committed position of orders[0] (0: nothing final yet; a commit at the first
    open record only carries the completed-work map)."""
    return int(r.consumer.committed().get(("orders", 0), 0))


def tracker(r: Rig) -> PartitionTracker:
    tr: PartitionTracker = r.loop.trackers[("orders", 0)]
    return tr


def assert_released_once(r: Rig, other: Batch) -> None:
    """After the path under test: nothing final yet (the other rule's action is open);
    once that one is accepted, both records are committed and nothing is in flight."""
    r.poll()
    assert committed(r) == 0, "released early: the other action is still open"
    assert r.loop.inflight.events == 2
    r.sender.answer(other, accepted=True)
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 2}, "an action was never released"
    assert r.loop.inflight.events == 0
    assert tracker(r).repeated_releases == 0


def test_accepted_releases_each_item_once() -> None:
    r = rig()
    live, other = batches(r)
    r.sender.answer(live, accepted=True)
    assert_released_once(r, other)
    assert r.metric("bridge_recipients_sent_total", {"rule": "live", "target": "c-live"}) == 2


def test_dead_lettered_releases_each_item_once_its_dead_letter_is_acknowledged() -> None:
    r = rig()
    live, other = batches(r)
    r.producer.acking = False
    r.sender.answer(live, accepted=False, status=400, reason="http_400")
    r.poll()
    assert len(r.producer.records) == 2
    r.producer.acking = True
    assert_released_once(r, other)


def test_partially_accepted_releases_each_item_once() -> None:
    r = rig()
    live, other = batches(r)
    r.sender.outcomes.put(
        Outcome.success(live, status=201, partial_errors=["bad u1"], partial_items=(1,))
    )
    assert_released_once(r, other)
    assert [r.producer.headers(i)["__bridge.errors.class"] for i in range(1)] == ["partial"]


def test_retried_as_two_halves_then_accepted_releases_each_item_once() -> None:
    r = rig()
    live, other = batches(r)
    for items in (live.items[:1], live.items[1:]):  # the sender splits a batch it retries
        half = Batch(live.shape, live.created)
        half.items = items
        r.sender.outcomes.put(Outcome.success(half, status=201, attempts=3))
    assert_released_once(r, other)


def test_shadow_recorded_releases_each_item_once() -> None:
    shadow = {**rule("live", "c-live"), "shadow": True}
    r = build_rig(settings([shadow, rule("other", "c-other")]))
    r.consumer.assign("orders", 0)
    r.consumer.then([msg(0), msg(1)])
    r.poll()
    r.loop.flush()
    (other,) = r.sender.batches
    assert_released_once(r, other)


@pytest.mark.parametrize("second", ["accepted", "rejected"])
def test_an_outcome_delivered_twice_releases_once(second: str) -> None:
    """A second outcome for the same batch (a retry racing a revoke, a task failing after it
    reported) neither releases again nor sends, counts or dead-letters anything."""
    r = rig()
    live, other = batches(r)
    r.sender.answer(live, accepted=True)
    r.sender.answer(live, accepted=second == "accepted", status=500, reason="http_500")
    r.poll()
    assert committed(r) == 0, "a repeated outcome committed an open record"
    assert r.producer.records == [], "a repeated outcome wrote dead letters"
    assert r.metric("bridge_recipients_sent_total", {"rule": "live", "target": "c-live"}) == 2
    assert tracker(r).repeated_releases == 2  # both items, ignored
    r.sender.answer(other, accepted=True)
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 2}
    assert r.loop.inflight.events == 0


def test_revoked_mid_flight_releases_each_item_once_and_commits_nothing_after() -> None:
    r = rig()
    live, other = batches(r)
    tr = tracker(r)
    r.consumer.revoke("orders", 0)  # the wait for the open batches runs out (fake clock)
    assert tr.revoked and committed(r) == 0
    commits = len(r.consumer.commits)
    assert r.loop.inflight.events == 2
    r.sender.answer(live, accepted=True)
    r.sender.answer(live, accepted=True)  # and once more, after the revoke
    r.poll()
    assert r.loop.inflight.events == 2, "released early: the other action is still open"
    r.sender.answer(other, accepted=True)
    r.poll()
    assert r.loop.inflight.events == 0 and tr.open == 0
    assert len(r.consumer.commits) == commits, "a revoked partition is not committed afterwards"


def test_drained_on_shutdown_releases_each_item_once() -> None:
    r = rig()
    r.consumer.then([msg(0), msg(1)])
    r.poll()  # both records' items wait in open batches
    r.sender.auto_accept = True
    r.loop.partitions.drain(r.consumer, 5.0)
    assert r.consumer.commits[-1] == (True, {("orders", 0): 2})
    assert r.loop.inflight.events == 0 and tracker(r).repeated_releases == 0


def test_a_double_release_does_not_move_the_commit_position() -> None:
    tr = PartitionTracker("orders", 0, InFlight())
    first = tr.track(Record("orders", 0, 0, None, b"x"), 1)
    a, b = Hold(first), Hold(first)
    done = Hold(tr.track(Record("orders", 0, 1, None, b"x"), 1))
    done.release()
    assert tr.advance() == -1
    a.release()
    a.release()
    assert not a.open and tr.repeated_releases == 1
    assert first.pending == 1 and tr.advance() == -1, "the record's second action is open"
    b.release()
    assert tr.advance() == 2 and tr.open == 0


SCHEDULE = {
    "name": "reminder",
    "topic": "orders",
    "action": "campaign_schedule",
    "campaign_id": "c-remind",
    "recipient": {"external_user_id": "$.user"},
    "schedule": {"key": "$.user", "time": "2099-01-01T10:00:00Z"},
}


def test_a_schedule_create_answered_twice_writes_its_state_once_and_releases_once() -> None:
    from bridge.kafka.state import StateStore
    from tests.support.fakes import FakeProducer

    s = settings([SCHEDULE])
    state_producer = FakeProducer()
    state_producer.acking = False
    store = StateStore(s.kafka, state_producer, in_memory=True)  # type: ignore[arg-type]
    r = build_rig(s, state=store)
    r.consumer.assign("orders", 0)
    r.consumer.then([msg(0)])
    r.poll()
    r.loop.flush()
    (create,) = r.sender.batches
    for _ in range(2):
        r.sender.outcomes.put(Outcome.success(create, status=201, response={"schedule_id": "s-1"}))
    r.poll()
    assert len(state_producer.records) == 1, "the state is written once"
    assert committed(r) == 0, "final only once the state write is acknowledged"
    state_producer.acking = True
    state_producer.poll()
    r.poll()
    assert r.consumer.committed() == {("orders", 0): 1}
    assert r.loop.inflight.events == 0 and tracker(r).repeated_releases == 1
