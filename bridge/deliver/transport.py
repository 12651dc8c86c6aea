"""A lean HTTP/1.1 keep-alive transport: for the httpx client, or on its own.

The bridge sends many small JSON POSTs to one host. httpx's default transport (httpcore +
h11) spends milliseconds of CPU per request in pure-Python protocol handling; this transport
does the same job -- HTTP/1.1 over asyncio streams, TLS, a pool of keep-alive connections,
connect/read/write timeouts mapped to httpx's exceptions -- at a fraction of the cost, and
keeps httpx's client API (headers, auth, timeouts, MockTransport in tests) for everything
else. It only supports what the bridge needs: bodies with Content-Length, responses with
Content-Length, chunked encoding or connection close; no proxies, no HTTP/2.

The sender's hot path skips the httpx client layer too: :class:`LeanPoster` sends a JSON POST
with a request head prepared once per endpoint (headers, auth, timeouts as the httpx client
would send them) and returns a :class:`LeanResponse`. Profiling the match path showed the
client layer (request and response objects, URL merging, auth and redirect handling) cost
as much CPU as the HTTP exchange itself.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict
from typing import Any

import httpx

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_Key = tuple[str, str, int]
_Raw = tuple[int, list[tuple[bytes, bytes]], bytes, bool]
_MAX_HEAD = 64 * 1024


def pool_key(url: httpx.URL) -> _Key:
    """(scheme, host, port) a connection is pooled under; the port defaults by scheme."""
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


class LeanResponse:
    """What the sender reads of a response: status, headers (lower-case names), body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        self.status_code = status
        self.headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in headers}
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanTransport(httpx.AsyncBaseTransport):
    """httpx transport: HTTP/1.1 keep-alive over asyncio streams."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, max_idle: int = 64) -> None:
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Conn]] = defaultdict(list)
        self._max_idle = max_idle

    def _ctx(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _open(self, scheme: str, host: str, port: int, timeout: float | None) -> _Conn:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=self._ctx() if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                    limit=_MAX_HEAD,
                ),
                timeout,
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connect to {host}:{port}: {exc}") from exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        t: dict[str, Any] = request.extensions.get("timeout", {})
        body = request.content if request.stream is not None else b""
        if not isinstance(body, bytes):
            body = await request.aread()
        target = url.raw_path.decode("ascii")
        lines = [f"{request.method} {target} HTTP/1.1"]
        for name, value in request.headers.raw:
            lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        if body and "content-length" not in request.headers:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        status, headers, content, _ = await self.exchange(
            pool_key(url), head + body, request.method, t
        )
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def exchange(self, key: _Key, data: bytes, method: str, t: dict[str, Any]) -> _Raw:
        """Send ``data`` (a whole request) on a pooled connection to ``key``; read the answer."""
        scheme, host, port = key
        idle = self._idle[key]
        reused = bool(idle)
        conn = idle.pop() if idle else await self._open(scheme, host, port, t.get("connect"))
        try:
            return await self._exchange(conn, key, data, method, t)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if not reused:
                raise
            # A kept-alive connection the server had closed: try once on a fresh one.
            conn = await self._open(scheme, host, port, t.get("connect"))
            return await self._exchange(conn, key, data, method, t)

    async def _exchange(
        self, conn: _Conn, key: _Key, data: bytes, method: str, t: dict[str, Any]
    ) -> _Raw:
        reader, writer = conn
        ok = False
        try:
            writer.write(data)
            try:
                await asyncio.wait_for(writer.drain(), t.get("write"))
            except TimeoutError as exc:
                raise httpx.WriteTimeout("write timed out") from exc
            except OSError as exc:
                raise httpx.WriteError(str(exc)) from exc
            try:
                raw = await asyncio.wait_for(self._read_response(reader, method), t.get("read"))
            except TimeoutError as exc:
                raise httpx.ReadTimeout("read timed out") from exc
            except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
                raise httpx.ReadError(f"connection lost: {exc!r}") from exc
            except (ValueError, asyncio.LimitOverrunError) as exc:
                raise httpx.RemoteProtocolError(f"bad response: {exc}") from exc
            ok = raw[3]
            return raw
        finally:
            if ok and len(self._idle[key]) < self._max_idle:
                self._idle[key].append(conn)
            else:
                writer.close()

    async def _read_response(
        self, reader: asyncio.StreamReader, method: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers: list[tuple[bytes, bytes]] = []
        length = -1
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip()
            value = value.strip()
            headers.append((name, value))
            lname = name.lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif lname == b"connection":
                v = value.lower()
                keep = b"close" not in v and (keep or b"keep-alive" in v)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, headers, b"", keep
        if chunked:
            chunks = []
            while True:
                size_line = await reader.readline()
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # (trailers not supported) final CRLF
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
            return status, headers, b"".join(chunks), keep
        if length >= 0:
            return status, headers, await reader.readexactly(length), keep
        return status, headers, await reader.read(), False

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for _r, w in conns:
                w.close()
        self._idle.clear()


class LeanPoster:
    """JSON POSTs to one base URL over a :class:`LeanTransport`, without httpx's client
    layer. Sends what ``httpx.AsyncClient(base_url, headers, timeout)`` would send."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: httpx.Timeout,
        transport: LeanTransport,
    ) -> None:
        base = httpx.URL(base_url)
        self._key = pool_key(base)
        self._prefix = base.raw_path.decode("ascii").rstrip("/")
        host = base.host if base.port is None else f"{base.host}:{base.port}"
        fixed = {"Host": host, "Accept": "*/*", "Accept-Encoding": "identity", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        for k, v in fixed.items():
            if "\r" in k + v or "\n" in k + v:
                raise ValueError(f"header {k!r} contains a line break")
        self._timeouts = {
            "connect": timeout.connect,
            "read": timeout.read,
            "write": timeout.write,
        }
        self._heads: dict[str, str] = {}
        self.transport = transport

    async def post(self, path: str, body: bytes) -> LeanResponse:
        head = self._heads.get(path)
        if head is None:
            head = f"POST {self._prefix}{path} HTTP/1.1\r\n{self._fixed}"
            if len(self._heads) < 1000:
                self._heads[path] = head
        data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        status, headers, content, _ = await self.transport.exchange(
            self._key, data, "POST", self._timeouts
        )
        return LeanResponse(status, headers, content)

    async def aclose(self) -> None:
        await self.transport.aclose()
