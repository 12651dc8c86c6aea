"""The schema registry for the Avro scenario.

``auto``: Apicurio via ``scripts/local_registry.py`` (state in ``.local/bench-registry``), and
if that cannot start, a minimal in-process Confluent-API stub (``GET /schemas/ids/{id}``,
``POST /subjects/{s}/versions``). The bridge fetches a writer schema once per id and caches
it, so which registry serves it does not change the measured throughput.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.harness import STATE, _load_script


class _StubHandler(BaseHTTPRequestHandler):
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            entry = self.server.schemas.get(int(parts[2]))
            if entry is None:
                self._send(404, {"error_code": 40403, "message": "Schema not found"})
            else:
                self._send(200, {"schema": entry})
        elif parts == ["subjects"]:
            self._send(200, sorted(self.server.subjects))
        else:
            self._send(404, {"error_code": 404, "message": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        parts = self.path.strip("/").split("/")
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            text = body["schema"]
            found = [i for i, existing in self.server.schemas.items() if existing == text]
            sid = found[0] if found else len(self.server.schemas) + 1
            self.server.schemas[sid] = text
            self.server.subjects.setdefault(parts[1], sid)
            self._send(200, {"id": sid})
        else:
            self._send(404, {"error_code": 404, "message": "not found"})


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, int] = {}


def start(mode: str) -> tuple[str, str, Callable[[], None]]:
    """(url, kind, stop) of a running registry; ``mode`` is auto, apicurio or stub."""
    errors = []
    if mode in ("auto", "apicurio"):
        state = STATE / "bench-registry"
        try:
            mod = _load_script("local_registry")
            url = mod.start(state, timeout=150)
            return url, "apicurio", lambda: mod.stop(state)
        except Exception as exc:  # noqa: BLE001 - any failure falls back to the stub
            errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            if mode == "apicurio":
                raise
    srv = _StubServer()
    threading.Thread(target=srv.serve_forever, name="registry-stub", daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"

    def stop() -> None:
        srv.shutdown()
        srv.server_close()

    kind = "stub" if not errors else f"stub (apicurio failed: {errors[0]})"
    return url, kind, stop


def register(url: str, subject: str, schema_text: str) -> int:
    r = httpx.post(
        f"{url}/subjects/{subject}/versions",
        json={"schema": schema_text},
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        timeout=30,
    )
    r.raise_for_status()
    return int(r.json()["id"])
