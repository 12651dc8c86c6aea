"""The state store's restore loop with a fake consumer: records applied and checkpointed,
progress fed and logged, a failed write and a slow topic stopping the restore with an error."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from bridge.errors import SourceError
from bridge.kafka import staterestore
from bridge.kafka.state import StateStore
from bridge.settings import KafkaSettings

TOPIC = "bridge-state"


class Msg:
    def __init__(self, part: int, offset: int, key: str, value: dict[str, Any]) -> None:
        self._p, self._o, self._k, self._v = part, offset, key, orjson.dumps(value)

    def error(self) -> None:
        return None

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes:
        return self._k.encode()

    def value(self) -> bytes:
        return self._v


class FakeConsumer:
    """Hands out the scripted batches one per consume() call, then nothing."""

    def __init__(self, batches: list[list[Msg]]) -> None:
        self.batches = list(batches)
        self.calls = 0

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        self.calls += 1
        return self.batches.pop(0) if self.batches else []


class FakeProducer:
    def flush(self, timeout: float) -> int:
        return 0


def store() -> StateStore:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:9", state_topic=TOPIC)
    return StateStore(kafka, FakeProducer(), in_memory=True)  # type: ignore[arg-type]


def active(part: int, offset: int) -> Msg:
    return Msg(part, offset, f"schedule/r/{part}-{offset}", {"status": "active", "time": "2099"})


def restore(
    s: StateStore,
    c: FakeConsumer,
    ends: dict[int, int],
    start: dict[int, int] | None = None,
    timeout_s: float = 30.0,
    progress: Any = None,
) -> int:
    start = start or {p: 0 for p in ends}
    todo = sum(ends[p] - start[p] for p in ends)
    return s._restore(c, sorted(ends), start, ends, todo, timeout_s, progress)  # type: ignore[arg-type]


def test_restore_applies_every_partition_up_to_its_end_and_checkpoints_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = store()
    c = FakeConsumer(
        [
            [active(0, 0), active(1, 0), active(0, 1)],
            [active(1, 1), active(1, 2)],
            [active(0, 2)],
        ]
    )
    ticks: list[None] = []
    caplog.set_level(logging.INFO, "bridge.kafka.state")
    assert restore(s, c, {0: 3, 1: 3}, progress=lambda: ticks.append(None)) == 6
    assert s.restored == 6
    assert len(s) == 6 and s.get("schedule/r/1-2") == {"status": "active", "time": "2099"}
    assert s._db.positions() == {0: 3, 1: 3}
    assert c.calls == 3  # stops at the ends, does not wait for more
    assert len(ticks) >= 3  # liveness fed at least once per fetch
    done = [r for r in caplog.records if r.getMessage() == "state restored"]
    assert len(done) == 1
    assert (done[0].records, done[0].keys, done[0].topic) == (6, 6, TOPIC)  # type: ignore[attr-defined]
    s.close()


def test_restore_from_a_checkpoint_reads_only_the_rest() -> None:
    s = store()
    c = FakeConsumer([[active(0, 5), active(0, 6)]])
    assert restore(s, c, {0: 7}, start={0: 5}) == 2
    assert s.restored == 2 and s._db.positions() == {0: 7}
    s.close()


def test_progress_is_logged_with_the_records_done(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staterestore, "PROGRESS_EVERY_S", 0.0)
    s = store()
    c = FakeConsumer([[active(0, 0), active(0, 1)], [active(0, 2)]])
    caplog.set_level(logging.INFO, "bridge.kafka.state")
    restore(s, c, {0: 3})
    notes = [r for r in caplog.records if r.getMessage() == "restoring state"]
    assert [(r.done, r.records) for r in notes] == [(0, 3), (2, 3)]  # type: ignore[attr-defined]
    s.close()


def test_a_failed_write_stops_the_restore_with_a_source_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = store()

    def broken(rows: object, grace_ms: int) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(s._db, "apply", broken)
    c = FakeConsumer([[active(0, 0)]])  # the topic has 10 records, only one ever arrives
    with pytest.raises(SourceError, match="state store write failed: disk full"):
        restore(s, c, {0: 10})
    assert s.restored == 0
    s.close()


def test_a_topic_that_cannot_be_read_in_time_is_a_source_error() -> None:
    s = store()
    c = FakeConsumer([])
    ticks: list[None] = []
    with pytest.raises(SourceError, match=r"state topic 'bridge-state' could not be read in 0.05s"):
        restore(s, c, {0: 1}, timeout_s=0.05, progress=lambda: ticks.append(None))
    assert c.calls >= 1 and len(ticks) >= c.calls  # liveness fed on every attempt
    assert s.restored == 0
    s.close()
