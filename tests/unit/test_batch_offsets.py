from __future__ import annotations

from bridge.actions.base import Item, Shape
from bridge.batch import Batcher
from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker

SHAPE = Shape.make(
    "POST", "/campaigns/trigger/send", {"campaign_id": "c"}, "recipients", 3, "default"
)


def items(tracker: PartitionTracker, ids: list[str]) -> list[Item]:
    out = []
    for i, uid in enumerate(ids):
        t = tracker.track(Record("t", 0, i, None, b"", (), 0), 1)
        t.add()
        out.append(Item(t, "r", SHAPE, uid, {"external_user_id": uid}))
    return out


def test_full_batch_is_returned_at_max_items() -> None:
    tr = PartitionTracker("t", 0, InFlight())
    b = Batcher(0.2)
    out = [b.add(i, now=0.0) for i in items(tr, ["a", "b", "c", "d"])]
    assert out[:2] == [None, None]
    assert out[2] is not None and [i.identity for i in out[2].items] == ["a", "b", "c"]
    assert out[3] is None
    assert b.open_items() == 1


def test_duplicate_recipient_goes_to_a_separate_request() -> None:
    tr = PartitionTracker("t", 0, InFlight())
    b = Batcher(0.2)
    for i in items(tr, ["a", "a", "b", "a"]):
        b.add(i, now=0.0)
    batches = b.drain()
    assert sorted(len(x) for x in batches) == [1, 1, 2]
    for x in batches:
        ids = [i.identity for i in x.items]
        assert len(ids) == len(set(ids))
    assert sum(len(x) for x in batches) == 4


def test_linger_flushes_old_batches_only() -> None:
    tr = PartitionTracker("t", 0, InFlight())
    b = Batcher(0.2)
    b.add(items(tr, ["a"])[0], now=0.0)
    assert b.due(0.1) == []
    assert b.next_deadline() == 0.2
    due = b.due(0.25)
    assert len(due) == 1 and b.open_items() == 0


def test_watermark_advances_only_over_final_events() -> None:
    fl = InFlight()
    tr = PartitionTracker("t", 0, fl)
    t0, t1, t2 = (tr.track(Record("t", 0, o, None, b"", (), 0), 10) for o in (5, 6, 7))
    for t in (t0, t1, t2):
        t.add()
    assert fl.events == 3
    t2.done()
    assert tr.advance() == -1  # 5 and 6 still open
    t0.done()
    assert tr.advance() == 6
    tr.skip(8)  # no actions, behind the open 6
    t1.done()
    assert tr.advance() == 9
    assert fl.events == 0 and fl.bytes == 0


def test_skip_with_nothing_open_advances_at_once() -> None:
    tr = PartitionTracker("t", 0, InFlight())
    tr.skip(41)
    assert tr.advance() == 42
