"""The budget as a shared, prioritised resource (issue #14): even spend at 1/4/16 replicas,
transactional latency under a bulk backlog. Real broker, real bridge processes, the sandbox
enforcing a scaled-down clock-aligned window.

Part of ``python -m bench`` (scenarios ``budget_share`` and ``priorities``), or on its own::

    python -m bench.budget [--short] [--src DIR --label old] [--only even,priorities]

``--src`` runs the bridges from another checkout (e.g. a ``git worktree`` of main) with this
benchmark, to measure old and new code side by side; old code gets no ``priority`` /
``bulk_floor`` settings (it has none).

Scaling: Braze's window is an hour of 250,000 requests; here a window is ``window`` seconds
of ``limit`` requests, small enough that 16 bridge processes sharing 2 cores keep up
(30 requests/s in all, 2 per process at 16) and large enough that a tenth of a window holds
enough requests (90) for a +-15 % bound to mean something.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from bench import events as ev
from bench.harness import (
    RESULTS,
    BenchError,
    BridgeProc,
    Broker,
    Sandbox,
    bridge_config,
    create_topic,
    produce_values,
    unique,
    wait_until,
)
from bench.scenarios import Ctx, row, save

RESERVE = 0.1
TRIGGER = "/campaigns/trigger/send"
PARTITIONS = 16


def _prefix(src: Path | None) -> Sequence[str]:
    return ("env", f"--chdir={src}") if src is not None else ()


def _even_run(
    ctx: Ctx,
    topic: str,
    n: int,
    limit: int,
    window: int,
    measured: int,
    src: Path | None,
) -> dict[str, Any]:
    sandbox = Sandbox("--hourly-limit", str(limit), "--hourly-window-s", str(window), "--seed", "1")
    group = unique(f"bench-even{n}")
    rules = ev.match_rules(topic, n_rules=1)
    bridges: list[BridgeProc] = []
    try:
        for i in range(n):
            cfg = bridge_config(
                ctx.bootstrap,
                sandbox.url,
                group,
                ctx.dlq,
                rules,
                shutdown={"drain_deadline_s": 2},
                kafka={"properties": {"session.timeout.ms": 10000, "heartbeat.interval.ms": 1000}},
            )
            bridges.append(BridgeProc(ctx.workdir, cfg, name=f"even{n}-{i}", prefix=_prefix(src)))
        for b in bridges:
            b.wait_ready(60)
        wait_until(
            lambda: all(b.metrics().get("bridge_events_consumed_total", 0) > 0 for b in bridges),
            180,
            0.5,
            "every replica consuming",
        )
        m_start = math.ceil(time.time() / window) * window + window  # one warm-up window
        m_end = m_start + measured * window
        wait_until(lambda: time.time() > m_end + 0.5, m_end - time.time() + 60, 0.2, "end")
        for b in bridges:
            if b.proc.poll() is not None:
                raise BenchError(f"{b.name} exited {b.proc.returncode}: {b.log()[-3000:]}")
        reqs = sandbox.requests(path=TRIGGER)
    finally:
        for b in bridges:
            b.terminate()
        for b in bridges:
            b.stop()
        sandbox.stop()
    usable = limit * (1 - RESERVE)
    tenths = [[0] * 10 for _ in range(measured)]
    n429 = 0
    times: list[float] = []
    for r in reqs:
        t = float(r["time"])
        if not m_start <= t < m_end:
            continue
        if r["status"] == 429:
            n429 += 1
            continue
        if 200 <= r["status"] < 300:
            k, tenth = divmod(int((t - m_start) / window * 10), 10)
            tenths[k][tenth] += 1
            times.append(t - m_start)
    used = [sum(x) for x in tenths]
    worst = max(abs(x / (u / 10) - 1) for u, ts in zip(used, tenths, strict=True) for x in ts)
    return {
        "replicas": n,
        "limit": limit,
        "window_s": window,
        "usable": usable,
        "used_per_window": used,
        "share_of_usable": [u / usable for u in used],
        "per_tenth": tenths,
        "worst_tenth_off": worst,
        "429_after_warmup": n429,
        "request_times": times,
    }


def even(
    ctx: Ctx, src: Path | None = None, replicas: Sequence[int] | None = None
) -> dict[str, Any]:
    window = 10 if ctx.short else 30
    limit = (20 if ctx.short else 30) * window
    measured = 1 if ctx.short else 2
    counts = list(replicas or ((4,) if ctx.short else (1, 4, 16)))
    topic = unique("bench-even")
    create_topic(ctx.bootstrap, topic, PARTITIONS)
    # warm-up + join + measured windows + spare, at 50 recipients per request
    n_events = (measured + 3) * limit * 50
    secs = produce_values(ctx.bootstrap, topic, ev.json_values(n_events, ev.MATCH_TYPE), PARTITIONS)
    print(f"  produced {n_events:,} events in {secs:.1f}s", flush=True)
    runs, rows = [], []
    for n in counts:
        r = _even_run(ctx, topic, n, limit, window, measured, src)
        runs.append(r)
        share = min(r["share_of_usable"])
        print(
            f"  {n} bridge(s): used {r['used_per_window']} of {r['usable']:g} usable, "
            f"worst tenth {r['worst_tenth_off'] * 100:+.0f} %, 429 {r['429_after_warmup']}, "
            f"per tenth {r['per_tenth']}",
            flush=True,
        )
        rows += [
            row(f"{n} bridge(s): budget used (min window)", share, None, "≥ 95 %", share >= 0.95),
            row(
                f"{n} bridge(s): worst tenth vs even",
                r["worst_tenth_off"],
                None,
                "≤ 15 %",
                r["worst_tenth_off"] <= 0.15,
            ),
            row(
                f"{n} bridge(s): 429 after warm-up",
                r["429_after_warmup"],
                target="0",
                met=r["429_after_warmup"] == 0,
            ),
        ]
    label = f" ({src})" if src else ""
    return save(
        ctx,
        {
            "scenario": "budget_share",
            "title": f"Even spend: {limit} req per {window}s window, {counts} replicas{label}",
            "rows": rows,
            "details": {"limit": limit, "window_s": window, "src": str(src or ""), "runs": runs},
        },
    )


def paced_stream(
    bootstrap: str,
    topic: str,
    prefix: str,
    rate: float,
    seconds: float,
    event_type: str = ev.MATCH_TYPE,
) -> set[str]:
    """Produce ``rate`` keyless events a second for ``seconds`` (ids ``prefix0``, ...); each
    carries its production time in ``ts``, for :func:`trigger_latencies`. Returns the ids.
    The benchmark and ``tests/reliability/test_budget_priorities.py`` both use it."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    ids: set[str] = set()
    start = time.time()
    i = 0
    while (now := time.time()) < start + seconds:
        eid = f"{prefix}{i}"
        ids.add(eid)
        p.produce(
            topic, orjson.dumps({"type": event_type, "id": eid, "ts": now, "user": {"id": eid}})
        )
        p.poll(0)
        i += 1
        time.sleep(max(0.0, start + i / rate - time.time()))  # the stream's own rate
    p.flush(10)
    return ids


def trigger_latencies(
    requests: Sequence[dict[str, Any]], campaign: str, ids: set[str]
) -> dict[str, float]:
    """Event id -> seconds from production (``ts``, see :func:`paced_stream`) to the first
    accepted trigger request of ``campaign`` that carried it, for the ``ids`` delivered."""
    out: dict[str, float] = {}
    for r in requests:
        body = r["body"] if isinstance(r.get("body"), dict) else {}
        if body.get("campaign_id") != campaign or not 200 <= r["status"] < 300:
            continue
        for rc in body.get("recipients") or []:
            tp = rc.get("trigger_properties") or {}
            if tp.get("eid") in ids and tp["eid"] not in out:
                out[tp["eid"]] = float(r["time"]) - float(tp["ts"])
    return out


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank); NaN for no values."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(len(xs) * q) - 1))] if xs else math.nan


def _tx_latencies(sandbox: Sandbox, ids: set[str]) -> dict[str, float]:
    return trigger_latencies(sandbox.requests(path=TRIGGER), "bench-tx", ids)


def priorities(ctx: Ctx, src: Path | None = None) -> dict[str, Any]:
    window = 10 if ctx.short else 20
    limit = 30 * window
    floor = 0.3
    rate = 5.0
    n_bulk = (4 if ctx.short else 6) * limit * 50
    bulk, tx = unique("bench-bulk"), unique("bench-tx")
    create_topic(ctx.bootstrap, bulk, 4)
    create_topic(ctx.bootstrap, tx, 1)
    sandbox = Sandbox("--hourly-limit", str(limit), "--hourly-window-s", str(window))
    rule: dict[str, Any] = {
        "when": {"type": ev.MATCH_TYPE},
        "action": "campaign_trigger",
        "recipient": {"external_user_id": "$.user.id"},
    }
    bulk_rule = {**rule, "name": "digest", "topic": bulk, "campaign_id": "bench-bulk"}
    bulk_rule["trigger_properties"] = {"order_id": "$.order.id"}
    tx_rule = {**rule, "name": "shipped", "topic": tx, "campaign_id": "bench-tx"}
    tx_rule["trigger_properties"] = {"eid": "$.id", "ts": "$.ts"}
    delivery: dict[str, Any] = {"pacing": {"reserve_fraction": RESERVE}}
    if src is None:
        bulk_rule["priority"] = "bulk"
        delivery["bulk_floor"] = floor
    cfg = bridge_config(
        ctx.bootstrap,
        sandbox.url,
        unique("bench-prio"),
        ctx.dlq,
        [bulk_rule, tx_rule],
        delivery=delivery,
        kafka={"max_events_in_flight": n_bulk + 10_000},
        shutdown={"drain_deadline_s": 2},
    )
    b = BridgeProc(ctx.workdir, cfg, name="priorities", prefix=_prefix(src))
    try:
        b.wait_ready(60)
        warm = paced_stream(ctx.bootstrap, tx, "w", rate, 1.0)  # assignment, connections
        wait_until(lambda: len(_tx_latencies(sandbox, warm)) == len(warm), 90, 0.5, "warm-up")
        quiet_ids = paced_stream(ctx.bootstrap, tx, "q", rate, window)
        wait_until(
            lambda: len(_tx_latencies(sandbox, quiet_ids)) == len(quiet_ids), 60, 0.5, "quiet"
        )
        quiet = _tx_latencies(sandbox, quiet_ids)
        produce_values(ctx.bootstrap, bulk, ev.json_values(n_bulk, ev.MATCH_TYPE), 4)
        wait_until(
            lambda: b.metrics().get("bridge_events_consumed_total", 0) >= n_bulk,
            120,
            0.5,
            "backlog consumed",
        )
        t0 = time.time()
        busy_ids = paced_stream(ctx.bootstrap, tx, "b", rate, 2 * window)
        try:
            wait_until(
                lambda: len(_tx_latencies(sandbox, busy_ids)) == len(busy_ids),
                8 * window,
                0.5,
                "busy stream delivered",
            )
        except BenchError:
            pass  # old code: part of the stream may wait behind the backlog; reported below
        busy = _tx_latencies(sandbox, busy_ids)
        t1 = time.time()
        reqs = sandbox.requests(path=TRIGGER)
    finally:
        b.terminate()
        b.stop()
        sandbox.stop()
    inside = [r for r in reqs if t0 <= float(r["time"]) < t1]
    n429 = sum(1 for r in inside if r["status"] == 429)
    bulk_times = [
        float(r["time"]) - t0
        for r in inside
        if 200 <= r["status"] < 300 and (r.get("body") or {}).get("campaign_id") == "bench-bulk"
    ]
    undelivered = len(busy_ids) - len(busy)
    # an undelivered event counts as the whole run's length (a lower bound of its latency)
    busy_lat = list(busy.values()) + [t1 - t0] * undelivered
    p99q, p99b = percentile(list(quiet.values()), 0.99), percentile(busy_lat, 0.99)
    print(
        f"  transactional p50/p99: quiet {percentile(list(quiet.values()), 0.5):.3f}/{p99q:.3f}s, "
        f"bulk backlog {percentile(busy_lat, 0.5):.3f}/{p99b:.3f}s ({undelivered} undelivered); "
        f"bulk requests {len(bulk_times)}, 429 {n429}",
        flush=True,
    )
    return save(
        ctx,
        {
            "scenario": "priorities",
            "title": f"Bulk backlog + {rate:g}/s transactional, {limit} req per {window}s, "
            f"bulk_floor {floor}" + (f" ({src})" if src else ""),
            "rows": [
                row("transactional p99 quiet (s)", p99q),
                row(
                    "transactional p99 under bulk backlog (s)",
                    p99b,
                    p99q,
                    "≤ 2× quiet",
                    p99b <= 2 * p99q,
                ),
                row("429 under the backlog", n429, target="0", met=n429 == 0),
            ],
            "details": {
                "limit": limit,
                "window_s": window,
                "bulk_floor": floor,
                "src": str(src or ""),
                "tx_quiet": sorted(quiet.values()),
                "tx_busy": sorted(busy_lat),
                "undelivered": undelivered,
                "bulk_request_times": bulk_times,
                "429": n429,
            },
        },
    )


def plot(results: Path, labels: Sequence[str]) -> list[Path]:
    """Plots of ``results/LABEL/*.json`` side by side (e.g. old and new) into ``results``."""
    return plot_dirs([(lab, results / lab) for lab in labels if (results / lab).is_dir()], results)


def plot_dirs(found: Sequence[tuple[str, Path]], results: Path) -> list[Path]:
    """Spend over the window per replica count; transactional latency per priority setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[Path] = []
    shares = [
        (lab, d / "budget_share.json") for lab, d in found if (d / "budget_share.json").exists()
    ]
    if shares:
        fig, axes = plt.subplots(1, len(shares), figsize=(6 * len(shares), 4), squeeze=False)
        for ax, (lab, path) in zip(axes[0], shares, strict=True):
            d = json.loads(path.read_text())["details"]
            w, usable = d["window_s"], d["limit"] * (1 - RESERVE)
            for r in d["runs"]:
                ts = sorted(r["request_times"])
                k = len(r["used_per_window"])
                ax.plot(
                    [t / w for t in ts],
                    [(i + 1) / usable for i in range(len(ts))],
                    label=f"{r['replicas']} replica(s)",
                )
            ax.plot([0, k], [0, k], "k--", lw=0.8, label="even")
            ax.set_xlabel("time (windows)")
            ax.set_ylabel("cumulative spend (usable budgets)")
            ax.set_title(f"{lab}: spend over the window")
            ax.legend()
        out.append(results / "budget_share.png")
        fig.tight_layout()
        fig.savefig(out[-1], dpi=100)
        plt.close(fig)
    prios = [(lab, d / "priorities.json") for lab, d in found if (d / "priorities.json").exists()]
    if prios:
        fig, ax = plt.subplots(figsize=(7, 4))
        for lab, path in prios:
            d = json.loads(path.read_text())["details"]
            for key, name in (("tx_quiet", "no backlog"), ("tx_busy", "bulk backlog")):
                xs = d[key]
                ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=f"{lab}: {name}")
        ax.set_xscale("log")
        ax.set_xlabel("transactional latency, produced -> request at the sandbox (s)")
        ax.set_ylabel("CDF")
        ax.set_title("Transactional latency per priority setting")
        ax.legend()
        out.append(results / "priorities.png")
        fig.tight_layout()
        fig.savefig(out[-1], dpi=100)
        plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.budget", description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--src", type=Path, help="run the bridges from this checkout (old code)")
    ap.add_argument("--label", default="new", help="results go to bench/results/budget/LABEL")
    ap.add_argument("--only", default="even,priorities")
    ap.add_argument("--replicas", help="comma-separated replica counts (default 1,4,16)")
    ap.add_argument("--plot", help="only plot these comma-separated labels")
    a = ap.parse_args(argv)
    base = RESULTS / "budget"
    if a.plot:
        print("\n".join(str(p) for p in plot(base, a.plot.split(","))))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    broker = Broker()
    try:
        bootstrap = broker.start()
        ctx = Ctx(a.short, bootstrap, workdir, results=base / a.label)
        ctx.dlq = unique("bench-dlq")
        create_topic(bootstrap, ctx.dlq, 1)
        src = a.src.resolve() if a.src else None
        only = set(a.only.split(","))
        if "even" in only:
            reps = [int(x) for x in a.replicas.split(",")] if a.replicas else None
            even(ctx, src, reps)
        if "priorities" in only:
            priorities(ctx, src)
    finally:
        broker.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
