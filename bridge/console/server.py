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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from bridge.console.api import BadRequest, Console
from bridge.console.upstream import SandboxUnavailable
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
