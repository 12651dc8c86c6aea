"""Reading the state topic into the local copy at start-up (:meth:`StateStore.load`).

Fetching (the loading thread, :func:`fetch_to_end`) and writing (:class:`RestoreWriter`'s
thread; SQLite releases the GIL while it works) overlap, so a fresh replica restores at about
the broker's pace. Log lines go to the store's logger, ``bridge.kafka.state``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message

from bridge.errors import SourceError

log = logging.getLogger("bridge.kafka.state")

PROGRESS_EVERY_S = 2.0


class RestoreWriter:
    """Applies restored batches on its own thread, at most 8 batches behind the fetching.
    The first failure stops the writer and is kept in ``failed``."""

    def __init__(self, apply: Callable[[list[Message]], int]) -> None:
        self._apply = apply
        self._batches: queue.Queue[list[Message] | None] = queue.Queue(maxsize=8)
        self.failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._write, name="state-restore", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        while (b := self._batches.get()) is not None:
            try:
                self._apply(b)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the loading thread
                self.failed.append(exc)
                return

    def put(self, batch: list[Message]) -> None:
        """Queue a batch (blocks while 8 are waiting: the writer sets the pace)."""
        self._batches.put(batch)

    def finish(self, progress: Callable[[], None] | None) -> None:
        """Wait for the queued batches to be written, feeding ``progress`` meanwhile."""
        self._batches.put(None)
        while self._thread.is_alive():
            if progress is not None:
                progress()
            self._thread.join(0.5)

    def raise_failure(self) -> None:
        """Raise the writer's failure, if any, as a :class:`SourceError`."""
        if self.failed:
            raise SourceError(f"state store write failed: {self.failed[0]}") from self.failed[0]


def fetch_to_end(
    c: Consumer,
    writer: RestoreWriter,
    topic: str,
    parts: list[int],
    pos: dict[int, int],
    ends: dict[int, int],
    todo: int,
    timeout_s: float,
    progress: Callable[[], None] | None,
) -> int:
    """Hand ``topic``'s records to ``writer`` until every partition's position ``pos`` reached
    its end offset or the writer failed; raises :class:`SourceError` after ``timeout_s``.
    Feeds ``progress`` on every fetch and logs how far it got every few seconds. Returns the
    number of records fetched."""
    t0 = last_note = time.monotonic()
    deadline = t0 + timeout_s
    done = 0
    while any(pos[p] < ends[p] for p in parts) and not writer.failed:
        now = time.monotonic()
        if now > deadline:
            raise SourceError(f"state topic {topic!r} could not be read in {timeout_s}s")
        if progress is not None:
            progress()
        if now - last_note >= PROGRESS_EVERY_S:
            last_note = now
            log.info("restoring state", extra={"topic": topic, "done": done, "records": todo})
        batch = [m for m in c.consume(5000, 0.5) if m.error() is None]
        if batch:
            writer.put(batch)
            done += len(batch)
        for m in batch:
            pos[m.partition() or 0] = (m.offset() or 0) + 1
    return done
