"""The HTTP side: one long-lived httpx client on its own asyncio thread.

The poll loop never waits for HTTP. It hands batches over with :meth:`Sender.submit`; the
sender paces, bounds requests in flight, retries transient failures with exponential backoff
and full jitter, bisects batches Braze rejects, halts on 401/403 (probing until the key
works), and reports each batch's final outcome through ``on_done`` (called on the sender
thread; the receiver must be thread-safe, e.g. a queue).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bridge.actions.common import BODY_LIMIT
from bridge.batch import Batch
from bridge.deliver.classify import Classified, Verdict, classify, status_class
from bridge.deliver.client import braze_headers, braze_timeout
from bridge.deliver.pacing import Pacer, PriorityGate, audience_key, is_bulk, request_pool
from bridge.deliver.transport import LeanPoster, LeanResponse
from bridge.ops.metrics import Metrics
from bridge.settings import BrazeSettings, DeliverySettings

log = logging.getLogger("bridge.deliver")

# Rejections that concern the whole request, not one recipient: bisecting cannot help.
_REQUEST_LEVEL = ("campaign", "canvas", "api key", "send_id", "schedule", "broadcast", "body")


@dataclass(slots=True)
class Outcome:
    """Final result of one batch (all its items share it)."""

    batch: Batch
    accepted: bool
    status: int | None
    reason: str
    message: str
    body: str
    attempts: int
    first_failure: float
    last_failure: float
    dispatch_id: str | None = None
    response: Any = None


@dataclass(slots=True)
class Control:
    """A state change the poll loop must know about (halt / resume)."""

    kind: str  # "halt" | "resume"
    reason: str
    message: str


class Sender:
    """Sends batches to Braze from a background event loop."""

    def __init__(
        self,
        braze: BrazeSettings,
        delivery: DeliverySettings,
        metrics: Metrics,
        on_done: Callable[[Outcome | Control], None],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.braze = braze
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
        self._thread = threading.Thread(target=self._run_loop, name="braze-sender", daemon=True)
        self._ready = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self.halted: str | None = None
        self._client: httpx.AsyncClient | None = None  # http_transport: httpx (or a test's)
        self._poster: LeanPoster | None = None  # http_transport: lean
        self._gate: PriorityGate | None = None  # requests in flight, transactional first
        self._unhalted: asyncio.Event | None = None
        self._probe: asyncio.Lock | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
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
        self._ready.set()
        self._loop.run_forever()

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
        with self._lock:
            self._in_flight += 1
        self.metrics.requests_in_flight.inc()
        self._loop.call_soon_threadsafe(self._spawn, batch)

    def _spawn(self, batch: Batch) -> None:
        self._loop.create_task(self._deliver(batch, attempts=0, first_failure=0.0))

    def _finish(self, outcome: Outcome) -> None:
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
        if len(payload) > BODY_LIMIT:
            # Braze refuses bodies over 4 MB: split, or dead-letter a lone item (never sent).
            if len(batch) > 1:
                self._split(batch, attempts, first_failure)
            else:
                now = time.time()
                self._finish(
                    Outcome(
                        batch,
                        False,
                        None,
                        "too_large",
                        f"request body is {len(payload)} bytes; Braze allows at most 4 MB",
                        "",
                        attempts,
                        now,
                        now,
                    )
                )
            return
        while True:
            # While halted, wait; one request at a time probes after the probe interval.
            probing = False
            while self.halted is not None:
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
            if elapsed is not None:
                self.metrics.request_duration.labels(endpoint).observe(elapsed)
            v = classified.verdict
            if v is Verdict.ACCEPT:
                if self.halted is not None:
                    self._resume()
                if classified.reason == "partial" and isinstance(body, dict):
                    errs = body.get("errors") or []
                    n = len(errs) if isinstance(errs, list) else 1
                    self.metrics.partial_errors.labels(endpoint).inc(n)
                    log.warning(
                        "braze accepted with errors",
                        extra={"endpoint": endpoint, "errors": str(errs)[:500]},
                    )
                self.metrics.batch_recipients.labels(endpoint).observe(len(batch))
                dispatch = body.get("dispatch_id") if isinstance(body, dict) else None
                self._finish(
                    Outcome(
                        batch,
                        True,
                        status,
                        classified.reason,
                        classified.message,
                        "",
                        attempts,
                        first_failure,
                        0.0,
                        dispatch,
                        body,
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
                    and not _request_level(classified.message)
                ):
                    self._split(batch, attempts, first_failure)
                    return
                self._finish(
                    Outcome(
                        batch,
                        False,
                        status,
                        classified.reason,
                        classified.message,
                        text,
                        attempts,
                        first_failure,
                        now,
                    )
                )
                return
            # RETRY
            self.metrics.retries.labels(endpoint, classified.reason).inc()
            if status == 429:
                self.metrics.rate_limited.labels(pool).inc()
            if now - first_failure > retry.max_elapsed_s:
                self._finish(
                    Outcome(
                        batch,
                        False,
                        status,
                        "retries_exhausted",
                        f"gave up after {attempts} attempts: {classified.reason} "
                        f"{classified.message}".strip(),
                        text,
                        attempts,
                        first_failure,
                        now,
                    )
                )
                return
            cap = min(retry.max_backoff_ms, retry.initial_backoff_ms * (2 ** min(attempts, 20)))
            await asyncio.sleep(random.uniform(0, cap) / 1000.0)

    def _split(self, batch: Batch, attempts: int, first_failure: float) -> None:
        """Replace a batch in flight by its two halves."""
        mid = len(batch) // 2
        for half_items in (batch.items[:mid], batch.items[mid:]):
            half = Batch(batch.shape, batch.created)
            half.items = half_items
            with self._lock:
                self._in_flight += 1
            self.metrics.requests_in_flight.inc()
            self._loop.create_task(self._deliver(half, attempts, first_failure))
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
            )
            return resp.status_code, headers, body, classified, elapsed

    def _export_pool(self, pool: str) -> None:
        p = self.pacer.pool(pool)
        if p.remaining is not None:
            self.metrics.ratelimit_remaining.labels(pool).set(p.remaining)
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
            self.metrics.halted.labels("auth").set(1)
            self.on_done(
                Control(
                    "halt",
                    "auth",
                    f"Braze answered {status} ({classified.message or classified.reason}): "
                    "check the API key, its permissions and the REST endpoint; "
                    f"probing every {self.delivery.halt_probe_interval_s:g}s",
                )
            )

    def _resume(self) -> None:
        if self._unhalted is None:
            raise RuntimeError("sender not started")
        self.halted = None
        self._unhalted.set()
        self.metrics.halted.labels("auth").set(0)
        self.on_done(Control("resume", "auth", "Braze accepts the API key again"))


def _truncate(body: Any, limit: int = 1000) -> str:
    if body is None:
        return ""
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return text[:limit]


def _request_level(message: str) -> bool:
    m = message.lower()
    return any(w in m for w in _REQUEST_LEVEL)
