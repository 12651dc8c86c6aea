"""The /_sandbox inspection and configuration API."""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox_helpers import Sandbox, campaign, canvas, rcpt


def test_health_needs_no_key(sandbox: Sandbox) -> None:
    import httpx

    r = httpx.get(f"{sandbox.url}/_sandbox/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_recorded_requests(sandbox: Sandbox) -> None:
    t0 = time.time()
    sandbox.post("/campaigns/trigger/send", campaign(trigger_properties={"a": [1, 2]}))
    sandbox.post("/canvas/trigger/send", {"canvas_id": "k"})
    sandbox.get("/messages/scheduled_broadcasts", params={"end_time": "2030-01-01T00:00:00Z"})
    reqs = sandbox.requests()
    assert [q["seq"] for q in reqs] == [1, 2, 3]
    first = reqs[0]
    assert set(first) == {
        "seq", "method", "path", "query", "body", "status", "response", "time", "rate_limit"
    }  # fmt: skip
    assert set(first["rate_limit"]) == {"limit", "remaining", "reset"}
    assert first["method"] == "POST"
    assert first["path"] == "/campaigns/trigger/send"
    assert first["body"] == campaign(trigger_properties={"a": [1, 2]})
    assert first["status"] == 200
    assert first["response"]["message"] == "success"
    assert t0 <= first["time"] <= time.time()
    assert reqs[1]["status"] == 400
    assert reqs[1]["response"]["message"] == "No Recipients"
    assert reqs[2]["method"] == "GET"
    assert reqs[2]["query"] == "end_time=2030-01-01T00%3A00%3A00Z"
    assert reqs[2]["body"] is None
    assert [q["seq"] for q in sandbox.requests(since=1)] == [2, 3]
    assert [q["seq"] for q in sandbox.requests(path="/canvas/trigger/send")] == [2]
    assert [q["seq"] for q in sandbox.requests(since=0, limit=1)] == [1]
    assert sandbox.client.delete("/_sandbox/requests").json() == {"cleared": 3}
    assert sandbox.requests() == []
    sandbox.post("/campaigns/trigger/send", campaign())
    assert [q["seq"] for q in sandbox.requests()] == [4]  # seq keeps counting


def test_record_limit_keeps_last_n(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(record_limit=3)
    for i in range(5):
        sb.post("/campaigns/trigger/send", campaign(recipients=[rcpt(f"u{i}")]))
    assert [q["seq"] for q in sb.requests()] == [3, 4, 5]
    assert sb.stats()["requests_total"] == 5


def test_record_limit_zero_keeps_stats_only(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(record_limit=0)
    sb.post("/campaigns/trigger/send", campaign(recipients=[rcpt("a"), rcpt("b")]))
    sb.post("/campaigns/trigger/send", {})
    assert sb.requests() == []
    stats = sb.stats()
    assert stats["requests_total"] == 2
    assert stats["accepted_recipients"] == 2
    assert stats["by_path"] == {"/campaigns/trigger/send": {"200": 1, "400": 1}}
    assert stats["recorded"] == 0


def test_stats_shape(sandbox: Sandbox) -> None:
    sandbox.post("/campaigns/trigger/send", campaign(recipients=[rcpt("a"), rcpt("b")]))
    sandbox.post("/canvas/trigger/send", canvas())
    stats = sandbox.stats()
    assert stats["requests_total"] == 2
    assert stats["accepted_total"] == 2
    assert stats["accepted_recipients"] == 3
    assert stats["rate_limited_total"] == 0
    assert stats["by_path"]["/canvas/trigger/send"] == {"201": 1}
    assert set(stats["pools"]) == {"default", "broadcast", "sends_id"}
    assert stats["pools"]["default"]["used"] == 2
    assert stats["pools"]["default"]["remaining"] == 249_998


def test_config_api(sandbox: Sandbox) -> None:
    cfg = sandbox.get("/_sandbox/config").json()
    assert "api_key" not in cfg
    assert cfg["campaign_ids"] is None
    r = sandbox.post(
        "/_sandbox/config",
        {"campaign_ids": ["c1"], "paused_canvases": ["k"], "api_key": "new-key"},
    )
    assert r.status_code == 200
    assert r.json()["campaign_ids"] == ["c1"]
    r = sandbox.post("/campaigns/trigger/send", campaign(campaign_id="c1"))
    assert r.status_code == 401  # the old key no longer works
    sandbox.client.headers["Authorization"] = "Bearer new-key"
    assert sandbox.post("/campaigns/trigger/send", campaign(campaign_id="c1")).status_code == 200
    r = sandbox.post("/campaigns/trigger/send", campaign(campaign_id="c2"))
    assert r.json()["message"] == "Invalid Campaign ID"
    assert "notice" in sandbox.post("/canvas/trigger/send", canvas(canvas_id="k")).json()
    sandbox.post("/_sandbox/config", {"campaign_ids": None})
    assert sandbox.post("/campaigns/trigger/send", campaign(campaign_id="c2")).is_success
    for bad in ({"port": 1}, {"hourly_limit": 0}, {"bogus": 1}, {"success_status": {"/x": 500}}):
        assert sandbox.post("/_sandbox/config", bad).status_code == 400


def test_reset(sandbox: Sandbox) -> None:
    sandbox.post("/campaigns/trigger/send", campaign())
    sandbox.post("/sends/id/create", {"campaign_id": "c", "send_id": "s"})
    assert sandbox.post("/_sandbox/reset", None).status_code == 200
    stats = sandbox.stats()
    assert stats["requests_total"] == 0
    assert stats["send_ids"] == 0
    assert stats["pools"]["default"]["used"] == 0


def test_unknown_sandbox_route(sandbox: Sandbox) -> None:
    assert sandbox.get("/_sandbox/nope").status_code == 404
    assert sandbox.client.put("/_sandbox/stats").status_code == 405
    r = sandbox.client.get("/_sandbox/requests", params={"since": "x"})
    assert r.status_code == 400
