"""The lean HTTP/1.1 transport under httpx: keep-alive, framing, timeouts, errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from bridge.deliver.transport import LeanPoster, LeanResponse, LeanTransport
from tests.support.wait import wait_for


class RawServer:
    """A tiny threaded TCP server answering each request with canned bytes."""

    def __init__(self, replies: list[bytes], close_after: bool = False) -> None:
        import socketserver

        self.replies = replies
        self.close_after = close_after
        self.connections = 0
        self.closed = 0  # connections the server has closed
        self.requests: list[bytes] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                while outer.replies:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = self.rfile.readline()
                        if not line:
                            return
                        head += line
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    outer.requests.append(head + self.rfile.read(length))
                    reply = outer.replies.pop(0)
                    if reply == b"HANG":
                        threading.Event().wait(1.5)  # the behaviour under test: no answer
                        return
                    self.wfile.write(reply)
                    self.wfile.flush()
                    if outer.close_after:
                        return

        class Server(socketserver.ThreadingTCPServer):
            def shutdown_request(self, request: object) -> None:
                super().shutdown_request(request)  # type: ignore[arg-type]
                outer.closed += 1

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def run() -> Iterator[object]:
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


def _closed(srv: RawServer) -> None:
    """Wait until ``srv`` has closed the connection it answered (blocking the event loop is
    fine: the client has nothing else to do meanwhile)."""
    wait_for("the server to close the kept-alive connection", lambda: srv.closed >= 1, 5, 0.01)


def fixed(body: bytes, status: str = "201 Created", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_keep_alive_headers_and_body(run) -> None:  # type: ignore[no-untyped-def]
    srv = RawServer([fixed(b'{"a":1}', extra="X-RateLimit-Remaining: 7\r\n")] * 3)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=LeanTransport(),
            base_url=f"http://127.0.0.1:{srv.port}",
            headers={"Authorization": "Bearer k"},
        ) as c:
            return [await c.post("/x", content=b'{"n":%d}' % i) for i in range(3)]

    try:
        rs = run(go())
    finally:
        srv.stop()
    assert [r.status_code for r in rs] == [201, 201, 201]
    assert rs[0].json() == {"a": 1} and rs[0].headers["x-ratelimit-remaining"] == "7"
    assert srv.connections == 1  # one kept-alive connection
    assert b"Authorization: Bearer k" in srv.requests[0] and srv.requests[2].endswith(b'{"n":2}')


def test_chunked_and_connection_close(run) -> None:  # type: ignore[no-untyped-def]
    chunked = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
    )
    close = b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"b":2}'
    srv = RawServer([chunked, close], close_after=False)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=LeanTransport(), base_url=f"http://127.0.0.1:{srv.port}"
        ) as c:
            return [await c.post("/x", content=b"{}") for _ in range(2)]

    try:
        a, b = run(go())
    finally:
        srv.stop()
    assert a.json() == {"a": 1} and b.json() == {"b": 2}


def test_read_timeout_and_connect_error(run) -> None:  # type: ignore[no-untyped-def]
    srv = RawServer([b"HANG"])

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=LeanTransport(), timeout=0.3, base_url=f"http://127.0.0.1:{srv.port}"
        ) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post("/x", content=b"{}")
        async with httpx.AsyncClient(
            transport=LeanTransport(), timeout=1, base_url="http://127.0.0.1:9"
        ) as c:
            with pytest.raises(httpx.ConnectError):
                await c.post("/x", content=b"{}")

    try:
        run(go())
    finally:
        srv.stop()


def test_stale_kept_alive_connection_is_retried_once(run) -> None:  # type: ignore[no-untyped-def]
    srv = RawServer([fixed(b"{}"), fixed(b'{"second":true}')], close_after=True)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=LeanTransport(), base_url=f"http://127.0.0.1:{srv.port}"
        ) as c:
            first = await c.post("/x", content=b"{}")
            _closed(srv)
            return [first, await c.post("/x", content=b"{}")]

    try:
        a, b = run(go())
    finally:
        srv.stop()
    assert a.status_code == 201 and b.json() == {"second": True}
    assert srv.connections == 2


def _poster(port: int, base_path: str = "", timeout: float = 5) -> LeanPoster:
    return LeanPoster(
        f"http://127.0.0.1:{port}{base_path}",
        {"Authorization": "Bearer k", "Content-Type": "application/json"},
        httpx.Timeout(timeout),
        LeanTransport(),
    )


def test_poster_sends_what_the_httpx_client_sends(run) -> None:  # type: ignore[no-untyped-def]
    """The sender's direct path: same request line, headers and body as httpx.AsyncClient."""
    srv = RawServer([fixed(b'{"a":1}', extra="X-RateLimit-Remaining: 7\r\n")] * 3)

    async def go() -> list[LeanResponse]:
        p = _poster(srv.port, "/api/")
        try:
            return [await p.post("/campaigns/trigger/send", b'{"n":%d}' % i) for i in range(3)]
        finally:
            await p.aclose()

    try:
        rs = run(go())
    finally:
        srv.stop()
    assert [r.status_code for r in rs] == [201, 201, 201]
    assert rs[0].content == b'{"a":1}' and rs[0].headers["x-ratelimit-remaining"] == "7"
    assert srv.connections == 1
    head, _, body = srv.requests[2].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/campaigns/trigger/send HTTP/1.1"
    assert set(lines[1:]) >= {
        f"Host: 127.0.0.1:{srv.port}".encode(),
        b"Authorization: Bearer k",
        b"Content-Type: application/json",
        b"Content-Length: 7",
    }
    assert body == b'{"n":2}'


def test_poster_timeouts_errors_and_stale_connections(run) -> None:  # type: ignore[no-untyped-def]
    hang = RawServer([b"HANG"])
    stale = RawServer([fixed(b"{}"), fixed(b'{"second":true}')], close_after=True)

    async def go() -> LeanResponse:
        with pytest.raises(httpx.ReadTimeout):
            await _poster(hang.port, timeout=0.3).post("/x", b"{}")
        with pytest.raises(httpx.ConnectError):
            await _poster(9).post("/x", b"{}")
        p = _poster(stale.port)
        try:
            await p.post("/x", b"{}")
            _closed(stale)
            return await p.post("/x", b"{}")
        finally:
            await p.aclose()

    try:
        second = run(go())
    finally:
        hang.stop()
        stale.stop()
    assert second.status_code == 201 and second.content == b'{"second":true}'


def test_poster_refuses_header_injection() -> None:
    with pytest.raises(ValueError, match="'Authorization' contains a line break"):
        LeanPoster(
            "http://127.0.0.1:1",
            {"Authorization": "Bearer k\r\nX-Evil: 1"},
            httpx.Timeout(1),
            LeanTransport(),
        )
