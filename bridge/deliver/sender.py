"""The HTTP side: one long-lived poster on its own asyncio thread.

The poll loop never waits for HTTP. It hands batches over with :meth:`Sender.submit`; the
sender paces, bounds requests in flight, retries transient failures with exponential backoff
and full jitter, bisects batches Braze rejects for a recipient (never for a request-level
error: see :func:`bridge.deliver.classify.rejection_scope`), halts on 401/403 and on 404 on its
fixed paths (probing until Braze answers again), and reports each batch's final outcome
through ``on_done`` (called on the sender thread; the receiver must be thread-safe, e.g. a
queue).

The parts: :mod:`~bridge.deliver.eventloop` (the thread), :mod:`~bridge.deliver.lanes` and
:mod:`~bridge.deliver.pacing` (when a request may start), :mod:`~bridge.deliver.attempt` (one
request and its verdict), :mod:`~bridge.deliver.retry` (backoff), :mod:`~bridge.deliver.halts`
(401/403/404) and :mod:`~bridge.deliver.verdicts` (the final outcome).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping

import httpx
import orjson

from bridge.actions.common import BODY_LIMIT, GENERATED_PLACEHOLDER
from bridge.batch import Batch
from bridge.braze_facts import audience_key
from bridge.deliver import verdicts
from bridge.deliver.attempt import Answer, attempt
from bridge.deliver.classify import Verdict
from bridge.deliver.client import HttpxPoster, async_poster
from bridge.deliver.eventloop import LoopThread
from bridge.deliver.gate import PriorityGate
from bridge.deliver.halts import WorkspaceHalt
from bridge.deliver.lanes import PacingLanes
from bridge.deliver.meters import count_answer, export_pool
from bridge.deliver.outcome import Control as Control
from bridge.deliver.outcome import Outcome as Outcome
from bridge.deliver.pacing import Pacer
from bridge.deliver.pools import request_pool
from bridge.deliver.retry import backoff_s, exhausted
from bridge.deliver.transport import LeanPoster
from bridge.deliver.workload import Workload
from bridge.ops.metrics import Metrics
from bridge.settings import BrazeSettings, DeliverySettings

log = logging.getLogger("bridge.deliver")

_PLACEHOLDER = GENERATED_PLACEHOLDER.encode()


class Sender:
    """Sends batches to Braze from a background event loop."""

    def __init__(
        self,
        braze: BrazeSettings,
        delivery: DeliverySettings,
        metrics: Metrics,
        on_done: Callable[[Outcome | Control], None],
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        workspace: str | None = None,
    ) -> None:
        self.braze = braze
        # One sender per workspace: its pacer, halt state and connections are that workspace's.
        # None: the deployment's only workspace ("default"), whose halt is the process's halt.
        self.workspace = workspace or "default"
        self._halts = WorkspaceHalt(
            self.workspace, metrics, on_done, delivery.halt_probe_interval_s, solo=workspace is None
        )
        self.delivery = delivery
        self.metrics = metrics
        self.on_done = on_done
        self.pacer = Pacer(
            delivery.pacing.reserve_fraction,
            delivery.pacing.enabled,
            bulk_floor=delivery.bulk_floor,
            audience_limit=delivery.pacing.audience_limit_per_minute,
            even=delivery.pacing.even_spend,
        )
        self._lanes = PacingLanes(self.pacer, metrics)
        self._transport = transport
        name = "braze-sender" if workspace is None else f"braze-sender-{workspace}"
        self._thread = LoopThread(name, self._setup_loop, metrics)
        self._loop = self._thread.loop
        self._work = Workload(metrics)
        self._inbox: deque[Batch] = deque()  # submitted, not yet taken by the sender thread
        self._wake_pending = False
        self._poster: LeanPoster | HttpxPoster | None = None
        self._gate: PriorityGate | None = None  # requests in flight, transactional first

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the sender thread; raise if its HTTP client cannot be built (never hang)."""
        self._thread.start()

    @property
    def halted(self) -> str | None:
        """The reason Braze refused this workspace while it is halted, else None."""
        return self._halts.reason

    def stalled_for(self) -> float:
        """Seconds the sender has made no progress while batches are in flight (0: fine).

        Progress: an attempt started or ended, a batch finished, or a deliberate wait
        (pacing, backoff, halt probe interval) that is still within its planned length. A
        dead sender thread or a blocked event loop stops all of these. Thread-safe.
        """
        return self._work.stalled_for()

    def _setup_loop(self) -> None:
        self._gate = PriorityGate(self.braze.max_in_flight)
        self._halts.bind()
        self._poster = async_poster(self.braze, self._transport)

    def close(self) -> None:
        """Stop the loop (after the caller has waited for what it needed)."""
        self._thread.close(self._close_poster)

    async def _close_poster(self) -> None:
        if self._poster is not None:
            await self._poster.aclose()

    @property
    def in_flight(self) -> int:
        return self._work.count

    # -- submission ------------------------------------------------------------------------
    def submit(self, batch: Batch) -> None:
        """Hand a batch over; returns at once. Thread-safe.

        Batches wait in an inbox, and the sender thread is woken only when no wake-up is
        already on its way: the batches one poll-loop iteration hands over cost one wake-up
        (one write to the event loop's self-pipe), not one each. The flag is set only here
        and cleared by :meth:`_take_inbox` before it empties the inbox, so a batch added
        while a wake-up is pending is taken by that wake-up (deque operations and attribute
        writes are atomic under the GIL)."""
        self._work.progress()  # an idle sender is not stalled the moment work arrives
        self._work.add()
        self._inbox.append(batch)
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._take_inbox)

    def _take_inbox(self) -> None:
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            self._start_task(inbox.popleft(), 0, 0.0)

    def _start_task(self, batch: Batch, attempts: int, first_failure: float) -> None:
        """Run one batch's delivery; a task that dies still gives its batch an outcome."""
        self._work.progress()
        task = self._loop.create_task(self._deliver(batch, attempts, first_failure))
        task.add_done_callback(lambda t: self._task_done(t, batch, attempts))

    def _task_done(self, task: asyncio.Task[None], batch: Batch, attempts: int) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        self.metrics.task_failures.labels("sender").inc()
        log.error(
            "delivery task failed; its batch is dead-lettered",
            extra={"error_class": type(exc).__name__, "endpoint": batch.shape.path},
        )
        self._finish(verdicts.internal_error(batch, exc, attempts))

    def _finish(self, outcome: Outcome) -> None:
        self._work.progress()
        self._work.done()
        self.on_done(outcome)

    def _split(self, batch: Batch, attempts: int, first_failure: float) -> None:
        """Replace a batch in flight by its two halves."""
        mid = len(batch) // 2
        for half_items in (batch.items[:mid], batch.items[mid:]):
            half = Batch(batch.shape, batch.created)
            half.items = half_items
            self._work.add()
            self._start_task(half, attempts, first_failure)
        self._work.done()

    # -- one batch -------------------------------------------------------------------------
    async def _deliver(self, batch: Batch, attempts: int, first_failure: float) -> None:
        """Deliver one batch until it has a final outcome (or is split in two)."""
        if self._gate is None or not self._halts.bound:
            raise RuntimeError("sender not started")
        shape = batch.shape
        endpoint = shape.path
        request = batch.body()
        pool = request_pool(shape.pool, request)
        audience = audience_key(request) if pool == "broadcast" else None
        payload = orjson.dumps(request)
        if self._unsendable(batch, payload, attempts, first_failure):
            return
        while True:
            if self._halts.reason is None:  # not halted: go at once (turn() would too)
                answer = await self._attempt(endpoint, pool, payload, shape.priority, audience)
            else:
                async with self._halts.turn(self._work.progress):
                    answer = await self._attempt(endpoint, pool, payload, shape.priority, audience)
            attempts += 1
            count_answer(self.metrics, self.workspace, endpoint, answer)
            v = answer.classified.verdict
            if v is Verdict.ACCEPT:
                if self._halts.reason is not None:
                    self._halts.resume()
                self._finish(
                    verdicts.accepted(batch, answer, attempts, first_failure, self.metrics)
                )
                return
            now = time.time()
            if not first_failure:
                first_failure = now
            text = verdicts.truncate(answer.body)
            if v is Verdict.HALT:
                self._halts.halt(answer.classified, answer.status)
                continue
            if v is Verdict.REJECT:
                if verdicts.bisects(self.delivery, batch, answer):
                    self._split(batch, attempts, first_failure)
                else:
                    self._finish(
                        verdicts.rejected(batch, answer, text, attempts, first_failure, now)
                    )
                return
            if not await self._retry_later(batch, pool, answer, text, attempts, first_failure, now):
                return

    def _unsendable(
        self, batch: Batch, payload: bytes, attempts: int, first_failure: float
    ) -> bool:
        """Finish (or split) a batch that must not be sent as it is; True if it was."""
        if _PLACEHOLDER in payload:
            self._finish(verdicts.send_id_missing(batch, attempts))
            return True
        if len(payload) > BODY_LIMIT:
            # Braze refuses bodies over 4 MB: split, or dead-letter a lone item (never sent).
            if len(batch) > 1:
                self._split(batch, attempts, first_failure)
            else:
                self._finish(verdicts.too_large(batch, len(payload), attempts))
            return True
        return False

    async def _retry_later(
        self,
        batch: Batch,
        pool: str,
        answer: Answer,
        text: str,
        attempts: int,
        first_failure: float,
        now: float,
    ) -> bool:
        """Count a transient failure and back off; False (and the batch finished) once the
        retry time is used up."""
        endpoint = batch.shape.path
        self.metrics.retries.labels(endpoint, answer.classified.reason).inc()
        if answer.status == 429:
            self.metrics.rate_limited.labels(pool).inc()
        if exhausted(self.delivery.retry, first_failure, now):
            self._finish(
                verdicts.retries_exhausted(batch, answer, text, attempts, first_failure, now)
            )
            return False
        pause = backoff_s(self.delivery.retry, attempts)
        self._work.progress(pause)
        await asyncio.sleep(pause)
        return True

    async def _attempt(
        self,
        endpoint: str,
        pool: str,
        payload: bytes,
        priority: int = 100,
        audience: str | None = None,
    ) -> Answer:
        """Wait for the pacer and a slot in flight, then make one request."""
        if self._gate is None or self._poster is None:
            raise RuntimeError("sender not started")
        await self._lanes.admit(
            pool,
            priority,
            audience,
            progress=self._work.progress,
            halted=lambda: self._halts.reason is not None,
        )
        gate = self._gate
        await gate.acquire(priority)  # gate.slot(), without a generator per request
        try:
            self._work.progress(self.braze.connect_timeout_s + 2 * self.braze.request_timeout_s)

            def answered(headers: Mapping[str, str] | None, status: int | None) -> None:
                self.pacer.finished(pool, headers, status, audience)
                if headers is not None:
                    export_pool(self.metrics, self.workspace, self.pacer.pool(pool))

            return await attempt(self._poster, endpoint, payload, self.delivery, answered)
        finally:
            gate.release()
