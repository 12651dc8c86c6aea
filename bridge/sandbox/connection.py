"""The sandbox's minimal HTTP/1.1 connection handling (asyncio.Protocol) and answer encoding.

Supports: request line + headers, `Content-Length` bodies, keep-alive (HTTP/1.1 default,
HTTP/1.0 with `Connection: keep-alive`), `Expect: 100-continue`. Requests on one connection
are answered in order; a request is parsed only after the previous answer was written.
Chunked request bodies are refused with 411 (every common client sends Content-Length).

Back-pressure: while the transport's write buffer is above its high-water mark (a client
that pipelines requests and does not read the answers), no further request is processed and
reading from the socket is paused, so neither answers nor unparsed input pile up in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

import orjson

from bridge.sandbox.responses import Response

if TYPE_CHECKING:
    from bridge.sandbox.server import SandboxServer

# logs under bridge.sandbox.server, the sandbox's public server module
log = logging.getLogger("bridge.sandbox.server")
MAX_HEAD_BYTES = 64 * 1024
WRITE_HIGH_WATER = 256 * 1024
# unparsed input kept while a request is being answered (delayed answers, paused writes)
MAX_PENDING_INPUT = 256 * 1024
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_date_cache: list[object] = [0, b""]


def _date_header() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
    value = _date_cache[1]
    assert isinstance(value, bytes)  # noqa: S101 - type narrowing only
    return value


def encode_response(resp: Response, keep_alive: bool) -> bytes:
    payload = resp.payload
    if payload is None:
        payload = b"" if resp.body is None else orjson.dumps(resp.body)
    reason = _REASONS.get(resp.status, "Unknown")
    head = [
        f"HTTP/1.1 {resp.status} {reason}\r\n".encode(),
        _date_header(),
        b"Server: braze-sandbox\r\nContent-Type: application/json\r\n",
        b"Content-Length: %d\r\n" % len(payload),
    ]
    if resp.rate is not None:
        head.append(
            b"X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: %d\r\nX-RateLimit-Reset: %d\r\n"
            % resp.rate
        )
    for name, value in resp.extra_headers:
        head.append(f"{name}: {value}\r\n".encode())
    if not keep_alive:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    head.append(payload)
    return b"".join(head)


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.app = server.app
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.head: tuple[str, str, dict[str, str], int, bool] | None = None
        self.busy = False
        self.closed = False
        self.write_paused = False
        self.read_paused = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.server.connections.add(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._process()
        self._flow()

    def _flow(self) -> None:
        """Pause reading while answers cannot be written or too much input is waiting."""
        transport = self.transport
        if transport is None or self.closed:
            return
        stalled = self.write_paused or (self.busy and len(self.buf) > MAX_PENDING_INPUT)
        if stalled and not self.read_paused:
            self.read_paused = True
            transport.pause_reading()
        elif not stalled and self.read_paused:
            self.read_paused = False
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()
        if self.busy or self.write_paused:
            self._flow()

    # -------------------------------------------------------------- parsing

    def _fail(self, status: int, message: str) -> None:
        self._write(Response(status, {"message": message}), keep_alive=False)

    def _parse_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end < 0 or end > MAX_HEAD_BYTES:
            # also when the whole over-long head arrived in one read
            if len(self.buf) > MAX_HEAD_BYTES:
                self._fail(431, "Request Header Fields Too Large")
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "Bad Request")
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._fail(400, "Bad Request")
                return False
            key, value = name.strip().lower(), value.strip()
            if key == "content-length" and headers.get(key, value) != value:
                self._fail(400, "Bad Request")  # conflicting lengths: request smuggling
                return False
            headers[key] = value
        conn = headers.get("connection", "").lower()
        keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._fail(411, "Length Required")
            return False
        try:
            length = int(headers.get("content-length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            self._fail(400, "Bad Request")
            return False
        if length > self.app.opts.max_body_bytes:
            self._write(self.app.too_large(method, target, length), keep_alive=False)
            return False
        self.head = (method, target, headers, length, keep)
        if length > len(self.buf) and headers.get("expect", "").lower() == "100-continue":
            assert self.transport is not None  # noqa: S101
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _process(self) -> None:
        while not self.busy and not self.closed and not self.write_paused:
            if self.head is None and not self._parse_head():
                return
            assert self.head is not None  # noqa: S101
            method, target, headers, length, keep = self.head
            if len(self.buf) < length:
                return
            raw = bytes(self.buf[:length])
            del self.buf[:length]
            self.head = None
            try:
                resp = self.app.handle(method, target, headers, raw)
            except Exception:  # a sandbox bug must not kill the connection silently
                log.exception("braze sandbox: error handling %s %s", method, target)
                resp = Response(500, {"message": "Internal Server Error", "errors": ["sandbox"]})
            if resp.delay_s > 0:
                self.busy = True
                self.task = asyncio.get_running_loop().create_task(self._delayed(resp, keep))
                return
            self._write(resp, keep)

    async def _delayed(self, resp: Response, keep: bool) -> None:
        await asyncio.sleep(resp.delay_s)
        self.busy = False
        self._write(resp, keep)
        if not self.closed:
            self._process()
            self._flow()

    def _write(self, resp: Response, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        if resp.reset:
            self.closed = True
            with contextlib.suppress(OSError):
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        keep_alive = keep_alive and not resp.close
        transport.write(encode_response(resp, keep_alive))
        if not keep_alive:
            self.closed = True
            transport.close()
