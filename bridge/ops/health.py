"""``/metrics``, ``/healthz`` (liveness) and ``/readyz`` (readiness) on one small HTTP server.

* ``/healthz`` is 200 while the poll loop made progress within ``liveness_timeout_s``, no
  watched component (the sender) has had work pending without progress for that long, and
  no background thread has died (a stuck bridge gets the pod restarted). A thread that dies
  is logged once as JSON and counted in ``bridge_task_failures_total{task}``.
* ``/readyz`` is 200 while the bridge *can do work if given some*: the consumer is
  subscribed and polling, and nothing halts delivery (401/403, open circuit breaker,
  shutdown). Having partitions is not required: an idle group member (more replicas than
  partitions, or the surge pod of a rolling update at ``replicas == partitions``) is ready,
  otherwise a rollout at the documented maximum never completes. The number of assigned
  partitions is still reported in the body.
"""

from __future__ import annotations

import errno
import logging
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.errors import ConfigError
from bridge.ops.metrics import Metrics

log = logging.getLogger("bridge.health")
LISTENING = "metrics server listening"  # the start-up line that names the bound host and port


class HealthState:
    """Thread-safe view of the loop's liveness and readiness."""

    def __init__(
        self,
        metrics: Metrics,
        liveness_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.liveness_timeout_s = liveness_timeout_s
        self._clock = clock
        self._last_poll = clock()
        self._partitions = 0
        self._polling = False  # set by the first poll: subscribed and in the group loop
        self._halts: set[str] = set()
        self._lock = threading.Lock()
        self._last_export = 0.0
        self._watches: dict[str, Callable[[], float]] = {}
        self._dead: set[str] = set()
        threading.excepthook = self._thread_died

    def watch(self, name: str, stalled_s: Callable[[], float]) -> None:
        """Fail liveness while ``stalled_s()`` (seconds without progress while work is
        pending; 0 when fine) reaches the liveness timeout. Called from any thread."""
        with self._lock:
            self._watches[name] = stalled_s

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "unknown"
        task = name.split("-")[0] if name.startswith("Thread-") else name
        with self._lock:
            first = task not in self._dead
            self._dead.add(task)
        self.metrics.task_failures.labels(task).inc()
        if first:
            log.error(
                "background thread died",
                extra={
                    "task": task,
                    "error_class": args.exc_type.__name__,
                    "error": str(args.exc_value)[:300],
                },
            )

    def polled(self) -> None:
        now = self._clock()
        self._last_poll = now
        self._polling = True
        if now - self._last_export > 1.0:
            self._last_export = now
            self.metrics.last_poll.set(time.time())

    def assigned(self, n: int) -> None:
        self._partitions = n

    def halted(self, reason: str, on: bool) -> None:
        with self._lock:
            if on:
                self._halts.add(reason)
            else:
                self._halts.discard(reason)
        self.metrics.halted.labels(reason).set(1 if on else 0)

    def live(self) -> tuple[bool, dict[str, object]]:
        age = self._clock() - self._last_poll
        ok = age < self.liveness_timeout_s
        info: dict[str, object] = {"last_poll_age_s": round(age, 3)}
        with self._lock:
            watches = list(self._watches.items())
            dead = sorted(self._dead)
        stalled = {}
        for name, stalled_s in watches:
            try:
                s = stalled_s()
            except Exception:  # noqa: BLE001 - a broken probe counts as stuck
                s = float("inf")
            if s >= self.liveness_timeout_s:
                stalled[name] = round(s, 3) if s != float("inf") else -1
        if stalled:
            ok = False
            info["stalled_s"] = stalled
        if dead:
            ok = False
            info["dead_threads"] = dead
        return ok, info

    def ready(self) -> tuple[bool, dict[str, object]]:
        with self._lock:
            halts = sorted(self._halts)
        ok = self._polling and not halts
        info: dict[str, object] = {"partitions": self._partitions, "halted": halts}
        if not self._polling:
            info["reason"] = "starting"
        return ok, info


class _Handler(BaseHTTPRequestHandler):
    state: HealthState

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = generate_latest(self.state.metrics.registry)
            self._reply(200, body, CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/readyz"):
            ok, info = self.state.live() if path == "/healthz" else self.state.ready()
            info["status"] = "ok" if ok else "fail"
            self._reply(200 if ok else 503, orjson.dumps(info), "application/json")
        else:
            self._reply(404, b'{"status":"not found"}', "application/json")

    def _reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A probe that hangs up mid-answer is normal: one DEBUG JSON line, no traceback."""
        exc = sys.exc_info()[1]
        level = (
            logging.DEBUG if isinstance(exc, ConnectionError | TimeoutError) else logging.WARNING
        )
        log.log(
            level,
            "health request failed",
            extra={"error_class": type(exc).__name__, "error": str(exc)[:200]},
        )


class HealthServer:
    """Serves the endpoints from a daemon thread."""

    def __init__(self, state: HealthState, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"state": state})
        try:
            self.httpd = _Server((host, port), handler)
        except OSError as exc:  # port in use, host not assignable or unknown: a config error
            in_use = exc.errno == errno.EADDRINUSE
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                field="observability.port" if in_use else "observability.host",
            ) from None
        self.httpd.daemon_threads = True
        self.host = str(self.httpd.server_address[0])
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            # a 0.1 s poll: stop() (shutdown, tests) returns in 0.1 s instead of 0.5 s
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="health-http",
            daemon=True,
        )

    def start(self) -> None:
        """Serve from a daemon thread, and log the bound address once (``metrics server
        listening`` with ``host`` and ``port``; with port 0 the only way to learn it)."""
        self._thread.start()
        log.info(LISTENING, extra={"host": self.host, "port": self.port})

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
