"""The console's HTTP server: stdlib `http.server`, loopback by default, JSON API + static page.

Read-only towards everything but the sandbox's faults: the page can evaluate events (in this
process), save golden case files into `--golden-dir`, and set or clear faults on a sandbox.
State-changing calls need `Content-Type: application/json` and a same-origin request (a Host
this server answers to, and a matching Origin when the browser sends one), so another web
page cannot drive it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from bridge.console import adapter, cases, verdict
from bridge.console.records import last_records
from bridge.console.upstream import Sandbox, SandboxUnavailable
from bridge.console.workspace import Loaded, Workspace, samples
from bridge.errors import BridgeError, ConfigError

log = logging.getLogger("bridge.console")

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
MAX_BODY = 1024 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class EventRequest:
    """An event the page asks about: topic, event text, key, ``NAME=VALUE`` header lines."""

    topic: str
    event: str
    key: str | None
    headers: list[tuple[str, str]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventRequest:
        """Read and check the fields of a preview or golden-case request body."""
        topic = data.get("topic")
        event = data.get("event")
        if not isinstance(topic, str) or not topic.strip():
            raise BadRequest("choose a topic")
        if not isinstance(event, str):
            raise BadRequest("event must be text")
        key = data.get("key")
        if key is not None and not isinstance(key, str):
            raise BadRequest("key must be text")
        headers: list[tuple[str, str]] = []
        for line in str(data.get("headers") or "").splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise BadRequest(f"header {line.strip()!r}: expected NAME=VALUE")
            headers.append((name.strip(), value))
        return cls(topic.strip(), event, key or None, headers)


@dataclass
class ConsoleConfig:
    config: Path
    golden_dir: Path
    events_dir: Path | None
    sandbox_url: str | None = None
    sandbox_token: str | None = None


class Console:
    """Everything the handlers need (shared by the server's threads)."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.workspace = Workspace(cfg.config)
        self.sandbox: Sandbox | None = None
        self._lock = threading.Lock()
        if cfg.sandbox_url:
            self.sandbox = Sandbox(cfg.sandbox_url, cfg.sandbox_token, self.pii())

    def pii(self) -> str:
        try:
            return self.workspace.get().settings.observability.pii
        except ConfigError:
            return "mask"

    # ------------------------------------------------------------ API

    def info(self) -> dict[str, Any]:
        try:
            self.workspace.get()
            config_error = None
        except ConfigError as exc:
            config_error = str(exc)
        return {
            "config": str(self.cfg.config),
            "config_error": config_error,
            "golden_dir": str(self.cfg.golden_dir),
            "pii": self.pii(),
            "sandbox": self.sandbox.url if self.sandbox else None,
            "sandbox_ok": self.sandbox.is_sandbox() if self.sandbox else False,
        }

    def samples(self) -> dict[str, Any]:
        loaded = self.workspace.get()
        out = samples(self.cfg.events_dir)
        for s in out:
            if not s["topic"]:
                s["topic"] = self._guess_topic(s["event"])
        return {"samples": out, "topics": loaded.rules.topics}

    def _guess_topic(self, event: str) -> str:
        """A topic on which the event matches some rule (for sample files without one)."""
        loaded = self.workspace.get()
        failing = ""
        for topic in loaded.rules.topics:
            if topic.startswith("^"):
                continue
            try:
                ev = self._evaluate(loaded, EventRequest(topic, event, None, []))
            except adapter.EventError:
                continue
            if ev.result.requests:
                return topic
            if ev.result.dead_letters and not failing:
                failing = topic
        return failing  # "" leaves the page's topic as it is

    def _evaluate(self, loaded: Loaded, req: EventRequest) -> adapter.Evaluated:
        """``req`` through the loaded config, as ``braze-bridge preview`` would evaluate it
        (raises :class:`adapter.EventError` for an event the topic's decoder refuses)."""
        return adapter.evaluate(
            loaded.settings,
            loaded.rules,
            loaded.decoders,
            self.cfg.config,
            req.topic,
            req.event.encode(),
            req.key,
            req.headers,
        )

    def preview(self, data: dict[str, Any]) -> dict[str, Any]:
        req = EventRequest.from_json(data)
        loaded = self.workspace.get()
        try:
            ev = self._evaluate(loaded, req)
        except adapter.EventError as exc:
            return {"ok": False, "error": str(exc)}
        remote = self.sandbox.config() if self.sandbox else None
        opts = verdict.options_from(remote)
        verdicts = [
            verdict.verdict(opts, str(r["method"]), str(r["path"]), dict(r["body"]))
            for r in ev.result.requests
        ]
        return {
            "ok": True,
            "output": ev.output,
            "result": ev.result.as_dict(),
            "rules": adapter.rule_outcomes(loaded.rules, req.topic, ev.result, ev.unmet),
            "verdicts": verdicts,
            "verdict_from": "sandbox settings of " + self.sandbox.url
            if remote and self.sandbox
            else "sandbox defaults",
        }

    def save_golden(self, data: dict[str, Any]) -> dict[str, Any]:
        req = EventRequest.from_json(data)
        name = str(data.get("name") or "").strip()
        if not name:
            raise BadRequest("name the case")
        loaded = self.workspace.get()
        try:
            ev = self._evaluate(loaded, req)
        except adapter.EventError as exc:
            raise BadRequest(str(exc)) from exc
        try:
            parsed: Any = orjson.loads(req.event)
            raw = None
        except orjson.JSONDecodeError:
            parsed, raw = None, req.event
        the_case = cases.case(name, req.topic, parsed, raw, req.key, req.headers, ev.result)
        with self._lock:
            path = cases.save(self.cfg.golden_dir, self.cfg.config, the_case)
        return {"path": str(path), "directory": str(self.cfg.golden_dir)}

    def records(self, topic: str, n: int) -> dict[str, Any]:
        loaded = self.workspace.get()
        return {"records": last_records(loaded.settings, topic, n, self.pii())}

    def _need_sandbox(self) -> Sandbox:
        if self.sandbox is None:
            raise BadRequest("no sandbox: start the console with --sandbox URL")
        return self.sandbox

    def inbox(self, since: int | None) -> dict[str, Any]:
        sb = self._need_sandbox()
        sb.pii = self.pii()
        return sb.inbox(since)

    def faults(self, data: Any) -> dict[str, Any]:
        sb = self._need_sandbox()
        if not sb.is_sandbox():
            raise BadRequest(f"{sb.url} is not a braze-bridge sandbox: faults are sandbox-only")
        if data is not None and not isinstance(data, dict):
            raise BadRequest("faults must be a JSON object")
        try:
            return sb.set_faults(data or None)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc


def _static(name: str) -> tuple[bytes, str] | None:
    if "/" in name or name.startswith("."):
        return None
    suffix = Path(name).suffix
    if suffix not in STATIC_TYPES:
        return None
    f = resources.files("bridge.console").joinpath("static", name)
    if not f.is_file():
        return None
    return f.read_bytes(), STATIC_TYPES[suffix]


class Handler(BaseHTTPRequestHandler):
    server_version = "braze-bridge-console"
    sys_version = ""
    console: Console  # set on the subclass made by `serve`
    allowed_hosts: frozenset[str]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, orjson.dumps(value), "application/json")

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        return host in self.allowed_hosts

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None:
            return self.headers.get("Sec-Fetch-Site") in (None, "same-origin", "none")
        return urlsplit(origin).netloc.lower() == (self.headers.get("Host") or "").lower()

    def _body(self) -> Any:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise BadRequest("Content-Type must be application/json")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise BadRequest("body too large")
        raw = self.rfile.read(n) if n else b""
        if not raw.strip():
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc

    def _dispatch(self, method: str) -> None:
        if not self._host_ok():
            self._json(421, {"error": "unexpected Host header"})
            return
        url = urlsplit(self.path)
        path = url.path
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        c = self.console
        try:
            if method == "GET":
                if path in ("/", "/index.html"):
                    found = _static("index.html")
                elif path.startswith("/static/"):
                    found = _static(path[len("/static/") :])
                else:
                    found = None
                if found is not None:
                    self._send(200, found[0], found[1])
                    return
                if path == "/api/info":
                    self._json(200, c.info())
                elif path == "/api/rules":
                    self._json(200, c.workspace.rules_view())
                elif path == "/api/samples":
                    self._json(200, c.samples())
                elif path == "/api/records":
                    self._json(200, c.records(q.get("topic", ""), int(q.get("n") or 10)))
                elif path == "/api/inbox":
                    since = int(q["since"]) if q.get("since") else None
                    self._json(200, c.inbox(since))
                else:
                    self._json(404, {"error": "not found"})
                return
            if not self._same_origin():
                self._json(403, {"error": "cross-origin request refused"})
                return
            data = self._body() if method == "POST" else None
            if path == "/api/preview" and method == "POST":
                self._json(200, c.preview(data if isinstance(data, dict) else {}))
            elif path == "/api/golden" and method == "POST":
                self._json(200, c.save_golden(data if isinstance(data, dict) else {}))
            elif path == "/api/faults" and method in ("POST", "DELETE"):
                self._json(200, c.faults(None if method == "DELETE" else data))
            else:
                self._json(404, {"error": "not found"})
        except BadRequest as exc:
            self._json(400, {"error": str(exc)})
        except ConfigError as exc:
            self._json(409, {"error": f"invalid config: {exc}"})
        except SandboxUnavailable as exc:
            self._json(502, {"error": str(exc)})
        except BridgeError as exc:
            self._json(502, {"error": str(exc)})
        except ValueError as exc:
            self._json(400, {"error": str(exc)})

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


def _hosts(host: str, port: int) -> frozenset[str]:
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    out = set()
    for n in names:
        try:
            if ipaddress.ip_address(n).version == 6:
                n = f"[{n}]"
        except ValueError:
            pass
        out.add(f"{n}:{port}".lower())
    return frozenset(out)


def make_server(console: Console, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    bound = int(server.server_address[1])
    handler = type(
        "BoundHandler", (Handler,), {"console": console, "allowed_hosts": _hosts(host, bound)}
    )
    server.RequestHandlerClass = handler
    return server


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
