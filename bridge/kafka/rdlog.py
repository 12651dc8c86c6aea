"""librdkafka's own log lines through the bridge's JSON logger, rate-limited.

Without a ``logger`` in a client's config, librdkafka writes raw ``%3|1700000000.123|FAIL|…``
lines to stderr: not JSON, not scrubbed, and a storm when a broker is down (290 lines in
15 s in the audit). :func:`kafka_logger` returns the object confluent-kafka calls instead
(``logger.log(level, "%s [%s] %s", facility, client_name, message)``, served from the
client's poll/consume/flush), which re-emits each line on ``bridge.kafka.librdkafka`` with
``facility`` and ``client`` fields and at most ``burst`` lines per facility per ``window_s``;
the next line let through after a suppression carries ``suppressed`` (how many were dropped).

Every librdkafka client gets one: ``conf["logger"] = kafka_logger("consumer")``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

LOGGER_NAME = "bridge.kafka.librdkafka"


class RdKafkaLogger:
    """The ``logger`` confluent-kafka calls; thread-safe (clients poll from several threads)."""

    def __init__(
        self,
        client: str,
        *,
        burst: int = 5,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        target: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._log = target or logging.getLogger(LOGGER_NAME)
        self._lock = threading.Lock()
        # facility -> [window start, lines let through in it, lines suppressed since last]
        self._windows: dict[str, list[float]] = {}

    # confluent-kafka's call: logger.log(level, "%s [%s] %s", fac, name, message)
    def log(self, level: int, msg: str, *args: Any, **_kw: Any) -> None:
        if len(args) == 3:
            facility, name, text = (str(a) for a in args)
        else:
            facility, name, text = "LOG", self.client, (msg % args if args else msg)
        if not self._log.isEnabledFor(level):
            return
        suppressed = self._admit(facility)
        if suppressed is None:
            return
        extra: dict[str, Any] = {"facility": facility, "client": self.client, "rdkafka": name}
        if suppressed:
            extra["suppressed"] = suppressed
        self._log.log(level, text, extra=extra)

    def event(self, level: int, key: str, msg: str, **extra: Any) -> None:
        """Log ``msg`` under the same per-``key`` rate limit (for librdkafka's error_cb,
        which repeats on every failed connection attempt too)."""
        if not self._log.isEnabledFor(level):
            return
        suppressed = self._admit(key)
        if suppressed is None:
            return
        if suppressed:
            extra["suppressed"] = suppressed
        self._log.log(level, msg, extra=extra)

    def _admit(self, facility: str) -> int | None:
        """None: drop this line; else the number of lines dropped before it."""
        now = self._clock()
        with self._lock:
            w = self._windows.get(facility)
            if w is None or now - w[0] >= self.window_s:
                dropped = int(w[2]) if w is not None else 0
                self._windows[facility] = [now, 1, 0]
                return dropped
            if w[1] < self.burst:
                w[1] += 1
                dropped, w[2] = int(w[2]), 0
                return dropped
            w[2] += 1
            return None

    # logging.Logger look-alike bits confluent-kafka may touch
    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging API
        return self._log.isEnabledFor(level)


def kafka_logger(client: str, **kw: Any) -> RdKafkaLogger:
    """A rate-limited JSON ``logger`` for one librdkafka client (``consumer``, ``producer``,
    ``admin``, ``state-producer``, ...)."""
    return RdKafkaLogger(client, **kw)
