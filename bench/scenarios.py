"""The seven benchmark scenarios. Each returns a result dict and writes it to JSON.

A result: ``{"scenario", "title", "rows": [row...], "details": {...}, "series": {...}}``
with rows ``{"metric", "bridge", "baseline", "ratio", "target", "met", "note"}``.
Failures of the system under test (a bridge exiting non-zero, lost events) raise
:class:`~bench.harness.BenchError`; missed targets only set ``met: false``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import events as ev
from bench import registry as reg
from bench.harness import (
    PY,
    RESULTS,
    BenchError,
    BridgeProc,
    Offsets,
    Sample,
    Sampler,
    Sandbox,
    bridge_config,
    create_topic,
    produce_values,
    run_json_subprocess,
    steady_rate,
    steady_window,
    unique,
    value_at,
    wait_until,
)

RESERVE = 0.1  # delivery.pacing.reserve_fraction default


@dataclass
class Ctx:
    short: bool
    bootstrap: str
    workdir: Path
    registry_mode: str = "auto"
    profile: bool = False
    n: int = 1_000_000
    results: Path = RESULTS
    dlq: str = ""
    topics: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (topic, count)
    stage_costs: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def interval(self) -> float:
        return 0.2 if self.short else 0.5


def row(
    metric: str,
    bridge: float | None,
    baseline: float | None = None,
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    ratio = bridge / baseline if bridge is not None and baseline else None
    return {
        "metric": metric,
        "bridge": bridge,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


def series(samples: list[Sample], *keys: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"t": [round(s.t, 3) for s in samples]}
    for k in keys:
        out[k] = [s.values.get(k, math.nan) for s in samples]
    return out


def save(ctx: Ctx, result: dict[str, Any]) -> dict[str, Any]:
    result["mode"] = "short" if ctx.short else "full"
    result["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ctx.results.mkdir(parents=True, exist_ok=True)
    path = ctx.results / f"{result['scenario']}.json"
    path.write_text(json.dumps(result, indent=1, default=_nan_safe))
    return result


def _nan_safe(o: Any) -> Any:
    return None


def _jsonable(values: list[float]) -> list[float | None]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def _zero_sandbox(*extra: str) -> Sandbox:
    return Sandbox("--hourly-limit", "1000000000", "--record-limit", "0", "--seed", "1", *extra)


def _check_rc(*bridges: BridgeProc) -> None:
    for b in bridges:
        rc = b.stop()
        if rc != 0:
            raise BenchError(f"{b.name} exited {rc}: {b.log()[-3000:]}")


def _batch_hist(metrics: dict[str, float]) -> dict[str, float]:
    """le -> cumulative count of bridge_batch_recipients (all endpoints summed)."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if k.startswith("bridge_batch_recipients_bucket{"):
            le = k.split("le=", 1)[1].split(",", 1)[0].rstrip("}")
            out[le] = out.get(le, 0.0) + v
    return dict(sorted(out.items(), key=lambda kv: float(kv[0])))


def _cpu_cores(
    samples: list[Sample], idx: int = 0, key: str | None = None, total: float = 0
) -> float:
    """Cores the bridge process used: over the steady phase of ``key`` when given (start-up
    and the idle tail would dilute it), else over all samples."""
    cpu = f"cpu_s_{idx}"
    w = steady_window(samples, key, total) if key else None
    if w is not None:
        a, b = value_at(samples, cpu, w[0]), value_at(samples, cpu, w[1])
        if a is not None and b is not None and w[1] > w[0]:
            return (b - a) / (w[1] - w[0])
    pts = [(s.t, s.values[cpu]) for s in samples if cpu in s.values]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return 0.0
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def cpu_us_per_event(samples: list[Sample], key: str, total: float) -> float | None:
    """CPU per event over the steady phase: the window's CPU seconds over the events counted
    in that window (a first sample may already count some; they are not in the window)."""
    rate, _secs = steady_rate(samples, key, total)
    return _cpu_cores(samples, key=key, total=total) / rate * 1e6 if rate else None


def _max_rss(samples: list[Sample], n: int = 1) -> float:
    return max((s.values.get(f"rss_mb_{i}", 0.0) for s in samples for i in range(n)), default=0)


def _decoding(ctx: Ctx, topic: str, fmt: str) -> dict[str, Any]:
    """Bridge config overrides for ``fmt``: Confluent Avro through the bench registry."""
    if fmt != "avro":
        return {}
    return {
        "decoding": {topic: {"format": "confluent_avro"}},
        "schema_registry": {"url": ctx.topics["_registry"][0]},
    }


# -- data ----------------------------------------------------------------------------------
def prepare_topic(ctx: Ctx, name: str, values: list[bytes], partitions: int = 4) -> str:
    topic = unique(f"bench-{name}")
    create_topic(ctx.bootstrap, topic, partitions)
    secs = produce_values(ctx.bootstrap, topic, values, partitions)
    print(f"  produced {len(values):,} events to {topic} in {secs:.1f}s", flush=True)
    ctx.topics[name] = (topic, len(values))
    return topic


def run_bridge_to_end(
    ctx: Ctx,
    topic: str,
    total: int,
    rules: list[dict[str, Any]],
    sandbox: Sandbox,
    name: str,
    timeout: float,
    **overrides: Any,
) -> dict[str, Any]:
    """Run one bridge over the whole topic with a fresh group; sample until committed = end."""
    group = unique(f"bench-{name}")
    cfg = bridge_config(ctx.bootstrap, sandbox.url, group, ctx.dlq, rules, **overrides)
    offsets = Offsets(ctx.bootstrap, topic)
    end = offsets.end()
    if end != total:
        raise BenchError(f"{topic} has {end} events, expected {total}")
    t0 = time.monotonic()
    b = BridgeProc(ctx.workdir, cfg, name=name)
    sampler = Sampler(ctx.interval, [b], sandbox, offsets, group).start()
    try:
        wait_until(
            lambda: (s := sampler.latest()) is not None and s.values.get("committed", 0) >= end,
            timeout,
            0.05,
            f"{name} to commit {end} offsets",
        )
        wall = time.monotonic() - t0
        time.sleep(ctx.interval * 1.5)  # one more sample after the end
        final = b.metrics()
    except BenchError:
        if b.proc.poll() is not None:
            raise BenchError(f"{name} exited {b.proc.returncode}: {b.log()[-3000:]}") from None
        raise
    finally:
        samples = sampler.stop()
        offsets.close()
        b.stop()
    _check_rc(b)
    return {"samples": samples, "wall": wall, "final": final, "group": group, "end": end}


# -- 1 + 3a: filter path -------------------------------------------------------------------
def filter_path(ctx: Ctx, fmt: str = "json") -> dict[str, Any]:
    name = "filter" if fmt == "json" else "avro_filter"
    topic, total = ctx.topics[name]
    sandbox = _zero_sandbox()
    extra = _decoding(ctx, topic, fmt)
    try:
        r = run_bridge_to_end(
            ctx,
            topic,
            total,
            ev.match_rules(topic),
            sandbox,
            name,
            600 if not ctx.short else 120,
            **extra,
        )
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    samples = r["samples"]
    consumed = r["final"].get("bridge_events_consumed_total", 0)
    if consumed < total:
        raise BenchError(f"{name}: bridge consumed {consumed} < {total}")
    if stats.get("requests_total", 0):
        raise BenchError(f"{name}: no event should match, sandbox got {stats['requests_total']}")
    rate, secs = steady_rate(samples, "bridge_events_consumed_total", total)
    cmd = [PY, "-m", "bench.rawconsumer", "--bootstrap", ctx.bootstrap, "--topic", topic]
    cmd += ["--n", str(total), "--format", fmt, "--schema-file", str(ev.SCHEMA_PATH)]
    base = run_json_subprocess(cmd, 900)
    ratio = rate / base["rate"] if base["rate"] else 0.0
    cores = _cpu_cores(samples, key="bridge_events_consumed_total", total=total)
    result = {
        "scenario": name,
        "title": f"Filter path ({fmt}): {total:,} events, none match 3 rules",
        "rows": [
            row("events/s", rate, base["rate"], "≥ 50 % of raw consumer", ratio >= 0.5),
            row(
                "CPU µs/event",
                cpu_us_per_event(samples, "bridge_events_consumed_total", total),
                base["cpu_s"] / total * 1e6,
                note="whole process, all threads",
            ),
        ],
        "details": {
            "events": total,
            "bridge_seconds_steady": secs,
            "bridge_wall_incl_start": r["wall"],
            "bridge_cpu_cores": cores,
            "bridge_max_rss_mb": _max_rss(samples),
            "baseline": base,
        },
        "series": series(samples, "bridge_events_consumed_total", "rss_mb_0", "cpu_s_0"),
    }
    return save(ctx, result)


# -- 2 + 3b: match path --------------------------------------------------------------------
def match_path(ctx: Ctx, fmt: str = "json") -> dict[str, Any]:
    name = "match" if fmt == "json" else "avro_match"
    topic, total = ctx.topics[name]
    sandbox = _zero_sandbox()
    extra = _decoding(ctx, topic, fmt)
    try:
        r = run_bridge_to_end(
            ctx,
            topic,
            total,
            ev.match_rules(topic),
            sandbox,
            name,
            900 if not ctx.short else 150,
            **extra,
        )
        stats = sandbox.stats()
        naive_s = 3.0 if ctx.short else 20.0
        cmd = [PY, "-m", "bench.naive", "--bootstrap", ctx.bootstrap, "--topic", topic]
        cmd += ["--url", sandbox.url, "--max-seconds", str(naive_s), "--max-events", str(total)]
        cmd += ["--format", fmt, "--schema-file", str(ev.SCHEMA_PATH)]
        naive = run_json_subprocess(cmd, naive_s + 120)
    finally:
        sandbox.stop()
    samples = r["samples"]
    want = 3 * total
    got = stats["accepted_recipients"]  # read before the naive baseline ran
    if got < want:
        raise BenchError(f"{name}: sandbox accepted {got} recipients < {want} expected")
    if naive["non_2xx"]:
        raise BenchError(f"{name}: the naive baseline got {naive['non_2xx']} non-2xx answers")
    rate, secs = steady_rate(samples, "sb_recipients", want)
    cores = _cpu_cores(samples, key="sb_recipients", total=want)
    naive_rate = naive["recipients"] / naive["seconds"] if naive["seconds"] else 0.0
    requests = r["final"].get("bridge_requests_total", 0)
    hist = _batch_hist(r["final"])
    per_core = rate / cores if cores else None
    result = {
        "scenario": name,
        "title": f"Match path ({fmt}): {total:,} events x 3 rules -> campaign triggers",
        "rows": [
            row(
                "recipients/s",
                rate,
                naive_rate,
                "≥ 30k/s on one core",
                (per_core or 0) >= 30_000 and cores <= 1.5,
                f"baseline = naive, {naive['seconds']:.0f}s capped run, extrapolated",
            ),
            row("recipients per CPU-second", per_core, note=f"bridge used {cores:.2f} cores"),
            row("recipients/request", want / requests if requests else None, 1.0, "≤ 50"),
            row("max RSS MB", _max_rss(samples), target="≤ 200 MB", met=_max_rss(samples) <= 200),
        ],
        "details": {
            "events": total,
            "recipients": want,
            "duplicates": got - want,
            "bridge_requests": requests,
            "bridge_seconds_steady": secs,
            "bridge_wall_incl_start": r["wall"],
            "bridge_cpu_cores": cores,
            "bridge_max_rss_mb": _max_rss(samples),
            "batch_fill_cumulative": hist,
            "naive": naive,
            "naive_extrapolated_s_for_all": want / naive_rate if naive_rate else None,
        },
        "series": series(
            samples, "sb_recipients", "bridge_events_consumed_total", "rss_mb_0", "cpu_s_0"
        ),
    }
    return save(ctx, result)


# -- 3: Avro data --------------------------------------------------------------------------
def prepare_avro(ctx: Ctx, n: int) -> tuple[str, Any]:
    """Start the registry, register the schema, produce both Avro topics."""
    url, kind, stop = reg.start(ctx.registry_mode)
    try:
        subject_topic = unique("bench-avro")
        sid = reg.register(url, f"{subject_topic}-value", ev.avro_schema_text())
        ctx.topics["_registry"] = (url, 0)
        for name, etype in (("avro_filter", ev.FILTER_TYPE), ("avro_match", ev.MATCH_TYPE)):
            prepare_topic(ctx, name, ev.avro_values(n, etype, sid))
    except Exception:
        stop()
        raise
    return kind, stop


# -- 4 + 7: against Braze's limit ----------------------------------------------------------
def _budget_run(
    ctx: Ctx,
    topic: str,
    n_bridges: int,
    limit: int,
    window: int,
    measure_windows: int,
    faults: str | None,
    label: str,
) -> dict[str, Any]:
    args = ["--hourly-limit", str(limit), "--hourly-window-s", str(window), "--seed", "1"]
    if faults:
        args += ["--faults", faults]
    sandbox = Sandbox(*args)
    group = unique(f"bench-{label}")
    rules = ev.match_rules(topic, n_rules=1)
    bridges: list[BridgeProc] = []
    try:
        for i in range(n_bridges):
            cfg = bridge_config(
                ctx.bootstrap,
                sandbox.url,
                group,
                ctx.dlq,
                rules,
                shutdown={"drain_deadline_s": 2},
                kafka={"max_events_in_flight": 20_000},
            )
            bridges.append(BridgeProc(ctx.workdir, cfg, name=f"{label}-{i}"))
        sampler = Sampler(ctx.interval, bridges, sandbox).start()
        try:
            for b in bridges:
                b.wait_ready()
            first = wait_until(
                lambda: sandbox.stats().get("requests_total", 0) > 0, 60, 0.05, "first request"
            )
            del first
            first_req = sandbox.requests()[0]["time"]
            # every replica must be consuming before the measured windows start
            all_in = time.time()
            try:
                wait_until(
                    lambda: all(
                        b.metrics().get("bridge_events_consumed_total", 0) > 0 for b in bridges
                    ),
                    60,
                    0.2,
                    "all replicas consuming",
                )
                all_in = time.time()
            except BenchError:
                pass  # fewer partitions than replicas, or slow join: measure anyway
            w_first = math.floor(first_req / window) * window
            m_start = max(w_first + window, math.ceil(all_in / window) * window)
            m_end = m_start + measure_windows * window
            wait_until(lambda: time.time() > m_end + 0.5, m_end - time.time() + 60, 0.1, "end")
            for b in bridges:
                if b.proc.poll() is not None:
                    raise BenchError(f"{b.name} exited {b.proc.returncode}: {b.log()[-3000:]}")
        finally:
            samples = sampler.stop()
        reqs = sandbox.requests(path="/campaigns/trigger/send")
    finally:
        for b in bridges:
            b.terminate()
        for b in bridges:
            b.stop()
        sandbox.stop()
    _check_rc(*bridges)
    inside = [r for r in reqs if m_start <= r["time"] < m_end]
    ok = [r for r in inside if 200 <= r["status"] < 300]
    after_first = [r for r in reqs if r["time"] >= w_first + window and r["time"] < m_end]
    n429 = sum(1 for r in after_first if r["status"] == 429)
    n429_first = sum(1 for r in reqs if r["time"] < w_first + window and r["status"] == 429)
    recips = [len(r["body"].get("recipients") or []) for r in ok if isinstance(r["body"], dict)]
    per_req = sum(recips) / len(recips) if recips else 0.0
    budget = limit / window
    rps = len(ok) / (m_end - m_start)
    lat = [r for r in reqs if 200 <= r["status"] < 300]
    return {
        "bridges": n_bridges,
        "rps": rps,
        "budget_rps": budget,
        "usable_rps": budget * (1 - RESERVE),
        "share_raw": rps / budget,
        "share_usable": rps / (budget * (1 - RESERVE)),
        "429_after_first_window": n429,
        "429_first_window": n429_first,
        "recipients_per_request": per_req,
        "min_recipients_per_request": min(recips) if recips else 0,
        "measured_s": m_end - m_start,
        "windows": measure_windows,
        "accepted_total": len(lat),
        "max_rss_mb": _max_rss(samples, n_bridges),
        "series": {
            "t": [round(s.t, 3) for s in samples],
            "sb_accepted": _jsonable([s.values.get("sb_accepted", math.nan) for s in samples]),
            "sb_429": _jsonable([s.values.get("sb_429", math.nan) for s in samples]),
        },
        "request_times": [r["time"] - w_first for r in reqs if 200 <= r["status"] < 300],
    }


def budget(ctx: Ctx) -> dict[str, Any]:
    topic, _ = ctx.topics["budget"]
    # short windows need a budget above replicas x max_in_flight (4 x 16) per window
    window = 5 if ctx.short else 30
    limit = (20 if ctx.short else 10) * window
    measure = 1 if ctx.short else 2
    runs = []
    rows = []
    for k in (1, 2, 4):
        r = _budget_run(ctx, topic, k, limit, window, measure, None, f"budget{k}")
        runs.append(r)
        print(
            f"  {k} bridge(s): {r['rps']:.2f} req/s of {r['budget_rps']:.1f} budget "
            f"({r['share_usable'] * 100:.1f} % of usable), 429 after first window: "
            f"{r['429_after_first_window']}, {r['recipients_per_request']:.1f} recipients/req",
            flush=True,
        )
        rows.append(
            row(
                f"{k} bridge(s): req/s (share of usable budget)",
                r["rps"],
                r["usable_rps"],
                "≥ 95 % of usable",
                r["share_usable"] >= 0.95,
                f"raw share {r['share_raw'] * 100:.1f} % of {r['budget_rps']:.0f} req/s",
            )
        )
        rows.append(
            row(
                f"{k} bridge(s): 429s after first window",
                r["429_after_first_window"],
                target="0",
                met=r["429_after_first_window"] == 0,
            )
        )
        rows.append(
            row(
                f"{k} bridge(s): recipients/request",
                r["recipients_per_request"],
                target="≥ 49",
                met=r["recipients_per_request"] >= 49,
            )
        )
    result = {
        "scenario": "budget",
        "title": f"Against Braze's limit: {limit} req per {window}s window, 1/2/4 replicas",
        "rows": rows,
        "details": {"limit": limit, "window_s": window, "reserve_fraction": RESERVE, "runs": runs},
    }
    return save(ctx, result)


def realistic(ctx: Ctx) -> dict[str, Any]:
    topic, _ = ctx.topics["budget"]
    window = 5 if ctx.short else 30
    limit = 40 * window  # 40 requests/s
    measure = 1 if ctx.short else 2
    faults = json.dumps({"latency_ms": {"min": 50, "max": 300}})
    r = _budget_run(ctx, topic, 1, limit, window, measure, faults, "realistic")
    result = {
        "scenario": "realistic",
        "title": f"Sandbox latency 50-300 ms, {limit} req per {window}s window, 1 replica",
        "rows": [
            row(
                "req/s (share of usable budget)",
                r["rps"],
                r["usable_rps"],
                "≥ 95 % of usable (budget-bound)",
                r["share_usable"] >= 0.95,
                f"raw share {r['share_raw'] * 100:.1f} %; bridge ceiling at 16 in flight "
                f"≈ {16 / 0.175:.0f} req/s",
            ),
            row(
                "429s after first window",
                r["429_after_first_window"],
                target="0",
                met=r["429_after_first_window"] == 0,
            ),
            row(
                "recipients/request",
                r["recipients_per_request"],
                target="≥ 49",
                met=r["recipients_per_request"] >= 49,
            ),
        ],
        "details": {"limit": limit, "window_s": window, "run": r},
    }
    return save(ctx, result)


# -- 5: latency ----------------------------------------------------------------------------
def latency(ctx: Ctx) -> dict[str, Any]:
    import orjson
    from confluent_kafka import Producer

    rate, secs = 1000, (5.0 if ctx.short else 60.0)
    linger_ms = 100
    topic = unique("bench-latency")
    create_topic(ctx.bootstrap, topic, 4)
    sandbox = Sandbox("--hourly-limit", "1000000000", "--seed", "1", "--record-limit", "200000")
    group = unique("bench-latency")
    rules = ev.match_rules(topic, n_rules=1, extra_props={"sent_at": "$.occurred_at"})
    cfg = bridge_config(
        ctx.bootstrap, sandbox.url, group, ctx.dlq, rules, batching={"linger_ms": linger_ms}
    )
    p = Producer({"bootstrap.servers": ctx.bootstrap, "linger.ms": 1, "acks": "1"})
    offsets = Offsets(ctx.bootstrap, topic)
    b = BridgeProc(ctx.workdir, cfg, name="latency")
    sampler = Sampler(ctx.interval, [b], sandbox, offsets, group).start()
    produced = 0
    try:
        b.wait_ready()
        # warm-up: the group is joined and the connection to the sandbox is open
        for i in range(100):
            p.produce(topic, orjson.dumps(ev.event(i, ev.MATCH_TYPE, int(time.time() * 1000))))
        p.flush(10)
        produced = 100
        wait_until(lambda: offsets.committed(group) >= 100, 60, 0.1, "latency warm-up")
        since = sandbox.stats()["last_seq"]
        t0 = time.monotonic()
        tick = 0.01
        per_tick = int(rate * tick)
        deadline = t0 + secs
        k = 0
        while time.monotonic() < deadline and k < int(rate * secs * 1.1):
            now_ms = time.time() * 1000
            for _ in range(per_tick):
                p.produce(topic, orjson.dumps(ev.event(100 + k, ev.MATCH_TYPE, now_ms)))  # type: ignore[arg-type]
                k += 1
            p.poll(0)
            next_t = t0 + (k / per_tick) * tick
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        p.flush(10)
        produced += k
        actual_rate = k / (time.monotonic() - t0)
        wait_until(lambda: offsets.committed(group) >= produced, 60, 0.1, "latency drain")
        reqs = sandbox.requests(since=since, path="/campaigns/trigger/send")
    finally:
        samples = sampler.stop()
        offsets.close()
        b.stop()
        sandbox.stop()
    _check_rc(b)
    lats = []
    for r in reqs:
        if 200 <= r["status"] < 300:
            for rc in r["body"]["recipients"]:
                lats.append(r["time"] * 1000 - rc["trigger_properties"]["sent_at"])
    if len(lats) < k:
        raise BenchError(f"latency: {len(lats)} recipients arrived, {k} produced")
    lats.sort()

    def pct(q: float) -> float:
        return lats[min(int(q * len(lats)), len(lats) - 1)]

    p50, p99 = pct(0.5), pct(0.99)
    target = linger_ms + 100
    sizes = [len(r["body"]["recipients"]) for r in reqs if 200 <= r["status"] < 300]
    result = {
        "scenario": "latency",
        "title": f"Latency at {actual_rate:,.0f} events/s for {secs:.0f}s, linger {linger_ms} ms",
        "rows": [
            row("p50 ms (event time -> sandbox)", p50, target="—", note=""),
            row("p99 ms", p99, target=f"≤ {target} ms", met=p99 <= target),
            row("max ms", lats[-1]),
            row("recipients/request", sum(sizes) / len(sizes) if sizes else None),
        ],
        "details": {
            "events": k,
            "rate": actual_rate,
            "linger_ms": linger_ms,
            "p90": pct(0.9),
            "p999": pct(0.999),
            "cdf": [[pct(q / 100), q / 100] for q in range(0, 101)],
        },
        "series": series(samples, "rss_mb_0", "cpu_s_0"),
    }
    return save(ctx, result)


# -- 6: memory -----------------------------------------------------------------------------
def memory(ctx: Ctx) -> dict[str, Any]:
    topic, total = ctx.topics["match"]
    secs = 6.0 if ctx.short else 60.0
    sandbox = _zero_sandbox("--faults", json.dumps({"latency_ms": 200}))
    group = unique("bench-memory")
    cfg = bridge_config(
        ctx.bootstrap,
        sandbox.url,
        group,
        ctx.dlq,
        ev.match_rules(topic),
        shutdown={"drain_deadline_s": 2},
    )
    b = BridgeProc(ctx.workdir, cfg, name="memory")
    sampler = Sampler(
        0.25 if ctx.short else 0.5,
        [b],
        sandbox,
        metric_names=("bridge_events_consumed_total", "bridge_events_in_flight"),
    ).start()
    try:
        b.wait_ready()
        time.sleep(secs)
        if b.proc.poll() is not None:
            raise BenchError(f"memory: bridge exited {b.proc.returncode}: {b.log()[-3000:]}")
    finally:
        samples = sampler.stop()
        b.stop()
        sandbox.stop()
    _check_rc(b)
    max_rss = _max_rss(samples)
    last = samples[-1].values if samples else {}
    consumed = max(s.values.get("bridge_events_consumed_total", 0) for s in samples)
    result = {
        "scenario": "memory",
        "title": f"Memory: backlog of {total:,} events x 3 rules, sandbox latency 200 ms, "
        f"{secs:.0f}s",
        "rows": [
            row("max RSS MB", max_rss, target="≤ 200 MB", met=max_rss <= 200),
            row(
                "max events in flight",
                max(s.values.get("bridge_events_in_flight", 0) for s in samples),
                note="kafka.max_events_in_flight = 50,000",
            ),
            row("recipients/s (latency-bound)", last.get("sb_recipients", 0) / secs),
        ],
        "details": {"consumed": consumed, "backlog": total},
        "series": series(
            samples, "rss_mb_0", "bridge_events_in_flight", "sb_recipients", "cpu_s_0"
        ),
    }
    return save(ctx, result)
