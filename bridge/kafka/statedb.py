"""The local copy of the state topic: an SQLite file with a bounded page cache.

The compacted state topic is the source of truth; this file is a cache of it that survives a
restart. Next to the data it keeps, per topic partition, the offset up to which the data is
applied (written in the same transaction), so a restarted replica restores only what was
written since. Memory is bounded by SQLite's page cache (``cache_kib``), not by the number of
keys.

Each key also carries the time after which it may be removed (``expires_ms``, see
:func:`expiry_ms`), so finished schedules and old cancel markers can be tombstoned.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("bridge.kafka.state")

SCHEMA_VERSION = "1"
# A local-time schedule runs at its wall-clock time in every zone; the last zone (UTC-12)
# reaches it 12 h after UTC does. 14 h leaves room for zones that moved.
LOCAL_TIME_SLACK = timedelta(hours=14)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
    "expires_ms INTEGER) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS kv_expiry ON kv(expires_ms) WHERE expires_ms IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS positions (part INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


_UPSERT = (
    "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
    "value=excluded.value, expires_ms=excluded.expires_ms"
)


def _row(key: str, raw: bytes, grace_ms: int) -> tuple[str, bytes, int | None] | None:
    """The row for a record read from the topic; None (drop the key) when unreadable."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("ignoring unreadable state record", extra={"key": key})
        return None
    if not isinstance(value, dict):
        log.warning("ignoring state record that is not an object", extra={"key": key})
        return None
    return key, raw, expiry_ms(key, value, grace_ms)


def expiry_ms(key: str, value: dict[str, Any], grace_ms: int) -> int | None:
    """When ``key`` may be removed from the topic, or None to keep it.

    * an active schedule: its send time (plus the local-time slack) plus the grace;
    * a cancelled schedule or cancel-before-create marker: when it was cancelled plus the grace;
    * send ids and anything unreadable: kept.
    """
    if not key.startswith("schedule/"):
        return None
    status = value.get("status")
    if status == "cancelled":
        at = value.get("at")
        return int(at) + grace_ms if isinstance(at, int | float) else None
    if status == "active":
        when = _parse_time(value.get("time"))
        if when is None:
            return None
        return int((when + LOCAL_TIME_SLACK).timestamp() * 1000) + grace_ms
    return None


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class StateDb:
    """Key/value rows plus applied offsets, in one SQLite file (or in memory)."""

    def __init__(self, path: Path | None, topic: str, cache_kib: int = 16_384) -> None:
        self.path = path
        self.topic = topic
        self._lock = threading.Lock()
        self._db = self._open(path, cache_kib)
        if self._meta("version") != SCHEMA_VERSION or self._meta("topic") != topic:
            self._reset("new store" if self._meta("version") is None else "other topic/version")

    # -- opening ---------------------------------------------------------------------------
    def _open(self, path: Path | None, cache_kib: int) -> sqlite3.Connection:
        target = ":memory:" if path is None else str(path)
        try:
            db = self._connect(target, cache_kib)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            if path is None:
                raise
            log.warning("state store unreadable; rebuilding it", extra={"error": str(exc)})
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return self._connect(target, cache_kib)

    @staticmethod
    def _connect(target: str, cache_kib: int) -> sqlite3.Connection:
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (the case that matters here); a power
        # loss may lose the last transactions, which the next start restores from the topic.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        for stmt in _SCHEMA:
            db.execute(stmt)
        return db

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _reset(self, why: str) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            for table in ("kv", "positions", "meta"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("version", SCHEMA_VERSION), ("topic", self.topic)],
            )
            self._db.execute("COMMIT")
        if self.path is not None:
            log.info("state store starts empty", extra={"path": str(self.path), "reason": why})

    def reset(self, why: str) -> None:
        """Forget everything (the topic no longer matches what was applied)."""
        self._reset(why)

    def bulk(self, on: bool) -> None:
        """Faster, less durable writes while restoring (a lost file is restored again)."""
        with self._lock:
            self._db.execute(f"PRAGMA synchronous={'OFF' if on else 'NORMAL'}")

    # -- positions -------------------------------------------------------------------------
    def cluster(self) -> str:
        return self._meta("cluster") or ""

    def set_cluster(self, cluster: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta VALUES ('cluster', ?) ON CONFLICT(name) "
                "DO UPDATE SET value=excluded.value",
                (cluster,),
            )

    def positions(self) -> dict[int, int]:
        with self._lock:
            rows = self._db.execute("SELECT part, next_offset FROM positions").fetchall()
        return {int(p): int(o) for p, o in rows}

    # -- writes ----------------------------------------------------------------------------
    def apply(
        self,
        records: Iterable[tuple[int, int, str, bytes | None]],
        grace_ms: int,
    ) -> int:
        """Apply ``(partition, offset, key, value)`` records read from the topic, atomically
        with the new positions; returns how many were applied."""
        n = 0
        ends: dict[int, int] = {}
        final: dict[str, bytes | None] = {}  # within one transaction only the last write counts
        for part, offset, key, raw in records:
            ends[part] = offset + 1
            n += 1
            final[key] = raw
        upserts = []
        deletes = []
        for key, raw in final.items():
            if raw is None:
                deletes.append((key,))
                continue
            row = _row(key, raw, grace_ms)
            if row is not None:  # an unreadable record leaves the key as it was
                upserts.append(row)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("DELETE FROM kv WHERE key=?", deletes)
                self._db.executemany(_UPSERT, upserts)
                self._db.executemany(
                    "INSERT INTO positions VALUES (?, ?) ON CONFLICT(part) "
                    "DO UPDATE SET next_offset=excluded.next_offset",
                    list(ends.items()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    def put_local(self, key: str, value: dict[str, Any], grace_ms: int) -> None:
        """A write of this replica, visible at once (the topic copy arrives later)."""
        row = (key, orjson.dumps(value), expiry_ms(key, value, grace_ms))
        with self._lock:
            self._db.execute(_UPSERT, row)

    def delete_local(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM kv WHERE key=?", [(k,) for k in keys])

    # -- reads -----------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        value = orjson.loads(row[0])
        return value if isinstance(value, dict) else None

    def items(self, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        # Keys are ASCII-ordered, so a prefix is a range [prefix, prefix + U+10FFFF).
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        for key, raw in rows:
            yield str(key), orjson.loads(raw)

    def expired(self, now_ms: int, limit: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM kv WHERE expires_ms IS NOT NULL AND expires_ms <= ? LIMIT ?",
                (now_ms, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM kv").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def default_dir(group_id: str) -> Path:
    """Where a store lives when the config names no directory: per user, per group."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "braze-bridge" / _safe(group_id)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "default"
