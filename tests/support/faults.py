"""Helpers for the reliability suite: workloads with known offsets, a ledger of what the
sandbox accepted, bridge configs, polling, metrics snapshots and result files.

Every event carries its own id (``eid``) which the rule copies into the recipient's
``trigger_properties``, so what the sandbox accepted can be matched event by event:
lost = expected ids never accepted, duplicates = extra acceptances of the same id.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
from confluent_kafka import Producer

from tests.support.config import bridge_config as common_config
from tests.support.config import deep_merge
from tests.support.procs import EPHEMERAL_METRICS, REPO, Bridge, Sandbox, scrape_metrics
from tests.support.wait import wait_for  # noqa: F401 - the suite imports it from here

RESULTS = REPO / ".local" / "results"
TRIGGER = "/campaigns/trigger/send"
CAMPAIGN = "c-ship"

T = TypeVar("T")


# -- workload --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ev:
    eid: str
    uid: str
    kind: str  # "send" (matches the rule) | "poison" (matches, sandbox rejects) | "skip"
    partition: int = -1
    offset: int = -1


@dataclass
class Workload:
    topic: str
    events: dict[str, Ev] = field(default_factory=dict)

    def ids(self, kind: str) -> set[str]:
        return {e.eid for e in self.events.values() if e.kind == kind}

    @property
    def expected(self) -> set[str]:
        """Events whose recipient must be accepted at least once."""
        return self.ids("send")

    def by_partition(self) -> dict[int, list[Ev]]:
        out: dict[int, list[Ev]] = {}
        for e in self.events.values():
            out.setdefault(e.partition, []).append(e)
        return out

    def __len__(self) -> int:
        return len(self.events)


def make_events(
    n: int,
    *,
    prefix: str = "e",
    poison_share: float = 0.0,
    skip_share: float = 0.0,
    users: int | None = None,
    seed: int = 1,
) -> list[Ev]:
    """``n`` events; ``users`` repeats user ids (several per batch), None = one user each."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        eid = f"{prefix}{i}"
        uid = f"u{rnd.randrange(users)}" if users else f"u-{prefix}{i}"
        r = rnd.random()
        if r < poison_share:
            out.append(Ev(eid, f"poison-{eid}", "poison"))
        elif r < poison_share + skip_share:
            out.append(Ev(eid, uid, "skip"))
        else:
            out.append(Ev(eid, uid, "send"))
    return out


def event_value(e: Ev) -> bytes:
    kind = "order.viewed" if e.kind == "skip" else "order.shipped"
    return orjson.dumps({"type": kind, "id": e.eid, "user": {"id": e.uid}})


def produce_events(
    bootstrap: str, topic: str, events: list[Ev], partitions: int, wl: Workload | None = None
) -> Workload:
    """Produce round-robin over ``partitions``; record each event's partition and offset."""
    wl = wl or Workload(topic)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    errors: list[str] = []

    def cb_for(e: Ev) -> Callable[[Any, Any], None]:
        def cb(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
                return
            wl.events[e.eid] = Ev(e.eid, e.uid, e.kind, msg.partition(), msg.offset())

        return cb

    for i, e in enumerate(events):
        while True:
            try:
                p.produce(
                    topic,
                    key=e.uid.encode(),
                    value=event_value(e),
                    partition=i % partitions,
                    on_delivery=cb_for(e),
                )
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(60)
    if errors or left:
        raise RuntimeError(f"produce failed: {errors[:3]} ({left} unflushed)")
    return wl


# -- the bridge's config --------------------------------------------------------------------


def bridge_config(
    bootstrap: str,
    sandbox: Sandbox,
    *,
    group: str,
    topic: str,
    dlq: str,
    campaign_id: str = CAMPAIGN,
    short_session: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """One rule (``order.shipped`` -> campaign trigger carrying the event id); ``overrides``
    are deep-merged. ``short_session`` (6 s instead of the bridge's 45 s) lets a killed
    member's partitions move on in seconds."""
    props = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000} if short_session else {}
    rule = {
        "name": "shipped",
        "topic": topic,
        "when": {"type": "order.shipped"},
        "action": "campaign_trigger",
        "campaign_id": campaign_id,
        "recipient": {"external_user_id": "$.user.id"},
        "trigger_properties": {"eid": "$.id"},
    }
    base = common_config(
        bootstrap,
        sandbox.url,
        group=group,
        dlq=dlq,
        rules=[rule],
        kafka={"properties": props},
        shutdown={"drain_deadline_s": 15},
    )
    return deep_merge(base, overrides)


def with_new_port(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` for one more bridge beside others: its metrics server binds an ephemeral port
    of its own (``Bridge.port`` reads it from the start-up log), whatever ``cfg`` said."""
    return deep_merge(cfg, {"observability": dict(EPHEMERAL_METRICS)})


# -- what the sandbox accepted ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One recorded trigger request."""

    time: float
    status: int
    fault: str | None
    eids: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


def sends(sandbox: Sandbox) -> list[Send]:
    out = []
    for r in sandbox.requests(TRIGGER):
        body = r.get("body") if isinstance(r.get("body"), dict) else {}
        eids = tuple(
            str((rc.get("trigger_properties") or {}).get("eid"))
            for rc in (body or {}).get("recipients") or []
        )
        out.append(Send(float(r["time"]), int(r["status"]), r.get("fault"), eids))
    return out


def accepted_counts(records: list[Send]) -> Counter[str]:
    got: Counter[str] = Counter()
    for s in records:
        if s.accepted:
            got.update(s.eids)
    return got


@dataclass
class Tally:
    expected: int
    accepted_once: int
    lost: int
    duplicates: int
    unexpected: int
    lost_sample: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "unexpected_accepted": self.unexpected,
        }


def tally(wl: Workload, got: Counter[str]) -> Tally:
    exp = wl.expected
    lost = sorted(exp - set(got), key=lambda s: (len(s), s))
    dups = sum(c - 1 for e, c in got.items() if e in exp and c > 1)
    unexpected = sum(c for e, c in got.items() if e not in exp)
    return Tally(len(exp), len(exp & set(got)), len(lost), dups, unexpected, lost[:10])


# -- polling, HTTP, metrics -------------------------------------------------------------------


def readyz(bridge: Bridge) -> tuple[int, dict[str, Any]]:
    """(status, body) of the bridge's /readyz; (0, {}) while it does not answer."""
    try:
        r = httpx.get(f"http://127.0.0.1:{bridge.port}/readyz", timeout=2)
    except httpx.HTTPError:
        return 0, {}
    try:
        body = r.json()
    except ValueError:
        body = {}
    return r.status_code, body


def scrape(bridge: Bridge) -> dict[str, float]:
    """Every sample of /metrics summed by ``name{label=value,...}`` and by bare name.

    Returns {} while the bridge does not answer.
    """
    try:
        text = bridge.metrics()
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for name, labels, value in scrape_metrics(text):
        out[name] = out.get(name, 0.0) + value
        for k, v in labels.items():
            key = f"{name}{{{k}={v}}}"
            out[key] = out.get(key, 0.0) + value
    return out


def sandbox_accepted(sandbox: Sandbox) -> int:
    return int(sandbox.stats()["accepted_recipients"])


def write_results(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"reliability-{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def log_tail(bridge: Bridge, n: int = 4000) -> str:
    try:
        return bridge.log()[-n:]
    except OSError:
        return "<no log>"
