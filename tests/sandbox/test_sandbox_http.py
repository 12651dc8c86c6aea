"""The HTTP/1.1 layer: keep-alive, split packets, pipelining, Expect, chunked, close."""

from __future__ import annotations

import socket
import time

import httpx
from sandbox_helpers import API_KEY, Sandbox

from bridge.sandbox import SandboxOptions, SandboxServer

BODY = b'{"campaign_id":"c","recipients":[{"external_user_id":"u"}]}'


def raw_request(body: bytes = BODY, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    head = (
        f"POST /campaigns/trigger/send {version}\r\nHost: x\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def read_responses(sock: socket.socket, n: int, timeout: float = 5) -> bytes:
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while data.count(b"HTTP/1.1 ") < n or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk or time.time() > deadline:
            break
        data += chunk
    return data


def connect(sb: Sandbox) -> socket.socket:
    host, port = sb.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)))


def test_split_packets_and_pipelining(sandbox: Sandbox) -> None:
    with connect(sandbox) as s:
        req = raw_request()
        s.sendall(req[:10])
        time.sleep(0.05)  # the behaviour under test: a request split over packets 50 ms apart
        s.sendall(req[10:70])
        time.sleep(0.05)  # (as above)
        s.sendall(req[70:] + raw_request() + raw_request())
        data = read_responses(s, 3)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert sandbox.stats()["accepted_total"] == 3


def test_expect_100_continue(sandbox: Sandbox) -> None:
    with connect(sandbox) as s:
        req = raw_request(extra="Expect: 100-continue\r\n")
        head, body = req.split(b"\r\n\r\n", 1)
        s.sendall(head + b"\r\n\r\n")
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(body)
        assert b"200 OK" in read_responses(s, 1)


def test_connection_close_and_http10(sandbox: Sandbox) -> None:
    with connect(sandbox) as s:
        s.sendall(raw_request(extra="Connection: close\r\n"))
        data = read_responses(s, 1)
        assert b"Connection: close" in data
        assert s.recv(10) == b""  # server closed
    with connect(sandbox) as s:
        s.sendall(raw_request(version="HTTP/1.0"))
        assert b"200 OK" in read_responses(s, 1)
        assert s.recv(10) == b""


def test_chunked_and_garbage(sandbox: Sandbox) -> None:
    with connect(sandbox) as s:
        s.sendall(
            b"POST /campaigns/trigger/send HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert b"411 Length Required" in read_responses(s, 1)
    with connect(sandbox) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        assert b"400 Bad Request" in read_responses(s, 1)


def test_context_manager_api() -> None:
    with SandboxServer(SandboxOptions(port=0)) as srv:
        r = httpx.get(f"{srv.url}/_sandbox/health")
        assert r.status_code == 200
        assert srv.port != 0
    try:
        httpx.get(f"{srv.url}/_sandbox/health", timeout=1)
        raise AssertionError("server still answering after stop()")
    except httpx.TransportError:
        pass


def test_head_over_64_kb_in_one_write_is_431(sandbox: Sandbox) -> None:
    # before: the limit only held when the head arrived split across reads (D17)
    with connect(sandbox) as s:
        s.sendall(raw_request(extra=f"X-Big: {'a' * 70_000}\r\n"))
        data = read_responses(s, 1)
    assert data.startswith(b"HTTP/1.1 431 ")
    assert sandbox.stats()["requests_total"] == 0


def test_conflicting_content_lengths_are_400(sandbox: Sandbox) -> None:
    with connect(sandbox) as s:
        s.sendall(raw_request(extra="Content-Length: 5\r\n"))
        data = read_responses(s, 1)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert sandbox.stats()["requests_total"] == 0
    with connect(sandbox) as s:  # a repeated identical value is harmless
        s.sendall(raw_request(extra=f"Content-Length: {len(BODY)}\r\n"))
        assert read_responses(s, 1).startswith(b"HTTP/1.1 200 ")
