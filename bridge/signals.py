"""Process signals, installed before anything slow happens (imports, connecting to Kafka)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType


class StopFlag:
    """ "Drain and exit" was requested. Set from a signal handler, read by the poll loop: the
    loop is built with the process's flag, so a stop requested during start-up is seen by the
    first iteration."""

    __slots__ = ("requested",)

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True


class Signals:
    """SIGTERM/SIGINT drain and exit (a second SIGINT kills at once); SIGHUP reloads rules.

    Installed before start-up, so a stop requested while the bridge is still connecting is
    honoured (exit 0) instead of killing the process.
    """

    _current: Signals | None = None

    @classmethod
    def install(cls) -> Signals:
        """The process's handlers, installed once (as early as possible: cli.main)."""
        if cls._current is None:
            cls._current = cls()
        return cls._current

    def __init__(self) -> None:
        self.stop = StopFlag()
        self.on_hup: Callable[[], None] | None = None
        self._n = 0
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._hup)

    @property
    def stop_requested(self) -> bool:
        return self.stop.requested

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._n += 1
        if self._n > 1 and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        self.stop.set()

    def _hup(self, _signum: int, _frame: FrameType | None) -> None:
        if self.on_hup is not None:
            self.on_hup()

    @staticmethod
    def exiting() -> None:
        """The process is on its way out: a late SIGTERM (e.g. a supervisor repeating it
        while the drain finishes) must not turn exit 0 into death by signal."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
