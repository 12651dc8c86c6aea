"""The HTTP side: one long-lived httpx client on its own asyncio thread.

The poll loop never waits for HTTP. It hands batches over with :meth:`Sender.submit`; the
sender paces, bounds requests in flight, retries transient failures with exponential backoff
and full jitter, bisects batches Braze rejects for a recipient (never for a request-level
error: see :func:`bridge.deliver.classify.rejection_scope`), halts on 401/403 and on 404 on its
fixed paths (probing until Braze answers again), and reports each batch's final outcome
through ``on_done`` (called on the sender thread; the receiver must be thread-safe, e.g. a
queue).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from bridge.actions.common import BODY_LIMIT, GENERATED_PLACEHOLDER
from bridge.batch import Batch
from bridge.deliver.classify import (
    Classified,
    Verdict,
    affected_items,
    classify,
    partial_errors,
    status_class,
)
from bridge.deliver.client import braze_headers, braze_timeout
from bridge.deliver.outcome import Control as Control
from bridge.deliver.outcome import Outcome as Outcome
from bridge.deliver.pacing import Pacer, PriorityGate, audience_key, is_bulk, request_pool
from bridge.deliver.transport import LeanPoster, LeanResponse
from bridge.errors import SourceError
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
        self._solo = workspace is None
        metrics.workspace_halted.labels(self.workspace, "auth").set(0)  # exported from the start
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
        # one pacing lane per (pool, class, audience): only its head waits for the pacer, so
        # a queued bulk backlog never holds a slot a transactional batch needs
        self._lanes: dict[tuple[str, bool, str | None], PriorityGate] = {}
        self._transport = transport
        self._loop = asyncio.new_event_loop()
        name = "braze-sender" if workspace is None else f"braze-sender-{workspace}"
        self._thread = threading.Thread(target=self._run_loop, name=name, daemon=True)
        self._ready = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self.halted: str | None = None
        self._halt_kind = "auth"  # bridge_halted / pause reason: auth (401/403), endpoint (404)
        self._client: httpx.AsyncClient | None = None  # http_transport: httpx (or a test's)
        self._poster: LeanPoster | None = None  # http_transport: lean
        self._gate: PriorityGate | None = None  # requests in flight, transactional first
        self._unhalted: asyncio.Event | None = None
        self._probe: asyncio.Lock | None = None
        self._start_error: Exception | None = None
        self._progress_at = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the sender thread; raise if its HTTP client cannot be built (never hang)."""
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise SourceError("the Braze sender did not start within 30 s")
        if self._start_error is not None:
            exc = self._start_error
            self._thread.join(timeout=5)
            self._loop.close()
            raise SourceError(
                f"the Braze sender cannot start: {type(exc).__name__}: {str(exc)[:200]}"
            ) from exc

    def stalled_for(self) -> float:
        """Seconds the sender has made no progress while batches are in flight (0: fine).

        Progress: an attempt started or ended, a batch finished, or a deliberate wait
        (pacing, backoff, halt probe interval) that is still within its planned length. A
        dead sender thread or a blocked event loop stops all of these. Thread-safe.
        """
        if self._in_flight <= 0:
            return 0.0
        return max(0.0, time.monotonic() - self._progress_at)

    def _progress(self, planned_wait_s: float = 0.0) -> None:
        self._progress_at = max(self._progress_at, time.monotonic() + planned_wait_s)

    def _run_loop(self) -> None:
        try:
            self._setup_loop()
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _setup_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._loop_error)
        self._gate = PriorityGate(self.braze.max_in_flight)
        self._unhalted = asyncio.Event()
        self._unhalted.set()
        self._probe = asyncio.Lock()
        timeout = braze_timeout(self.braze)
        if self._transport is None and self.braze.http_transport == "lean":
            from bridge.deliver.transport import LeanPoster, LeanTransport

            self._poster = LeanPoster(
                self.braze.rest_endpoint,
                braze_headers(self.braze),
                timeout,
                LeanTransport(max_idle=self.braze.max_in_flight),
            )
        else:
            self._client = httpx.AsyncClient(
                base_url=self.braze.rest_endpoint,
                headers=braze_headers(self.braze),
                timeout=timeout,
                limits=httpx.Limits(
                    max_connections=self.braze.max_in_flight,
                    max_keepalive_connections=self.braze.max_in_flight,
                ),
                transport=self._transport,
                trust_env=self.braze.http_transport == "httpx",
            )

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

    def close(self) -> None:
        """Stop the loop (after the caller has waited for what it needed)."""
        if not self._thread.is_alive():
            return

        async def _shutdown() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()
            if self._poster is not None:
                await self._poster.aclose()

        fut = asyncio.run_coroutine_threadsafe(_shutdown(), self._loop)
        try:
            fut.result(timeout=5)
        except Exception:  # noqa: BLE001 - best effort on the way out
            log.debug("error closing http client", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # -- submission ------------------------------------------------------------------------
    def submit(self, batch: Batch) -> None:
        """Hand a batch over; returns at once. Thread-safe."""
        self._progress()  # an idle sender is not stalled the moment work arrives
        with self._lock:
            self._in_flight += 1
        self.metrics.requests_in_flight.inc()
        self._loop.call_soon_threadsafe(self._spawn, batch)

    def _spawn(self, batch: Batch) -> None:
        self._start_task(batch, 0, 0.0)

    def _start_task(self, batch: Batch, attempts: int, first_failure: float) -> None:
        """Run one batch's delivery; a task that dies still gives its batch an outcome."""
        self._progress()
        task = self._loop.create_task(self._deliver(batch, attempts, first_failure))
        task.add_done_callback(lambda t: self._task_done(t, batch, attempts))

    def _task_done(self, task: asyncio.Task[None], batch: Batch, attempts: int) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        self.metrics.task_failures.labels("sender").inc()
        reason = f"{type(exc).__name__} while delivering: {str(exc)[:300]}"
        log.error(
            "delivery task failed; its batch is dead-lettered",
            extra={"error_class": type(exc).__name__, "endpoint": batch.shape.path},
        )
        now = time.time()
        self._finish(Outcome(batch, False, None, "internal_error", reason, "", attempts, now, now))

    def _finish(self, outcome: Outcome) -> None:
        self._progress()
        with self._lock:
            self._in_flight -= 1
        self.metrics.requests_in_flight.dec()
        self.on_done(outcome)

    # -- one batch -------------------------------------------------------------------------
    async def _deliver(self, batch: Batch, attempts: int, first_failure: float) -> None:
        if self._gate is None or self._unhalted is None or self._probe is None:
            raise RuntimeError("sender not started")
        endpoint = batch.shape.path
        request = batch.body()
        pool = request_pool(batch.shape.pool, request)
        audience = audience_key(request) if pool == "broadcast" else None
        priority = batch.shape.priority
        retry = self.delivery.retry
        payload = orjson.dumps(request)
        if _PLACEHOLDER in payload:
            # A generate_send_id rule whose id was not created at start-up (added by a reload):
            # never send the placeholder to Braze.
            now = time.time()
            self._finish(
                Outcome.failure(
                    batch,
                    status=None,
                    reason="send_id_missing",
                    message="the send_id Braze generates for this rule was not created at "
                    "start-up (was the rule added by a reload?): restart the bridge, then replay",
                    attempts=attempts,
                    first_failure=now,
                    last_failure=now,
                )
            )
            return
        if len(payload) > BODY_LIMIT:
            # Braze refuses bodies over 4 MB: split, or dead-letter a lone item (never sent).
            if len(batch) > 1:
                self._split(batch, attempts, first_failure)
            else:
                now = time.time()
                self._finish(
                    Outcome.failure(
                        batch,
                        status=None,
                        reason="too_large",
                        message=f"request body is {len(payload)} bytes; Braze allows at most 4 MB",
                        attempts=attempts,
                        first_failure=now,
                        last_failure=now,
                    )
                )
            return
        while True:
            # While halted, wait; one request at a time probes after the probe interval.
            probing = False
            while self.halted is not None:
                self._progress(self.delivery.halt_probe_interval_s)
                try:
                    await asyncio.wait_for(
                        self._unhalted.wait(), timeout=self.delivery.halt_probe_interval_s
                    )
                except TimeoutError:
                    if not self._probe.locked():
                        await self._probe.acquire()
                        probing = True
                        break
            try:
                status, headers, body, classified, elapsed = await self._attempt(
                    endpoint, pool, payload, priority, audience
                )
            finally:
                if probing:
                    self._probe.release()
            attempts += 1
            self.metrics.requests.labels(endpoint, status_class(status)).inc()
            self.metrics.workspace_requests.labels(self.workspace, status_class(status)).inc()
            if elapsed is not None:
                self.metrics.request_duration.labels(endpoint).observe(elapsed)
            v = classified.verdict
            if v is Verdict.ACCEPT:
                if self.halted is not None:
                    self._resume()
                errs: list[str] = []
                affected: tuple[int, ...] = ()
                if classified.reason == "partial":
                    errs = partial_errors(body)
                    named = affected_items([i.identity for i in batch.items], errs)
                    affected = tuple(range(len(batch))) if named is None else named
                    self.metrics.partial_errors.labels(endpoint).inc(len(errs))
                    log.warning(
                        "braze accepted with errors",
                        extra={
                            "endpoint": endpoint,
                            "errors": str(errs)[:500],
                            "affected": len(affected),
                            "items": len(batch),
                        },
                    )
                self.metrics.batch_recipients.labels(endpoint).observe(len(batch))
                dispatch = body.get("dispatch_id") if isinstance(body, dict) else None
                self._finish(
                    Outcome.success(
                        batch,
                        status=status,
                        reason=classified.reason,
                        message=classified.message,
                        attempts=attempts,
                        first_failure=first_failure,
                        dispatch_id=dispatch,
                        response=body,
                        partial_errors=errs,
                        partial_items=affected,
                    )
                )
                return
            now = time.time()
            if not first_failure:
                first_failure = now
            text = _truncate(body)
            if v is Verdict.HALT:
                self._halt(classified, status)
                continue
            if v is Verdict.REJECT:
                if (
                    self.delivery.bisect
                    and len(batch) > 1
                    and status in (400, 413)
                    and classified.scope != "request"
                ):
                    self._split(batch, attempts, first_failure)
                    return
                self._finish(
                    Outcome.failure(
                        batch,
                        status=status,
                        reason=classified.reason,
                        message=classified.message,
                        body=text,
                        attempts=attempts,
                        first_failure=first_failure,
                        last_failure=now,
                    )
                )
                return
            # RETRY
            self.metrics.retries.labels(endpoint, classified.reason).inc()
            if status == 429:
                self.metrics.rate_limited.labels(pool).inc()
            if now - first_failure > retry.max_elapsed_s:
                self._finish(
                    Outcome.failure(
                        batch,
                        status=status,
                        reason="retries_exhausted",
                        message=f"gave up after {attempts} attempts: {classified.reason} "
                        f"{classified.message}".strip(),
                        body=text,
                        attempts=attempts,
                        first_failure=first_failure,
                        last_failure=now,
                    )
                )
                return
            cap = min(retry.max_backoff_ms, retry.initial_backoff_ms * (2 ** min(attempts, 20)))
            pause = random.uniform(0, cap) / 1000.0
            self._progress(pause)
            await asyncio.sleep(pause)

    def _split(self, batch: Batch, attempts: int, first_failure: float) -> None:
        """Replace a batch in flight by its two halves."""
        mid = len(batch) // 2
        for half_items in (batch.items[:mid], batch.items[mid:]):
            half = Batch(batch.shape, batch.created)
            half.items = half_items
            with self._lock:
                self._in_flight += 1
            self.metrics.requests_in_flight.inc()
            self._start_task(half, attempts, first_failure)
        with self._lock:
            self._in_flight -= 1
        self.metrics.requests_in_flight.dec()

    async def _attempt(
        self,
        endpoint: str,
        pool: str,
        payload: bytes,
        priority: int = 100,
        audience: str | None = None,
    ) -> tuple[int | None, Any, Any, Classified, float | None]:
        if self._gate is None or (self._client is None and self._poster is None):
            raise RuntimeError("sender not started")
        lane_key = (pool, is_bulk(priority), audience)
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = PriorityGate(1)
        async with lane.slot(priority):
            waited = 0.0
            while (d := self.pacer.delay(pool, priority, audience)) > 0:
                self._progress(min(d, 1.0))
                await asyncio.sleep(min(d, 1.0))
                waited += min(d, 1.0)
                if self.halted is not None:
                    break
            if waited:
                self.metrics.paced_seconds.labels(pool).inc(waited)
            self.pacer.started(pool, audience)
        if audience is not None and len(self._lanes) > 10_000:
            self._lanes = {k: v for k, v in self._lanes.items() if v.held or k[2] is None}
        async with self._gate.slot(priority):
            self._progress(self.braze.connect_timeout_s + 2 * self.braze.request_timeout_s)
            t0 = time.perf_counter()
            try:
                resp: httpx.Response | LeanResponse
                if self._poster is not None:
                    resp = await self._poster.post(endpoint, payload)
                elif self._client is not None:
                    resp = await self._client.post(endpoint, content=payload)
                else:
                    raise RuntimeError("sender not started")
            except httpx.TimeoutException as exc:
                self.pacer.finished(pool, None, None, audience)
                return (
                    None,
                    None,
                    None,
                    Classified(Verdict.RETRY, "timeout", str(exc) or "timeout"),
                    None,
                )
            except httpx.HTTPError as exc:
                self.pacer.finished(pool, None, None, audience)
                return (
                    None,
                    None,
                    None,
                    Classified(Verdict.RETRY, "connection", f"{type(exc).__name__}: {exc}"),
                    None,
                )
            elapsed = time.perf_counter() - t0
            headers = resp.headers
            self.pacer.finished(pool, headers, resp.status_code, audience)
            self._export_pool(pool)
            try:
                body = orjson.loads(resp.content) if resp.content else None
            except orjson.JSONDecodeError:
                body = resp.text[:1000]
            classified = classify(
                resp.status_code,
                body,
                overrides=self.delivery.status_overrides,
                on_notice=self.delivery.on_notice,
                path=endpoint,
            )
            return resp.status_code, headers, body, classified, elapsed

    def _export_pool(self, pool: str) -> None:
        p = self.pacer.pool(pool)
        if p.remaining is not None:
            self.metrics.ratelimit_remaining.labels(pool).set(p.remaining)
            self.metrics.workspace_ratelimit_remaining.labels(self.workspace, pool).set(p.remaining)
        if p.limit is not None:
            self.metrics.ratelimit_limit.labels(pool).set(p.limit)
        if p.reset:
            self.metrics.ratelimit_reset.labels(pool).set(p.reset)

    def _halt(self, classified: Classified, status: int | None) -> None:
        if self._unhalted is None:
            raise RuntimeError("sender not started")
        if self.halted is None:
            self.halted = classified.reason
            self._unhalted.clear()
            if status == 404:
                self._halt_kind = "endpoint"
                hint = (
                    "Braze documents 404 as 'Invalid URL': check braze.rest_endpoint and any "
                    "proxy in between"
                )
            else:
                self._halt_kind = "auth"
                hint = "check the API key, its permissions and the REST endpoint"
            self.metrics.workspace_halted.labels(self.workspace, self._halt_kind).set(1)
            if self._solo:
                self.metrics.halted.labels(self._halt_kind).set(1)
            self.on_done(
                Control(
                    "halt",
                    self._halt_kind,
                    f"Braze answered {status} ({classified.message or classified.reason}): "
                    f"{hint}; probing every {self.delivery.halt_probe_interval_s:g}s",
                    workspace=self.workspace,
                )
            )

    def _resume(self) -> None:
        if self._unhalted is None:
            raise RuntimeError("sender not started")
        self.halted = None
        self._unhalted.set()
        kind = self._halt_kind
        self.metrics.workspace_halted.labels(self.workspace, kind).set(0)
        if self._solo:
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


def _truncate(body: Any, limit: int = 1000) -> str:
    if body is None:
        return ""
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return text[:limit]
