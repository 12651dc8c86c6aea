"""Fixtures for the decode tests: a recording, Confluent-API-speaking HTTP server.

``registry_server`` is a real HTTP server on 127.0.0.1 (stdlib ``http.server`` in a
thread) implementing the subset of the Confluent schema registry API the bridge uses
(``GET /schemas/ids/{id}``, ``POST /subjects/{s}/versions``, ``GET /subjects``), with
optional auth enforcement and fault injection, and a log of every request it saw — so
the client is tested over real sockets, headers and status codes.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.support.wait import free_port

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


def _canonical(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeRegistryState:
    schemas: dict[int, dict[str, Any]] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    fail_status: int | None = None  # answer every request with this status
    fail_body: bytes = b'{"error_code":50001,"message":"boom"}'
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, schema: str | dict[str, Any], schema_type: str | None = None) -> int:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        with self.lock:
            for sid, existing in self.schemas.items():
                if _canonical(existing["schema"]) == _canonical(text):
                    return sid
            sid = len(self.schemas) + 1
            entry: dict[str, Any] = {"schema": text}
            if schema_type:
                entry["schemaType"] = schema_type
            self.schemas[sid] = entry
            return sid

    def gets(self, path_prefix: str = "/schemas/ids/") -> int:
        return sum(1 for r in self.requests if r.method == "GET" and path_prefix in r.path)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorized(self) -> bool:
        st = self.server.state
        got = self.headers.get("Authorization")
        if st.basic_auth is not None:
            want = "Basic " + base64.b64encode(":".join(st.basic_auth).encode()).decode()
            return got == want
        if st.bearer_token is not None:
            return got == f"Bearer {st.bearer_token}"
        return True

    def _handle(self, method: str) -> None:
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with st.lock:
            st.requests.append(SeenRequest(method, self.path, dict(self.headers.items()), body))
        if st.delay_s:
            time.sleep(st.delay_s)  # the behaviour under test: a slow registry
        if st.fail_status is not None:
            self._send(st.fail_status, st.fail_body)
            return
        if not self._authorized():
            self._send(401, {"error_code": 401, "message": "Unauthorized"})
            return
        parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
            entry = st.schemas.get(int(parts[2])) if parts[2].isdigit() else None
            if entry is None:
                self._send(404, {"error_code": 40403, "message": "Schema not found"})
            else:
                self._send(200, entry)
        elif method == "GET" and parts == ["subjects"]:
            self._send(200, sorted(st.subjects))
        elif method == "POST" and len(parts) == 3 and parts[0] == "subjects":
            payload = json.loads(body)
            sid = st.add(payload["schema"], payload.get("schemaType"))
            st.subjects.setdefault(parts[1], [])
            if sid not in st.subjects[parts[1]]:
                st.subjects[parts[1]].append(sid)
            self._send(200, {"id": sid})
        else:
            self._send(404, b"<html>no such page</html>")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeRegistryState

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected in some tests


@dataclass
class RegistryServer:
    url: str
    state: FakeRegistryState


@pytest.fixture
def registry_server() -> Iterator[RegistryServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = FakeRegistryState()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield RegistryServer(url=f"http://{host!s}:{port}", state=server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def order_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / "order_event.avsc").read_text())
    return loaded
