"""Rate-limit pools: headers, 429 after the budget, clock-aligned window reset."""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox_helpers import Sandbox, campaign, message, rate_headers


def test_headers_default_pool(sandbox: Sandbox) -> None:
    before = time.time()
    r = sandbox.post("/campaigns/trigger/send", campaign())
    limit, remaining, reset = rate_headers(r)
    assert limit == 250_000
    assert remaining == 249_999
    assert reset % 3600 == 0  # on the clock hour
    assert before < reset <= before + 3600
    r2 = sandbox.post("/messages/schedule/delete", {"schedule_id": "nope"})  # error, same pool
    assert r2.status_code == 400
    assert rate_headers(r2)[1] == 249_998


def test_429_after_budget_and_not_accepted(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(hourly_limit=3, hourly_window_s=3600)
    statuses = [sb.post("/campaigns/trigger/send", campaign()).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    r = sb.post("/canvas/trigger/send", {"canvas_id": "c", "recipients": [{"braze_id": "b"}]})
    assert r.status_code == 429
    assert r.json() == {"message": "Rate limit exceeded"}
    limit, remaining, reset = rate_headers(r)
    assert (limit, remaining) == (3, 0)
    stats = sb.stats()
    assert stats["accepted_total"] == 3
    assert stats["rate_limited_total"] == 3
    assert stats["pools"]["default"]["remaining"] == 0
    assert [q["status"] for q in sb.requests()] == [200, 200, 200, 429, 429, 429]


def test_window_reset(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(hourly_limit=2, hourly_window_s=2)
    # start right after a window boundary so the first three requests share a window
    time.sleep(2 - time.time() % 2 + 0.02)  # the windows are clock-aligned: wait for one
    first = sb.post("/campaigns/trigger/send", campaign())
    assert first.status_code == 200
    assert sb.post("/campaigns/trigger/send", campaign()).status_code == 200
    r = sb.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 429
    reset = rate_headers(r)[2]
    assert reset == rate_headers(first)[2]
    assert reset % 2 == 0
    time.sleep(max(0.0, reset - time.time()) + 0.02)  # the behaviour under test: the reset
    r = sb.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 200
    assert rate_headers(r)[1] == 1
    assert rate_headers(r)[2] == reset + 2


def test_broadcast_pool_is_separate(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(broadcast_limit=2, broadcast_window_s=60)
    bc = {"campaign_id": "c", "broadcast": True}
    r = sb.post("/campaigns/trigger/send", bc)
    assert rate_headers(r)[:2] == (2, 1)
    assert rate_headers(r)[2] % 60 == 0
    aud = {"email_subscription_status": {"comparison": "is", "value": "opted_in"}}
    body = {"canvas_id": "c", "audience": aud, "broadcast": True}
    assert sb.post("/canvas/trigger/send", body).status_code == 201
    seg = message(external_user_ids=None, segment_id="s", broadcast=True)
    assert sb.post("/messages/send", seg).status_code == 429
    # specific-user sends still go through the default pool
    r = sb.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 200
    assert rate_headers(r)[0] == 250_000


def test_per_audience_broadcast_limit(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(broadcast_limit=100, broadcast_audience_limit=1)
    assert sb.post("/campaigns/trigger/send", {"campaign_id": "a", "broadcast": True}).is_success
    r = sb.post("/campaigns/trigger/send", {"campaign_id": "a", "broadcast": True})
    assert r.status_code == 429
    assert sb.post("/campaigns/trigger/send", {"campaign_id": "b", "broadcast": True}).is_success


def test_sandbox_api_does_not_count(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(hourly_limit=1)
    for _ in range(5):
        assert sb.get("/_sandbox/stats").status_code == 200
        assert "X-RateLimit-Limit" not in sb.get("/_sandbox/health").headers
    assert sb.post("/campaigns/trigger/send", campaign()).status_code == 200


def test_limits_changed_at_run_time(sandbox: Sandbox) -> None:
    r = sandbox.post("/_sandbox/config", {"hourly_limit": 1, "hourly_window_s": 60})
    assert r.status_code == 200
    assert r.json()["hourly_limit"] == 1
    assert sandbox.post("/campaigns/trigger/send", campaign()).status_code == 200
    r = sandbox.post("/campaigns/trigger/send", campaign())
    assert r.status_code == 429
    assert rate_headers(r)[2] % 60 == 0
