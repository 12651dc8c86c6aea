"""The control API's protection (D17) and the sandbox's memory bounds (D14)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sandbox_helpers import API_KEY, Sandbox, campaign, rcpt

from tests.support.wait import wait_for

# ------------------------------------------------------------------ D17: control API


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_sandbox/config", b'{"api_key": "stolen"}'),
        ("POST", "/_sandbox/faults", b'{"error_rate": 1}'),
        ("DELETE", "/_sandbox/faults", b""),
        ("DELETE", "/_sandbox/requests", b""),
        ("POST", "/_sandbox/reset", b""),
    ],
)
def test_state_changes_need_the_key(sandbox: Sandbox, method: str, path: str, body: bytes) -> None:
    sandbox.post("/campaigns/trigger/send", campaign())
    before = (sandbox.get("/_sandbox/config").json(), sandbox.stats()["requests_total"])
    with httpx.Client(base_url=sandbox.url) as anon:
        r = anon.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert "Authorization: Bearer" in r.json()["errors"][0]
    assert (sandbox.get("/_sandbox/config").json(), sandbox.stats()["requests_total"]) == before
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200  # key unchanged


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
def test_browser_simple_bodies_are_refused(sandbox: Sandbox, ctype: str) -> None:
    # what a web page can send cross-origin without a preflight (CSRF)
    with httpx.Client(base_url=sandbox.url) as anon:
        r = anon.post(
            "/_sandbox/faults", content=b'{"error_rate": 1}', headers={"Content-Type": ctype}
        )
    assert r.status_code == 401
    # even with the key, a non-JSON body is refused
    r = sandbox.client.post(
        "/_sandbox/faults", content=b'{"error_rate": 1}', headers={"Content-Type": ctype}
    )
    assert (r.status_code, r.json()["message"]) == (415, "Unsupported Media Type")
    assert sandbox.get("/_sandbox/faults").json()["faults"] == {}


def test_admin_token_and_reads(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(admin_token="admin-secret")
    with httpx.Client(base_url=sb.url) as anon:
        assert anon.get("/_sandbox/requests").status_code == 200  # reads are open by default
        assert anon.get("/_sandbox/health").status_code == 200
        auth = {"Authorization": "Bearer admin-secret"}
        r = anon.post("/_sandbox/config", json={"hourly_limit": 9}, headers=auth)
        assert r.status_code == 200
        assert r.json()["hourly_limit"] == 9
        assert r.json()["admin_token_set"] is True
        assert "admin-secret" not in r.text and API_KEY not in r.text
        # the admin token is not an API key for the Braze endpoints
        assert (
            anon.post("/campaigns/trigger/send", json=campaign(), headers=auth).status_code == 401
        )


def test_protect_inspection_guards_reads(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(protect_inspection=True)
    with httpx.Client(base_url=sb.url) as anon:
        assert anon.get("/_sandbox/requests").status_code == 401
        assert anon.get("/_sandbox/health").status_code == 200
    assert sb.get("/_sandbox/requests").status_code == 200


def test_invalid_config_changes_nothing(sandbox: Sandbox) -> None:
    before = sandbox.get("/_sandbox/config").json()
    r = sandbox.post("/_sandbox/config", {"hourly_limit": 7, "faults": {"no_such_fault": 1}})
    assert r.status_code == 400
    assert "no_such_fault" in r.json()["errors"][0]
    assert sandbox.get("/_sandbox/config").json() == before
    assert sandbox.get("/_sandbox/faults").json()["faults"] == {}
    r = sandbox.post("/campaigns/trigger/send", campaign())
    assert r.headers["X-RateLimit-Limit"] == "250000"


def test_process_helper_still_controls_the_sandbox() -> None:
    from bridge.sandbox.process import SandboxProcess

    sb = SandboxProcess(api_key="proc-key")
    try:
        sb.faults({"error_rate": 1.0, "error_statuses": [503]})
        r = sb.http.post(
            "/campaigns/trigger/send", json=campaign(), headers={"Authorization": "Bearer proc-key"}
        )
        assert r.status_code == 503
        sb.clear_faults()
        assert sb.http.post("/_sandbox/reset").status_code == 200
    finally:
        sb.stop()


# ------------------------------------------------------------------ D14: memory bounds


def test_unknown_paths_do_not_grow_the_statistics(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(record_limit=0)
    for i in range(300):
        assert sb.get(f"/no/such/path/{i}").status_code == 404
    sb.post("/campaigns/trigger/send", campaign())
    by_path = sb.stats()["by_path"]
    assert by_path == {"(other)": {"404": 300}, "/campaigns/trigger/send": {"200": 1}}


def test_recorded_requests_are_bounded_in_bytes(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(record_max_bytes=20_000)
    big = {"note": "x" * 1000}
    for i in range(60):
        r = sb.post("/campaigns/trigger/send", campaign(recipients=[rcpt(f"u{i}")], **big))
        assert r.status_code == 200
    st = sb.stats()
    assert st["recorded_bytes"] <= 20_000
    kept = sb.requests()
    assert 5 < len(kept) < 60
    assert kept[-1]["body"]["recipients"][0]["external_user_id"] == "u59"  # newest kept
    assert st["last_seq"] == 60


def test_pipelining_client_that_never_reads_is_back_pressured(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sb = make_sandbox()
    for i in range(40):
        sb.post("/campaigns/trigger/send", campaign(recipients=[rcpt(f"u{i}")], note="y" * 1200))
    answer = len(sb.get("/_sandbox/requests").content)
    assert answer > 50_000
    n = 300  # ~15 MB of answers if all were produced
    sock = socket.create_connection((sb.server.host, sb.server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    try:
        sock.sendall(b"GET /_sandbox/requests HTTP/1.1\r\nHost: x\r\n\r\n" * n)

        def paused() -> Any:
            conns = [c for c in list(sb.server.connections) if c.transport is not None]
            conn = max(conns, key=lambda c: len(c.buf), default=None)
            return conn if conn is not None and conn.write_paused else None

        conn = wait_for("the server to pause writing", paused, 20, 0.01)
        assert conn.transport is not None
        assert conn.transport.get_write_buffer_size() < 2 * 1024 * 1024
        assert conn.buf, "the server answered every pipelined request without being read"
        # a polite client is served meanwhile
        assert sb.get("/_sandbox/health").status_code == 200
        # once the client reads, every answer arrives
        sock.settimeout(20)
        seen = 0
        tail = b""
        while seen < n:
            chunk = sock.recv(1 << 20)
            assert chunk, "connection closed early"
            data = tail + chunk
            seen += data.count(b"HTTP/1.1 200 OK")
            tail = data[-20:]
            seen -= tail.count(b"HTTP/1.1 200 OK")
        assert seen == n
    finally:
        sock.close()
