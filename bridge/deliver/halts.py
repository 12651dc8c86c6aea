"""A workspace's halt: Braze refused its key (401/403) or its fixed paths (404).

While halted, every delivery of the workspace waits; after each probe interval one request
at a time probes, and the first answer Braze accepts resumes the workspace. Halting and
resuming set the halted gauges and tell the poll loop with a :class:`Control`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from bridge.deliver.classify import Classified
from bridge.deliver.outcome import Control, Outcome
from bridge.ops.metrics import Metrics


class WorkspaceHalt:
    """Halt state of one workspace's sender; its asyncio parts live on the sender's loop."""

    def __init__(
        self,
        workspace: str,
        metrics: Metrics,
        on_done: Callable[[Outcome | Control], None],
        probe_interval_s: float,
        *,
        solo: bool,
    ) -> None:
        self.workspace = workspace
        self.metrics = metrics
        self.on_done = on_done
        self.probe_interval_s = probe_interval_s
        # the deployment's only workspace: its halt is also the process's (bridge_halted)
        self.solo = solo
        self.reason: str | None = None  # the classified reason while halted
        self.kind = "auth"  # bridge_halted / pause reason: auth (401/403), endpoint (404)
        self._unhalted: asyncio.Event | None = None
        self._probe: asyncio.Lock | None = None
        metrics.workspace_halted.labels(workspace, "auth").set(0)  # exported from the start

    def bind(self) -> None:
        """Create the loop-bound parts; call on the sender's event loop thread."""
        self._unhalted = asyncio.Event()
        self._unhalted.set()
        self._probe = asyncio.Lock()

    @property
    def bound(self) -> bool:
        return self._unhalted is not None and self._probe is not None

    @contextlib.asynccontextmanager
    async def turn(self, progress: Callable[[float], None]) -> AsyncIterator[None]:
        """Wait while halted; after a probe interval, one holder at a time goes ahead as the
        probe (the others keep waiting until it ends). Not halted: go at once."""
        if self._unhalted is None or self._probe is None:
            raise RuntimeError("sender not started")
        probing = False
        while self.reason is not None:
            progress(self.probe_interval_s)
            try:
                await asyncio.wait_for(self._unhalted.wait(), timeout=self.probe_interval_s)
            except TimeoutError:
                if not self._probe.locked():
                    await self._probe.acquire()
                    probing = True
                    break
        try:
            yield
        finally:
            if probing:
                self._probe.release()

    def halt(self, classified: Classified, status: int | None) -> None:
        """Halt the workspace (once; a halted workspace's further refusals change nothing)."""
        if self._unhalted is None:
            raise RuntimeError("sender not started")
        if self.reason is not None:
            return
        self.reason = classified.reason
        self._unhalted.clear()
        if status == 404:
            self.kind = "endpoint"
            hint = (
                "Braze documents 404 as 'Invalid URL': check braze.rest_endpoint and any "
                "proxy in between"
            )
        else:
            self.kind = "auth"
            hint = "check the API key, its permissions and the REST endpoint"
        self.metrics.workspace_halted.labels(self.workspace, self.kind).set(1)
        if self.solo:
            self.metrics.halted.labels(self.kind).set(1)
        self.on_done(
            Control(
                "halt",
                self.kind,
                f"Braze answered {status} ({classified.message or classified.reason}): "
                f"{hint}; probing every {self.probe_interval_s:g}s",
                workspace=self.workspace,
            )
        )

    def resume(self) -> None:
        """Braze accepted a request again: release every waiting delivery."""
        if self._unhalted is None:
            raise RuntimeError("sender not started")
        self.reason = None
        self._unhalted.set()
        kind = self.kind
        self.metrics.workspace_halted.labels(self.workspace, kind).set(0)
        if self.solo:
            self.metrics.halted.labels(kind).set(0)
        self.on_done(
            Control(
                "resume",
                kind,
                "Braze accepts the API key again"
                if kind == "auth"
                else "Braze answers on its documented paths again",
                workspace=self.workspace,
            )
        )
