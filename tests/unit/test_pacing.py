"""The pacer with a fake clock: pools, changing numbers, per-audience limits, priorities."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import replace

import httpx
import orjson

from bridge.actions.base import BROADCAST_POOL, DEFAULT_POOL, Item
from bridge.actions.registry import compile_action
from bridge.batch import Batch
from bridge.deliver.gate import PriorityGate
from bridge.deliver.pacing import BULK, TRANSACTIONAL, Pacer
from bridge.deliver.pools import request_pool
from bridge.deliver.sender import Outcome
from bridge.models import Record
from bridge.offsets import InFlight, PartitionTracker
from bridge.ops.metrics import Metrics
from bridge.rules.spec import RuleSettings
from bridge.ruleset import compile_rule
from bridge.settings import BrazeSettings, DeliverySettings
from tests.support.wait import wait_for
from tests.unit.helpers import event
from tests.unit.served_sender import ServedSender
from tests.unit.test_sender import SHAPE

RECIPIENT_LIMIT = 50


def _h(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(reset)),
    }


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- pools -------------------------------------------------------------------------------
def _schedule_rule(action: str, **kw: object) -> RuleSettings:
    base: dict[str, object] = {
        "name": "s",
        "topic": "t",
        "action": action,
        "audience": {"AND": [{"custom_attribute": {"name": "x", "comparison": "exists"}}]},
        "allow_broadcast": True,
        "schedule": {"operation": "create", "key": "$.id", "time": "$.at"},
    }
    base.update(kw)
    return RuleSettings.model_validate(base)


def test_message_schedule_create_with_an_audience_is_metered_in_the_default_pool() -> None:
    rule = _schedule_rule("message_schedule", messages={"email": {"app_id": "a", "body": "b"}})
    build = compile_action(rule, RECIPIENT_LIMIT, "rules[0]")
    shape, _, _ = build(event({"id": "1", "at": "2030-01-01T00:00:00Z"}))
    assert shape.path == "/messages/schedule/create"
    assert shape.pool == DEFAULT_POOL


def test_a_request_that_names_users_is_in_the_default_pool_even_with_an_audience() -> None:
    aud = {"audience": {"AND": []}, "broadcast": True}
    assert request_pool(BROADCAST_POOL, {**aud, "recipients": [{"external_user_id": "u"}]}) == (
        DEFAULT_POOL
    )
    assert request_pool(BROADCAST_POOL, {**aud, "external_user_ids": ["u"]}) == DEFAULT_POOL
    assert request_pool(BROADCAST_POOL, {"segment_id": "s", "broadcast": True}) == BROADCAST_POOL


def test_hourly_numbers_on_the_broadcast_pool_give_way_to_per_minute_ones() -> None:
    """The audit's case: a request metered hourly answers on the broadcast label first."""
    clock = Clock(3630.0)
    p = Pacer(reserve_fraction=0.1, clock=clock)
    p.started("broadcast")
    p.finished("broadcast", _h(250_000, 249_000, 7200), 201)  # hourly numbers
    clock.t = 3631.0
    p.started("broadcast")
    p.finished("broadcast", _h(250, 200, 3660), 201)  # a real broadcast answer
    st = p.pool("broadcast")
    assert (st.limit, st.remaining, st.reset) == (250, 200, 3660)
    p.started("broadcast")
    p.finished("broadcast", _h(250, 0, 3660), 429)
    wait = p.delay("broadcast")
    assert 0 < wait <= 30.0, f"a 429 closed the broadcast pool for {wait:.0f} s"


def test_a_pool_whose_window_shortens_adopts_the_new_reset() -> None:
    clock = Clock(1000.0)
    p = Pacer(reserve_fraction=0.1, clock=clock)
    p.finished("default", _h(1000, 900, 3600), 201)
    p.finished("default", _h(1000, 990, 1030), 201)  # same limit, a 30-second window now
    assert p.pool("default").reset == 1030
    assert p.pool("default").remaining == 990
    clock.t = 1031.0
    p.finished("default", _h(1000, 500, 1030), 201)  # late answer of the finished window
    assert p.pool("default").remaining == 990


def test_a_429_closes_the_pool_until_the_reset_it_carries() -> None:
    clock = Clock(100.0)
    p = Pacer(clock=clock)
    p.finished("broadcast", _h(250, 10, 3600), 201)
    p.finished("broadcast", _h(250, 0, 120), 429)
    assert abs(p.delay("broadcast") - 20.0) < 1e-6


def test_pools_are_keyed_by_workspace() -> None:
    clock = Clock(0.0)
    p = Pacer(clock=clock)
    p.finished(("eu", "default"), _h(100, 10, 30), 429)
    assert p.delay(("eu", "default")) > 0
    assert p.delay(("us", "default")) == 0.0
    assert p.delay("default") == 0.0


# -- per-audience broadcast limit ---------------------------------------------------------
def test_ten_broadcasts_per_minute_per_unique_audience() -> None:
    clock = Clock(0.0)
    p = Pacer(clock=clock, enabled=False)
    for i in range(10):
        clock.t = i * 0.5
        assert p.delay("broadcast", audience="A") == 0.0
        p.started("broadcast", "A")
        p.finished("broadcast", _h(250, 240 - i, 60), 201, "A")
    wait = p.delay("broadcast", audience="A")
    assert 55.0 < wait <= 60.0  # the first of the ten leaves the rolling minute at t = 60
    assert p.delay("broadcast", audience="B") == 0.0  # another audience has its own 10


def test_a_429_with_budget_left_closes_only_that_audience_until_the_next_minute() -> None:
    clock = Clock(30.0)
    p = Pacer(clock=clock)
    p.started("broadcast", "A")
    p.finished("broadcast", _h(250, 200, 60), 429, "A")
    assert 0 < p.delay("broadcast", audience="A") <= 30.0
    assert p.delay("broadcast", audience="B") == 0.0


# -- priorities --------------------------------------------------------------------------
def test_bulk_stops_at_the_floor_and_transactional_work_goes_on() -> None:
    clock = Clock(0.0)
    p = Pacer(reserve_fraction=0.1, bulk_floor=0.2, clock=clock)
    p.finished("default", _h(1000, 199, 30), 201)
    assert p.delay("default", BULK) >= 30.0  # below 20 % of the limit: bulk waits for reset
    assert p.delay("default", TRANSACTIONAL) == 0.0
    p.finished("default", _h(1000, 99, 30), 201)
    assert p.delay("default", TRANSACTIONAL) >= 30.0  # the reserve is never spent


def test_bulk_pacing_does_not_take_the_transactional_slot() -> None:
    clock = Clock(0.0)
    p = Pacer(reserve_fraction=0.1, bulk_floor=0.2, clock=clock)
    p.finished("default", _h(1000, 900, 30), 201)
    assert p.delay("default", BULK) == 0.0
    assert p.delay("default", BULK) > 0  # the next bulk slot is later
    assert p.delay("default", TRANSACTIONAL) == 0.0


def test_priority_gate_admits_transactional_waiters_first() -> None:
    order: list[str] = []

    async def main() -> None:
        gate = PriorityGate(1)
        await gate.acquire(BULK)

        async def waiter(name: str, prio: int) -> None:
            async with gate.slot(prio):
                order.append(name)

        tasks = [asyncio.create_task(waiter(f"bulk{i}", BULK)) for i in range(3)]
        # one turn of the event loop, not a timed wait: the waiters created before it have
        # run up to the gate and queue there, in this order
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(waiter("tx", TRANSACTIONAL)))
        await asyncio.sleep(0)  # (as above)
        gate.release()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert order == ["tx", "bulk0", "bulk1", "bulk2"]


def test_rule_priority_reaches_the_request_shape() -> None:
    rule = RuleSettings.model_validate(
        {
            "name": "digest",
            "topic": "t",
            "action": "campaign_trigger",
            "campaign_id": "c",
            "recipient": {"external_user_id": "$.u"},
            "priority": "bulk",
        }
    )
    shape, _, _ = compile_rule(rule, 0, RECIPIENT_LIMIT).build_checked(event({"u": "1"}))
    assert shape.priority == BULK
    default = RuleSettings.model_validate(
        {**rule.model_dump(exclude_none=True, exclude={"priority"})}
    )
    shape, _, _ = compile_rule(default, 0, RECIPIENT_LIMIT).build_checked(event({"u": "1"}))
    assert shape.priority == TRANSACTIONAL


def _batch(campaign: str, priority: int, n: int) -> Batch:
    shape = replace(SHAPE, base={"campaign_id": campaign, "broadcast": False}, priority=priority)
    tr = PartitionTracker("t", 0, InFlight())
    b = Batch(shape, 0.0)
    t = tr.track(Record("t", 0, n, None, b"", (), 0), 1)
    t.add()
    b.items.append(Item(t, "r", shape, f"u{n}", {"external_user_id": f"u{n}"}))
    return b


def test_sender_sends_queued_transactional_batches_before_bulk_ones() -> None:
    """One request in flight, a bulk backlog queued behind it: a transactional batch that
    arrives last is sent next."""
    seen: list[str] = []
    release = threading.Event()
    first = threading.Event()

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(req.content)["campaign_id"])
        hdr = _h(1_000_000, 999_000 - len(seen), time.time() + 3600)
        if len(seen) == 1:
            return httpx.Response(201, json={"message": "success"}, headers=hdr)
        first.set()
        release.wait(5)  # hold the only slot until the test lets go
        return httpx.Response(201, json={"message": "success"}, headers=hdr)

    q: queue.SimpleQueue[object] = queue.SimpleQueue()
    b = BrazeSettings.model_validate(
        {
            "rest_endpoint": "http://braze.test",
            "allow_insecure_http": True,
            "api_key": "k",
            "max_in_flight": 1,
        }
    )
    s = ServedSender(handler, b, DeliverySettings(), Metrics(), q.put)
    s.start()
    try:
        s.submit(_batch("warm-up", TRANSACTIONAL, 100))  # the pacer learns the numbers
        assert isinstance(q.get(timeout=5), Outcome)
        for i in range(4):
            s.submit(_batch("bulk", BULK, i))
        assert first.wait(5)
        gate = s._gate
        assert gate is not None
        # the bulk backlog queues for the only slot first, then the transactional batch
        wait_for(
            "the bulk batches to queue for the only slot", lambda: len(gate._waiters) >= 3, 5, 0.01
        )
        s.submit(_batch("tx", TRANSACTIONAL, 99))
        wait_for(
            "the transactional batch to queue behind the bulk ones",
            lambda: len(gate._waiters) >= 4,
            5,
            0.01,
        )
        release.set()
        done = [q.get(timeout=10) for _ in range(5)]
    finally:
        s.close()
    assert all(isinstance(o, Outcome) and o.accepted for o in done)
    assert seen[1:] == ["bulk", "tx", "bulk", "bulk", "bulk"], seen
