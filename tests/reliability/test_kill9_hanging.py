"""kill -9 the bridge three times while Braze is slow: nothing is lost, and (issue 11) the
recipients sent again are at most those that were in flight at the kills.

The sandbox answers 10 % of the trigger requests with a 5xx and holds 2 % past the bridge's
read timeout (it processed them: the client's timeout is ambiguous, as at Braze). 20,000
events; the bridge is killed with SIGKILL at three random points, one of them while a hung
request is open, and restarted each time.

What the sandbox recorded per request (``time`` = arrival, when its state changed;
``answer_at`` = when its answer was due) gives, per kill at time ``T`` (the moment the killed
process was gone):

* **in flight**: recipients of accepted requests that arrived before ``T`` and whose answer was
  not complete before ``T``;
* **commit window**: recipients of accepted requests answered in the last
  ``commit_interval + slack`` before ``T`` (the commit round trip the README allows);
* **re-sent**: acceptances of a recipient already accepted, attributed to the first kill between
  the two acceptances (the process holding the earlier answer died then; the re-send may come
  from any later process); *ambiguous* are those whose earlier acceptance was a hung request
  (the bridge never saw the answer, so it must send them again, kill or no kill). Re-sends
  with no kill between are retries after a timeout and are reported, not bounded;
* **re-sent after >1 s**: re-sent recipients whose earlier acceptance was answered more than a
  second before ``T`` (issue 11's figure: the work the watermark held back).

Asserted: lost = 0, nothing unexpected accepted, exit 0; at each kill, no event below the
committed offset or marked done in its completed-work map lacks a 2xx answer Braze gave before
the kill (the commit never runs ahead of what the bridge could know); and the bound of issue 11:
re-sent - ambiguous <= in flight + commit window, at each kill. A partition commits only up to
its lowest unfinished event; what is final above it travels in the commit's metadata (the
completed-work map, ``bridge/offsetmap.py``) and is skipped after the restart, which is what
keeps the bound (without the map, ~12,000 of 20,000 recipients were re-sent in this test).

Figures: ``.local/results/reliability-kill9-hanging.json`` (also printed).
"""

from __future__ import annotations

import bisect
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from bridge import offsetmap as om
from tests.reliability.conftest import Procs
from tests.support.faults import (
    TRIGGER,
    Workload,
    bridge_config,
    log_tail,
    make_events,
    produce_events,
    sandbox_accepted,
    tally,
    wait_for,
    with_new_port,
    write_results,
)
from tests.support.kafka import create_topics, unique, wait_committed
from tests.support.procs import Sandbox

N_EVENTS = 20_000
PARTITIONS = 4
SEED = 1101
REQUEST_TIMEOUT_S = 1.0
FAULTS = {
    "seed": SEED,
    "error_rate": 0.10,
    "hang_rate": 0.02,
    "hang_s": 3,  # > REQUEST_TIMEOUT_S: the bridge gives up, the sandbox has processed it
    "latency_ms": {"min": 10, "max": 40},
    "paths": [TRIGGER],
}
MAX_IN_FLIGHT = 8
COMMIT_INTERVAL_MS = 100
SLACK_S = 0.3  # loop time + async commit round trip on a busy 2-core box (as test_kill9)
WINDOW_S = COMMIT_INTERVAL_MS / 1000 + SLACK_S

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


class ResentAboveBound(AssertionError):
    """More recipients were sent again than were in flight at a kill (issue 11)."""


@dataclass(frozen=True, slots=True)
class Req:
    seq: int
    time: float  # arrival: the sandbox's state changed then
    answer_at: float  # the answer was due then (never seen by a client that timed out)
    status: int
    fault: str | None
    eids: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def hung(self) -> bool:
        return self.fault == "hang"


def requests(sandbox: Sandbox, since: int = 0) -> list[Req]:
    out = []
    for r in sandbox.requests(TRIGGER, since=since):
        body = r.get("body") if isinstance(r.get("body"), dict) else {}
        eids = tuple(
            str((rc.get("trigger_properties") or {}).get("eid"))
            for rc in (body or {}).get("recipients") or []
        )
        t = float(r["time"])
        out.append(
            Req(
                int(r["seq"]),
                t,
                float(r["answer_at"]),  # latency is injected on every trigger request
                int(r["status"]),
                r.get("fault"),
                eids,
            )
        )
    return out


def kill_shares(rnd: random.Random) -> list[float]:
    """Three random points (share of events accepted), at least 15 % apart."""
    while True:
        shares = sorted(round(rnd.uniform(0.12, 0.85), 3) for _ in range(3))
        if all(b - a >= 0.15 for a, b in zip(shares, shares[1:], strict=False)):
            return shares


def open_hang(sandbox: Sandbox, seen: list[int]) -> Req | None:
    """A hung request the bridge is still waiting for (arrived < 0.7 x read timeout ago)."""
    new = requests(sandbox, since=seen[0])
    if new:
        seen[0] = new[-1].seq
    now = time.time()
    for r in reversed(new):
        if r.hung and r.accepted and now - r.time < 0.7 * REQUEST_TIMEOUT_S:
            return r
    return None


def committed_maps(bootstrap: str, group: str, topic: str) -> dict[int, om.CompletedWork]:
    """Each partition's committed offset with its completed-work map, decoded."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        res = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: om.decode(tp.offset, tp.metadata) for tp in res}
    finally:
        c.close()


def claimed_unanswered(
    wl: Workload, maps: dict[int, om.CompletedWork], records: list[Req], t: float
) -> list[str]:
    """Events below a committed offset, or marked done in its map, that Braze had not
    answered with a 2xx before ``t``: the commit ran ahead of what the bridge could know."""
    answered = {e for r in records if r.accepted and not r.hung and r.answer_at < t for e in r.eids}
    out = []
    for p, evs in wl.by_partition().items():
        work = maps.get(p)
        if work is None:
            continue
        for e in evs:
            if (e.offset < work.base or work.is_done(e.offset)) and e.eid not in answered:
                out.append(e.eid)
    return out


def resends(records: list[Req], kill_times: list[float]) -> tuple[list[list[Req]], int]:
    """Every acceptance of a recipient after an earlier one, attributed to the first kill
    between the two (the process that had the earlier answer died before that kill); the
    earlier acceptance's request per kill, and the count of re-sends with no kill between
    (a retry after a timed-out request, within one process)."""
    seen: dict[str, Req] = {}
    per: list[list[Req]] = [[] for _ in kill_times]
    same_process = 0
    for r in sorted((r for r in records if r.accepted), key=lambda r: r.seq):
        for e in r.eids:
            prev = seen.get(e)
            seen[e] = r
            if prev is None:
                continue
            k = bisect.bisect_right(kill_times, prev.time)  # first kill after prev
            if k < len(kill_times) and kill_times[k] <= r.time:
                per[k].append(prev)
            else:
                same_process += 1
    return per, same_process


def per_kill(records: list[Req], kill_times: list[float]) -> list[dict[str, Any]]:
    out = []
    earlier, _ = resends(records, kill_times)
    for k, t in enumerate(kill_times):
        before = [r for r in records if r.accepted and r.time < t]
        in_flight = [r for r in before if r.answer_at >= t]
        window = [r for r in before if not r.hung and t - WINDOW_S <= r.answer_at < t]
        prevs = earlier[k]
        out.append(
            {
                "kill": k + 1,
                "accepted_before_kill": sum(len(r.eids) for r in before),
                "in_flight_requests": len(in_flight),
                "in_flight_hung_requests": sum(r.hung for r in in_flight),
                "in_flight_recipients": sum(len(r.eids) for r in in_flight),
                "commit_window_recipients": sum(len(r.eids) for r in window),
                "resent": len(prevs),
                # the earlier acceptance was a hung request: the bridge never saw its answer
                "resent_ambiguous": sum(r.hung for r in prevs),
                "resent_in_flight_at_kill": sum(r.answer_at >= t for r in prevs),
                "resent_answered_over_1s_before": sum(
                    not r.hung and r.answer_at < t - 1.0 for r in prevs
                ),
            }
        )
    return out


def test_kill9_while_requests_hang(kafka_bootstrap: str, procs: Procs) -> None:
    topic, dlq, group = unique("k9h"), unique("k9h-dlq"), unique("k9h-grp")
    create_topics(kafka_bootstrap, {topic: PARTITIONS, dlq: 1})
    sandbox = procs.sandbox("--faults", json.dumps(FAULTS))
    wl = produce_events(kafka_bootstrap, topic, make_events(N_EVENTS, prefix="h"), PARTITIONS)
    cfg = bridge_config(
        kafka_bootstrap,
        sandbox,
        group=group,
        topic=topic,
        dlq=dlq,
        braze={
            "max_in_flight": MAX_IN_FLIGHT,
            "request_timeout_s": REQUEST_TIMEOUT_S,
            "connect_timeout_s": 1,
        },
        delivery={"retry": {"initial_backoff_ms": 20, "max_backoff_ms": 300}},
        kafka={"commit_interval_ms": COMMIT_INTERVAL_MS},
    )
    rnd = random.Random(SEED)
    shares = kill_shares(rnd)
    during_hang = rnd.randrange(len(shares))
    kill_times: list[float] = []
    kill_info: list[dict[str, Any]] = []
    t0 = time.monotonic()
    bridge = procs.bridge(cfg, "run0")
    for k, share in enumerate(shares):
        target = int(share * N_EVENTS)
        wait_for(
            f"{target} accepted recipients before kill {k + 1}",
            lambda target=target: sandbox_accepted(sandbox) >= target,  # type: ignore[misc]
            timeout=90,
            interval=0.05,
        )
        hang: Req | None = None
        if k == during_hang:
            seen = [int(sandbox.stats()["last_seq"])]
            hang = wait_for(
                f"a hung request open before kill {k + 1}",
                lambda seen=seen: open_hang(sandbox, seen),  # type: ignore[misc]
                timeout=60,
                interval=0.02,
            )
        bridge.kill()
        bridge.wait(10)
        t_kill = time.time()
        kill_times.append(t_kill)
        maps = committed_maps(kafka_bootstrap, group, topic)
        ahead = claimed_unanswered(wl, maps, requests(sandbox), t_kill)
        assert not ahead, f"kill {k + 1}: committed/map past unanswered events {ahead[:5]}"
        kill_info.append(
            {
                "at_share": share,
                "while_hanging": hang is not None,
                "hang_open_for_s": round(t_kill - hang.time, 3) if hang else None,
                "committed_offsets": sum(max(w.base, 0) for w in maps.values()),
                "done_in_maps": sum(w.done_count for w in maps.values()),
            }
        )
        bridge = procs.bridge(with_new_port(cfg), f"run{k + 1}")
    assert wait_committed(kafka_bootstrap, group, [topic], 150), log_tail(bridge)
    elapsed = time.monotonic() - t0
    rc = bridge.stop(30)
    records = requests(sandbox)
    got: Counter[str] = Counter()
    for r in records:
        if r.accepted:
            got.update(r.eids)
    t = tally(wl, got)
    kills = [
        {**info, **fig} for info, fig in zip(kill_info, per_kill(records, kill_times), strict=True)
    ]
    resent = sum(k["resent"] for k in kills)
    _, same_process = resends(records, kill_times)
    results = {
        "events": N_EVENTS,
        **t.as_dict(),
        "resent_at_kills": resent,
        "resent_without_kill": same_process,  # retries after a hung request's timeout
        "in_flight_at_kills": sum(k["in_flight_recipients"] for k in kills),
        "hung_requests": sum(r.hung for r in records),
        "error_5xx_requests": sum(500 <= r.status < 600 for r in records),
        "kills": kills,
        "request_timeout_s": REQUEST_TIMEOUT_S,
        "faults": FAULTS,
        "commit_interval_ms": COMMIT_INTERVAL_MS,
        "commit_window_s": WINDOW_S,
        "max_in_flight": MAX_IN_FLIGHT,
        "elapsed_s": round(elapsed, 1),
    }
    write_results("kill9-hanging", results)
    print(json.dumps(results, indent=2))
    assert rc == 0, log_tail(bridge)
    assert t.lost == 0, f"lost {t.lost} events, e.g. {t.lost_sample}"
    assert t.unexpected == 0
    over = [
        k
        for k in kills
        if k["resent"] - k["resent_ambiguous"]
        > k["in_flight_recipients"] + k["commit_window_recipients"]
    ]
    if over:
        raise ResentAboveBound(f"re-sent more than in flight at {len(over)} kill(s): {over}")
