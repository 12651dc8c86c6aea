"""The local state copy: expiry times, atomic positions, prefix reads, rebuilds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bridge.kafka.state import StateStore
from bridge.kafka.statedb import StateDb, expiry_ms
from bridge.settings import KafkaSettings

DAY_MS = 86_400_000
H14_MS = 14 * 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_expiry_of_schedules_markers_and_send_ids() -> None:
    sched = {"status": "active", "schedule_id": "s1", "time": "2026-12-02T10:00:00Z"}
    assert expiry_ms("schedule/r/k", sched, DAY_MS) == ms("2026-12-02T10:00:00") + H14_MS + DAY_MS
    local = {**sched, "time": "2026-12-02T10:00:00"}  # local time: no zone, read as UTC + 14 h
    assert expiry_ms("schedule/r/k", local, 0) == ms("2026-12-02T10:00:00") + H14_MS
    assert expiry_ms("schedule/r/k", {"status": "cancelled", "at": 1000}, 5) == 1005
    assert expiry_ms("schedule/r/k", {"status": "active", "time": "not a time"}, 0) is None
    assert expiry_ms("schedule/r/k", {"status": "active"}, 0) is None
    assert expiry_ms("send_id/c/s", {"created": 1}, 0) is None


def rec(part: int, off: int, key: str, value: dict[str, Any] | None) -> tuple[Any, ...]:
    return (part, off, key, None if value is None else orjson.dumps(value))


def test_apply_stores_values_and_positions_together(tmp_path: Path) -> None:
    db = StateDb(tmp_path / "s.sqlite", "state")
    db.apply([rec(0, 0, "schedule/a/1", {"status": "active"}), rec(1, 7, "send_id/c/x", {})], 0)
    db.apply([rec(0, 1, "schedule/a/1", None), rec(0, 2, "schedule/a/2", {"n": 2})], 0)
    assert db.positions() == {0: 3, 1: 8}
    assert db.get("schedule/a/1") is None
    assert db.get("schedule/a/2") == {"n": 2}
    assert [k for k, _ in db.items("schedule/")] == ["schedule/a/2"]
    assert [k for k, _ in db.items("send_id/")] == ["send_id/c/x"]
    db.close()
    again = StateDb(tmp_path / "s.sqlite", "state")  # a restart keeps data and positions
    assert again.positions() == {0: 3, 1: 8}
    assert again.count() == 2


def test_unreadable_values_are_skipped_but_positions_advance(tmp_path: Path) -> None:
    db = StateDb(None, "state")
    db.apply([(0, 0, "schedule/a/1", b"{not json"), (0, 1, "schedule/a/2", b"[1]")], 0)
    assert db.count() == 0
    assert db.positions() == {0: 2}


def test_other_topic_or_garbage_file_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    db = StateDb(path, "state-a")
    db.apply([rec(0, 0, "k", {"v": 1})], 0)
    db.close()
    other = StateDb(path, "state-b")
    assert other.count() == 0 and other.positions() == {}
    other.close()
    path.write_bytes(b"this is not an sqlite file" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    rebuilt = StateDb(path, "state-b")
    assert rebuilt.count() == 0
    rebuilt.apply([rec(0, 0, "k", {"v": 1})], 0)
    assert rebuilt.get("k") == {"v": 1}


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.callbacks: list[Any] = []

    def produce(self, topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> None:
        self.sent.append((topic, key, value))
        self.callbacks.append(kw["on_delivery"])

    def poll(self, _t: float = 0) -> int:
        cbs, self.callbacks = self.callbacks, []
        for cb in cbs:
            cb(None, None)
        return len(cbs)

    def flush(self, _t: float = 0) -> int:
        return self.poll()


def settings(**kw: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="127.0.0.1:1", state_topic="st", **kw)


def test_expire_writes_tombstones_for_due_keys_only(tmp_path: Path) -> None:
    now = [ms("2026-12-10T00:00:00") / 1000]
    prod = FakeProducer()
    store = StateStore(
        settings(state_expiry_grace_s=3600),
        prod,  # type: ignore[arg-type]
        store_dir=tmp_path,
        clock=lambda: now[0],
    )
    store.put("schedule/r/past", {"status": "active", "time": "2026-12-08T00:00:00Z"})
    store.put("schedule/r/future", {"status": "active", "time": "2026-12-20T00:00:00Z"})
    store.put("schedule/r/cancel-old", {"status": "cancelled", "at": int(now[0] * 1000) - 7200_000})
    store.put("schedule/r/cancel-new", {"status": "cancelled", "at": int(now[0] * 1000)})
    store.put("send_id/c/s", {"created": 1})
    prod.poll()
    assert store.expire() == 2
    tombstones = sorted(k for _t, k, v in prod.sent if v is None)
    assert tombstones == [b"schedule/r/cancel-old", b"schedule/r/past"]
    assert store.get("schedule/r/past") is None
    assert store.get("schedule/r/future") is not None
    assert store.get("send_id/c/s") == {"created": 1}
    assert store.expire() == 0  # nothing due twice
    now[0] += 11 * 86400  # eleven days later: the future schedule and the new cancel are due
    assert store.expire() == 2
    prod.poll()
    assert store.pending == 0
    store.close()


def test_a_second_store_on_the_same_directory_gets_its_own_file(tmp_path: Path) -> None:
    a = StateStore(settings(), FakeProducer(), store_dir=tmp_path)  # type: ignore[arg-type]
    b = StateStore(settings(), FakeProducer(), store_dir=tmp_path)  # type: ignore[arg-type]
    a.put("k", {"v": "a"})
    assert b.get("k") is None
    a.close()
    b.close()
    c = StateStore(settings(), FakeProducer(), store_dir=tmp_path)  # type: ignore[arg-type]
    assert c.get("k") == {"v": "a"}  # the released main file is reused
    c.close()
