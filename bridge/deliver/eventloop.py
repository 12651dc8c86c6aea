"""An asyncio event loop on its own daemon thread: started (or refused) at once, stopped
with its tasks cancelled and its resources closed."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.errors import SourceError
from bridge.ops.metrics import Metrics

log = logging.getLogger("bridge.deliver")


class LoopThread:
    """Runs ``setup`` and then the loop forever on a thread called ``name``; a task's
    unhandled error is counted in ``bridge_task_failures_total{task="sender"}``."""

    def __init__(self, name: str, setup: Callable[[], None], metrics: Metrics) -> None:
        self.loop = asyncio.new_event_loop()
        self._setup = setup
        self.metrics = metrics
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._start_error: Exception | None = None

    def start(self) -> None:
        """Start the thread; raise if ``setup`` failed or did not finish in 30 s (never hang)."""
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise SourceError("the Braze sender did not start within 30 s")
        if self._start_error is not None:
            exc = self._start_error
            self._thread.join(timeout=5)
            self.loop.close()
            raise SourceError(
                f"the Braze sender cannot start: {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc

    def _run(self) -> None:
        try:
            asyncio.set_event_loop(self.loop)
            self.loop.set_exception_handler(self._loop_error)
            self._setup()
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's last-resort handler: one JSON line and a count, never the exception's
        repr (it may quote a request head with the key)."""
        exc = context.get("exception")
        self.metrics.task_failures.labels("sender").inc()
        log.error(
            "sender task failed",
            extra={
                "error_class": type(exc).__name__ if exc is not None else None,
                "error": context.get("message", ""),
            },
        )

    def close(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Cancel every task, await ``cleanup`` (5 s at most), stop the loop, join the thread."""
        if not self._thread.is_alive():
            return

        async def _shutdown() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await cleanup()

        fut = asyncio.run_coroutine_threadsafe(_shutdown(), self.loop)
        try:
            fut.result(timeout=5)
        except Exception:  # noqa: BLE001 - best effort on the way out
            log.debug("error closing http client", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()
