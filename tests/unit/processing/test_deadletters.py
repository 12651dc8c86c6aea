"""Replay's source: filters, loop guard, unreadable headers (D7) and the end (D8)."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.ops.metrics import Metrics
from bridge.processing.deadletters import DeadLetterSource, ReplayFilter
from tests.support.fakes import FakeMessage, Rig, build_rig
from tests.unit.helpers import settings

RULE = {
    "name": "live",
    "topic": "orders",
    "action": "campaign_trigger",
    "campaign_id": "c-live",
    "recipient": {"external_user_id": "$.user"},
}
DLQ = "braze-bridge.dlq"


def dead_letter(offset: int, **override: str) -> FakeMessage:
    h = {
        "__bridge.errors.stage": "deliver",
        "__bridge.errors.rule": "live",
        "__bridge.errors.class": "bad_request",
        "__bridge.errors.topic": "orders",
        "__bridge.errors.partition": "0",
        "__bridge.errors.offset": str(40 + offset),
        "__bridge.errors.timestamp": "1700000000000",
        "__bridge.errors.time": "1700000000000",
        **override,
    }
    value = orjson.dumps({"user": f"u{offset}"})
    return FakeMessage(DLQ, 0, offset, value, None, [(k, v.encode()) for k, v in h.items()])


def replay_rig(ends: dict[int, int], **filt: Any) -> tuple[Rig, DeadLetterSource]:
    metrics = Metrics()
    source = DeadLetterSource(DLQ, ReplayFilter(**filt), metrics, ends=ends)
    r = build_rig(settings([RULE]), source=source, metrics=metrics)
    r.consumer.assign(DLQ, 0)
    return r, source


def test_replayed_record_goes_through_its_rule_with_the_original_context() -> None:
    r, source = replay_rig({0: 1})
    r.sender.auto_accept = True
    r.consumer.then([dead_letter(0)])
    r.poll()
    r.loop.flush()
    r.poll()
    assert source.counts["replayed"] == 1
    item = r.sender.batches[0].items[0]
    assert (item.ticket.record.topic, item.ticket.record.offset) == ("orders", 40)
    assert item.ticket.record.header("__bridge.replay.count") == b"1"
    assert r.consumer.committed() == {(DLQ, 0): 1}
    assert r.loop.stopping, "finished at the end offsets seen at start"


def test_non_integer_context_headers_are_skipped_not_fatal() -> None:
    """D7: an ISO time, a count of 'one', an offset of '0x10' used to exit 1 (ValueError)."""
    r, source = replay_rig({0: 4})
    r.consumer.then(
        [
            dead_letter(0, **{"__bridge.errors.time": "2026-01-01T00:00:00Z"}),
            dead_letter(1, **{"__bridge.replay.count": "one"}),
            dead_letter(2, **{"__bridge.errors.offset": "0x10"}),
            dead_letter(3),
        ]
    )
    r.poll()
    assert source.counts["bad_header"] == 3
    assert source.counts["replayed"] == 1
    assert r.metric("bridge_replay_records_total", {"result": "bad_header"}) == 3


def test_filters_and_loop_guard_skip_and_commit() -> None:
    r, source = replay_rig({0: 3}, classes={"bad_request"}, max_replays=2)
    r.consumer.then(
        [
            dead_letter(0, **{"__bridge.errors.class": "not_found"}),
            dead_letter(1, **{"__bridge.replay.count": "2"}),
            dead_letter(2, **{"__bridge.errors.rule": "gone"}),
        ]
    )
    r.poll()
    assert (source.counts["filtered"], source.counts["loop_guard"]) == (1, 1)
    assert source.counts["rule_gone"] == 1
    assert r.sender.batches == []
    assert r.consumer.committed() == {(DLQ, 0): 3}
    assert r.loop.stopping


def test_replay_finishes_when_a_transaction_marker_holds_the_last_offset() -> None:
    """D8: 5 dead letters written in a transaction end at 6 (the commit marker); no record
    has offset 5, so the position, not the last record, must say "done"."""
    r, source = replay_rig({0: 6})
    r.sender.auto_accept = True
    r.consumer.then([dead_letter(i) for i in range(5)])
    r.poll()
    r.loop.flush()
    r.poll()
    assert r.consumer.committed() == {(DLQ, 0): 5}
    assert not r.loop.stopping, "the consumer has not read past the marker yet"
    r.consumer.positions[(DLQ, 0)] = 6  # librdkafka's position after the marker
    r.poll()
    assert r.loop.stopping


def test_records_written_after_the_start_are_not_replayed() -> None:
    r, source = replay_rig({0: 1})
    r.consumer.then([dead_letter(0), dead_letter(1)])
    r.poll()
    assert source.counts["replayed"] == 1
