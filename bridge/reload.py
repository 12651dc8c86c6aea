"""Hot reload of rules: on SIGHUP or when the config file changes (thread ``config-reload``).

A bad file keeps the running rules. A good one is handed to the loop with ``swap_rules``
*before* it is reported (``config reloaded``, ``bridge_config_reloads_total{result="ok"}``);
the loop installs it as soon as its current ``consume()`` returns, before handling what that
call returned, so every event consumed after the report goes through the new rules.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from bridge.errors import ConfigError
from bridge.ops.metrics import Metrics
from bridge.ruleset import RuleSet, compile_rules
from bridge.settings import Settings, load_settings

log = logging.getLogger("bridge.app")


class Swappable(Protocol):
    settings: Settings

    def swap_rules(self, rules: RuleSet) -> None: ...


class Reloader:
    """Watches ``path`` every ``interval_s`` (or at once on :meth:`trigger`)."""

    def __init__(
        self, path: Path, target: Swappable, metrics: Metrics, interval_s: float = 2.0
    ) -> None:
        self.path = path
        self.target = target
        self.metrics = metrics
        self.interval_s = interval_s
        self._mtime = self._stat()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="config-reload", daemon=True)

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def trigger(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            forced = self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            m = self._stat()
            if not forced and m == self._mtime:
                continue
            self._mtime = m
            self.reload()

    def reload(self) -> bool:
        try:
            settings = load_settings(self.path)
            rules = compile_rules(settings, str(self.path))
        except ConfigError as exc:
            self.metrics.config_reloads.labels("failed").inc()
            log.error("config reload failed; keeping the running rules: %s", exc)
            return False
        old = self.target.settings
        if set(settings.braze.by_name()) != set(old.braze.by_name()):
            # The senders are built at start-up: a rule must not name a workspace without one.
            self.metrics.config_reloads.labels("failed").inc()
            log.error(
                "config reload failed; keeping the running rules: braze.workspaces changed "
                "(%s -> %s); adding or removing a workspace needs a restart",
                ", ".join(sorted(old.braze.by_name())),
                ", ".join(sorted(settings.braze.by_name())),
            )
            return False
        if settings.model_dump(exclude={"rules"}) != old.model_dump(exclude={"rules"}):
            log.warning("config reload: only rules are reloaded; other changes need a restart")
        self.target.swap_rules(rules)
        self.metrics.config_reloads.labels("ok").inc()
        log.info("config reloaded", extra={"rules": len(rules.rules)})
        return True
