"""A local HTTP/1.1 server in a thread that answers with an ``httpx``-style handler.

``handler(request: httpx.Request) -> httpx.Response``; a handler that raises
``httpx.TransportError`` makes the server drop the connection without an answer (what a
refused or reset connection looks like to the client). The bridge's own transport (lean,
production's default) talks to it over a real socket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


@contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port; yields the base URL."""

    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            req = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            try:
                resp = handler(req)
            except httpx.TransportError:
                self.close_connection = True
                return
            content = resp.read()
            self.send_response(resp.status_code)
            for k, v in resp.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_POST = do_GET = do_PUT = do_DELETE = _any  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    server.daemon_threads = True
    t = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="test-http", daemon=True
    )  # a 0.05 s poll: shutdown() returns at once instead of after up to 0.5 s
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
