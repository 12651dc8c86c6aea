"""N pacers sharing one simulated Braze window (pure Python, simulated time).

A discrete-event simulation: ``SimBraze`` meters one clock-aligned pool (``LIMIT`` requests per
``WINDOW`` seconds, like Braze's hour) and answers with ``X-RateLimit-*`` headers; each replica
is a :class:`Pacer` on the simulated clock with a bounded number of requests in flight, random
network latency and an endless backlog. The first window is warm-up (the replicas start in the
middle of it); the next ones are measured.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridge.deliver.pacing import BULK, TRANSACTIONAL, Pacer

LIMIT = 3000
WINDOW = 60.0
RESERVE = 0.1


class SimBraze:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.counts: dict[int, int] = {}
        self.log: list[tuple[float, int, int, int]] = []  # (time, status, replica, priority)

    def handle(self, t: float, replica: int, priority: int) -> tuple[int, dict[str, str]]:
        w = math.floor(t / self.window)
        used = self.counts.get(w, 0)
        status = 429 if used >= self.limit else 201
        if status == 201:
            used += 1
            self.counts[w] = used
        self.log.append((t, status, replica, priority))
        return status, {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.limit - used),
            "x-ratelimit-reset": str(int((w + 1) * self.window)),
        }


@dataclass
class Replica:
    idx: int
    pacer: Pacer
    max_in_flight: int
    demand: dict[int, float] = field(default_factory=dict)  # priority -> req/s (inf: backlog)
    in_flight: int = 0
    wake_at: float = math.inf
    queued: dict[int, list[float]] = field(default_factory=dict)  # priority -> arrival times
    latencies: dict[int, list[float]] = field(default_factory=dict)


class Sim:
    def __init__(self, n: int, seed: int = 1, **pacer_kw: Any) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self.braze = SimBraze(LIMIT, WINDOW)
        self.heap: list[tuple[float, int, str, int, object]] = []
        self.seq = 0
        self.replicas = [
            Replica(i, Pacer(RESERVE, clock=lambda: self.now, **pacer_kw), 8) for i in range(n)
        ]

    def push(self, t: float, kind: str, r: int, data: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, r, data))

    def backlog(self, priority: int = TRANSACTIONAL) -> None:
        for r in self.replicas:
            r.demand[priority] = math.inf

    def stream(self, rate: float, priority: int, start: float, replicas: int = 1) -> None:
        for r in self.replicas[:replicas]:
            r.demand[priority] = rate
            self.push(start + self.rng.random() / rate, "arrive", r.idx, priority)

    def pending(self, r: Replica, prio: int) -> bool:
        return r.demand.get(prio) == math.inf or bool(r.queued.get(prio))

    def try_send(self, r: Replica) -> None:
        while r.in_flight < r.max_in_flight:
            sent = False
            soonest = math.inf
            for prio in sorted(r.demand, reverse=True):  # transactional first
                if not self.pending(r, prio):
                    continue
                # (transactional: the call of the single-class pacer, so old code can run it)
                d = (
                    r.pacer.delay("default", prio)
                    if prio != TRANSACTIONAL
                    else r.pacer.delay("default")
                )
                if d > 0:
                    soonest = min(soonest, d)
                    continue
                r.pacer.started("default")
                r.in_flight += 1
                q = r.queued.get(prio)
                born = q.pop(0) if q else self.now
                lat = self.rng.uniform(0.03, 0.15)
                self.push(self.now + lat / 2, "server", r.idx, (prio, born, lat))
                sent = True
                break
            if not sent:
                if soonest < math.inf and self.now + soonest < r.wake_at:
                    r.wake_at = self.now + min(soonest, 1.0)
                    self.push(r.wake_at, "wake", r.idx)
                return

    def run(self, until: float, start: float, late: dict[int, float] | None = None) -> None:
        for r in self.replicas:
            t = (late or {}).get(r.idx, start)
            self.push(t + self.rng.random() * 0.5, "wake", r.idx)
        while self.heap:
            t, _, kind, i, data = heapq.heappop(self.heap)
            if t > until:
                break
            self.now = t
            r = self.replicas[i]
            if kind == "wake":
                r.wake_at = math.inf
                self.try_send(r)
            elif kind == "arrive":
                prio = int(data)  # type: ignore[call-overload]
                r.queued.setdefault(prio, []).append(t)
                self.push(t + self.rng.expovariate(r.demand[prio]), "arrive", i, prio)
                self.try_send(r)
            elif kind == "server":
                prio, born, lat = data  # type: ignore[misc]
                status, headers = self.braze.handle(t, i, prio)
                self.push(t + lat / 2, "response", i, (status, headers, prio, born))
            else:
                status, headers, prio, born = data  # type: ignore[misc]
                r.in_flight -= 1
                r.pacer.finished("default", headers, status)
                if status == 429:
                    r.queued.setdefault(prio, []).insert(0, born)
                else:
                    r.latencies.setdefault(prio, []).append(t - born)
                self.try_send(r)


def _measure(sim: Sim, windows: range) -> tuple[list[int], list[list[int]], int]:
    used = []
    tenths = []
    late_429 = 0
    for w in windows:
        lo = w * WINDOW
        ok = [t for t, s, _, _ in sim.braze.log if lo <= t < lo + WINDOW and s != 429]
        late_429 += sum(1 for t, s, _, _ in sim.braze.log if lo <= t < lo + WINDOW and s == 429)
        used.append(len(ok))
        tenth = [0] * 10
        for t in ok:
            tenth[min(9, int((t - lo) / WINDOW * 10))] += 1
        tenths.append(tenth)
    return used, tenths, late_429


@pytest.mark.parametrize("n", [1, 4, 16])
def test_n_pacers_spend_one_window_evenly(n: int) -> None:
    sim = Sim(n)
    sim.backlog()
    sim.run(until=4 * WINDOW, start=0.35 * WINDOW)  # warm-up: the rest of window 0
    used, tenths, late_429 = _measure(sim, range(1, 4))
    usable = LIMIT * (1 - RESERVE)
    assert late_429 == 0, f"{late_429} answers of 429 after the warm-up window"
    for u, tenth in zip(used, tenths, strict=True):
        assert u >= 0.95 * usable, f"{n} pacers used {u} of {usable:g}: {tenth}"
        assert u <= LIMIT
        even = usable / 10
        worst = max(abs(x - even) / even for x in tenth)
        assert worst <= 0.15, f"{n} pacers: spend per tenth {tenth}, even is {even:g}"


def test_bulk_backlog_leaves_the_floor_to_transactional_work() -> None:
    sim = Sim(4, bulk_floor=0.3)
    sim.backlog(BULK)
    sim.run(until=3 * WINDOW, start=0.35 * WINDOW)
    used, _, late_429 = _measure(sim, range(1, 3))
    assert late_429 == 0
    for u in used:  # bulk stops near limit x (1 - floor) (plus what was in flight)
        assert 0.66 * LIMIT <= u <= 0.72 * LIMIT, used


def test_transactional_latency_is_unaffected_by_a_bulk_backlog() -> None:
    def p99(backlog: bool) -> float:
        sim = Sim(4, seed=3, bulk_floor=0.2)
        if backlog:
            sim.backlog(BULK)
        sim.stream(2.0, TRANSACTIONAL, start=1.0, replicas=4)
        sim.run(until=3 * WINDOW, start=0.1)
        lat = sorted(x for r in sim.replicas for x in r.latencies.get(TRANSACTIONAL, []))
        assert len(lat) > 500
        return lat[int(len(lat) * 0.99)]

    quiet, busy = p99(False), p99(True)
    assert busy <= 2 * quiet, (
        f"transactional p99 {busy:.3f}s with a bulk backlog, {quiet:.3f}s without"
    )


def test_a_replica_that_joins_late_gets_its_fair_share() -> None:
    sim = Sim(4)
    sim.backlog()
    sim.run(until=4 * WINDOW, start=0.35 * WINDOW, late={3: 1.5 * WINDOW})
    lo, hi = 3 * WINDOW, 4 * WINDOW
    per = [
        sum(1 for t, st, i, _ in sim.braze.log if lo <= t < hi and st != 429 and i == r)
        for r in range(4)
    ]
    used, _, late_429 = _measure(sim, range(3, 4))
    assert late_429 == 0
    assert used[0] >= 0.95 * LIMIT * (1 - RESERVE)
    assert min(per) >= 0.7 * sum(per) / 4, f"requests per replica in window 3: {per}"
