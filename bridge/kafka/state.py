"""Shared state in a compacted Kafka topic: schedule ids and created send ids.

Every replica keeps a copy of the whole topic and keeps tailing it, so after any restart or
rebalance any replica can update or cancel any schedule. Keys:

    schedule/<schedule name>/<business key>  -> {"status": "active", "schedule_id", "time", ...}
                                                 or {"status": "cancelled", "at": ms}
    send_id/<campaign id>/<send id>          -> {"created": ms}

The copy lives in an SQLite file (:mod:`bridge.kafka.statedb`) with the topic offsets it has
applied, so memory stays bounded by the page cache and a restarted replica reads only what was
written since its last checkpoint; a replica without its file reads the whole topic
(:mod:`bridge.kafka.staterestore`).

Expiry: a schedule whose send time passed ``state_expiry_grace_s`` ago (local-time schedules:
14 h later, when the last zone reached it), and a cancel or cancel-before-create marker older
than the grace, is removed with a tombstone, which compaction then drops. A late update of an
expired schedule finds no schedule: it is counted (``update_unknown``) and logged, like any
update of an unknown key; a late cancel is remembered as a cancel marker, which expires in turn.

A workspace other than ``default`` prefixes its keys with ``workspace/<name>/``
(``bridge.schedules.workspace_key``).

Writes update the local view at once and call ``on_ack`` once Kafka acknowledged them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bridge.errors import SourceError
from bridge.kafka import clients
from bridge.kafka.clients import produce_until_acked
from bridge.kafka.statedb import StateDb, default_dir
from bridge.kafka.staterestore import RestoreWriter, fetch_to_end
from bridge.settings import KafkaSettings

log = logging.getLogger("bridge.kafka.state")

EXPIRE_EVERY_S = 5.0
EXPIRE_BATCH = 1000


class StateStore:
    """A replicated key/value store backed by a compacted topic and a local SQLite copy."""

    def __init__(
        self,
        kafka: KafkaSettings,
        producer: Producer | None = None,
        *,
        store_dir: Path | None = None,
        in_memory: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic = kafka.state_topic
        self._kafka = kafka
        self._grace_ms = int(kafka.state_expiry_grace_s * 1000)
        self._expiry = kafka.state_expiry
        self._clock = clock
        self._lock_file: IO[str] | None = None
        path = None if in_memory else self._claim(store_dir or _dir(kafka))
        self._db = StateDb(path, self.topic, kafka.state_cache_mib * 1024)
        self._producer = producer or Producer(clients.state_producer_config(kafka))
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._next_expiry = 0.0
        self.pending = 0
        self.expired = 0
        self.restored = 0

    def _claim(self, base: Path) -> Path:
        """Lock ``<base>/<topic>.sqlite`` for this process; a second replica on the same
        machine (same directory) gets a private copy instead of sharing the file. An
        unwritable directory falls back to a temporary one (a full restore at each start)."""
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            tmp = Path(tempfile.mkdtemp(prefix="braze-bridge-state-"))
            log.warning(
                "state directory not writable; using a temporary one (restores fully at start)",
                extra={"dir": str(base), "error": str(exc), "using": str(tmp)},
            )
            base = tmp
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.topic)
        for attempt in range(2):
            d = base if attempt == 0 else base / f"replica-{os.getpid()}"
            d.mkdir(parents=True, exist_ok=True)
            f = open(d / f"{name}.lock", "w")  # noqa: SIM115 - held for the process lifetime
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            self._lock_file = f
            return d / f"{name}.sqlite"
        raise SourceError(f"cannot lock a state store directory under {base}")

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_topic(self, partitions: int = 1) -> None:
        admin = AdminClient(clients.admin_config(self._kafka))
        md = admin.list_topics(timeout=15)
        if self.topic in md.topics:
            return
        fut = admin.create_topics(
            [
                NewTopic(
                    self.topic,
                    num_partitions=partitions,
                    replication_factor=-1,
                    config={"cleanup.policy": "compact"},
                )
            ]
        )[self.topic]
        try:
            fut.result(30)
            log.info("created compacted state topic", extra={"topic": self.topic})
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            raise SourceError(
                f"state topic {self.topic!r} does not exist and cannot be created ({exc}); "
                "create it with cleanup.policy=compact"
            ) from exc

    def load(self, timeout_s: float = 600.0, progress: Callable[[], None] | None = None) -> int:
        """Bring the local copy up to the topic's end, then keep tailing it in a thread.

        Reads only what was written after the store's checkpoint; a store whose checkpoint
        does not fit the topic (new cluster, recreated topic) starts over. ``progress`` is
        called while restoring (the loop has not started; it keeps liveness green).
        Returns the number of keys in the store.
        """
        c = Consumer(
            clients.state_consumer_config(self._kafka, f"braze-bridge-state-{uuid.uuid4().hex[:8]}")
        )
        md = c.list_topics(self.topic, timeout=15)
        if self.topic not in md.topics or md.topics[self.topic].error is not None:
            raise SourceError(f"state topic {self.topic!r} is not readable")
        parts = sorted(md.topics[self.topic].partitions)
        marks = {
            p: c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15) for p in parts
        }
        start = self._checkpoint(str(md.cluster_id or ""), marks)
        ends = {p: hi for p, (_lo, hi) in marks.items()}
        todo = sum(max(ends[p] - start[p], 0) for p in parts)
        log.info(
            "restoring state",
            extra={
                "topic": self.topic,
                "records": todo,
                "from_checkpoint": any(start.values()),
                "keys": self._db.count(),
            },
        )
        c.assign([TopicPartition(self.topic, p, start[p]) for p in parts])
        self._db.bulk(True)
        try:
            self._restore(c, parts, start, ends, todo, timeout_s, progress)
        finally:
            self._db.bulk(False)
        self._consumer = c
        self._thread = threading.Thread(target=self._tail, name="state-tail", daemon=True)
        self._thread.start()
        return self._db.count()

    def _restore(
        self,
        c: Consumer,
        parts: list[int],
        start: dict[int, int],
        ends: dict[int, int],
        todo: int,
        timeout_s: float,
        progress: Callable[[], None] | None,
    ) -> int:
        """Read each partition from ``start`` to ``ends`` into the local copy (fetching and
        writing overlap, :mod:`bridge.kafka.staterestore`); returns the records read."""
        t0 = time.monotonic()
        writer = RestoreWriter(self._apply)
        try:
            done = fetch_to_end(
                c, writer, self.topic, parts, dict(start), ends, todo, timeout_s, progress
            )
        finally:
            writer.finish(progress)
        writer.raise_failure()
        self.restored = done
        log.info(
            "state restored",
            extra={
                "topic": self.topic,
                "records": done,
                "keys": self._db.count(),
                "seconds": round(time.monotonic() - t0, 3),
            },
        )
        return done

    def _checkpoint(self, cluster: str, marks: dict[int, tuple[int, int]]) -> dict[int, int]:
        """Where to start reading each partition: the stored position when it still fits."""
        saved = self._db.positions()
        known = self._db.cluster()
        fits = known in ("", cluster) and all(
            lo <= saved.get(p, 0) <= hi for p, (lo, hi) in marks.items()
        )
        if saved and not fits:
            self._db.reset("checkpoint does not match the topic (new cluster or topic?)")
            saved = {}
        self._db.set_cluster(cluster)
        return {p: saved.get(p, 0) for p in marks}

    def _tail(self) -> None:
        assert self._consumer is not None  # noqa: S101
        while not self._stop.is_set():
            try:
                self._apply([m for m in self._consumer.consume(500, 0.5) if m.error() is None])
            except (KafkaException, RuntimeError):
                if self._stop.is_set():
                    return
                time.sleep(1)

    def _apply(self, msgs: list[Message]) -> int:
        if not msgs:
            return 0
        rows = [
            (
                m.partition() or 0,
                m.offset() or 0,
                (m.key() or b"").decode(errors="replace"),
                m.value(),
            )
            for m in msgs
        ]
        return self._db.apply(rows, self._grace_ms)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        if self._consumer is not None:
            self._consumer.close()
        self._producer.flush(10)
        self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()

    # -- access ----------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        return self._db.get(key)

    def items(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return list(self._db.items(prefix))

    def __len__(self) -> int:
        return self._db.count()

    def put(
        self, key: str, value: dict[str, Any], on_ack: Callable[[], None] | None = None
    ) -> None:
        self._db.put_local(key, value, self._grace_ms)
        self.pending += 1

        def acked() -> None:
            self.pending -= 1
            if on_ack is not None:
                on_ack()

        produce_until_acked(
            self._producer, self.topic, key=key.encode(), value=orjson.dumps(value), on_ack=acked
        )

    def expire(self, now_s: float | None = None) -> int:
        """Tombstone up to one batch of keys whose time passed; returns how many."""
        now_ms = int((self._clock() if now_s is None else now_s) * 1000)
        keys = self._db.expired(now_ms, EXPIRE_BATCH)
        if not keys:
            return 0
        self._db.delete_local(keys)
        for key in keys:
            self.pending += 1
            produce_until_acked(
                self._producer, self.topic, key=key.encode(), value=None, on_ack=self._tombstoned
            )
        self.expired += len(keys)
        log.info("expired state keys", extra={"topic": self.topic, "keys": len(keys)})
        return len(keys)

    def _tombstoned(self) -> None:
        self.pending -= 1

    def poll(self) -> None:
        """Serve delivery reports; every few seconds, expire what is due (poll-loop thread)."""
        self._producer.poll(0)
        if self._expiry:
            now = time.monotonic()
            if now >= self._next_expiry:
                self._next_expiry = now + EXPIRE_EVERY_S
                self.expire()

    def flush(self, timeout: float) -> None:
        self._producer.flush(timeout)


def _dir(kafka: KafkaSettings) -> Path:
    return Path(kafka.state_dir) if kafka.state_dir else default_dir(kafka.group_id)
