"""``python -m bench [--short]``: the benchmark report (see docs/performance.md).

Starts a real broker (or uses KAFKA_BOOTSTRAP), the Braze sandbox and the bridge as real
processes, runs the scenarios with their baselines, prints one table and writes
``bench/results/<scenario>.json``, ``summary.json``, ``summary.md`` and PNG plots.

Exit status: 0 when every scenario ran (missed targets do not fail), 1 when a scenario
crashed, lost events or a bridge exited non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import budget as bud
from bench import events as ev
from bench import harness, plots, stages
from bench import profile as prof
from bench import scenarios as sc
from bench.harness import (
    RESULTS,
    BenchError,
    BridgeProc,
    Broker,
    Sandbox,
    bridge_config,
    cpu_s,
    create_topic,
    unique,
    wait_until,
)

ORDER = [
    "filter",
    "match",
    "avro",
    "budget",
    "budget_share",
    "priorities",
    "latency",
    "memory",
    "realistic",
]


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v)


def table(results: list[dict[str, Any]]) -> str:
    head = ["scenario", "metric", "bridge", "baseline", "ratio", "target", "met?"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for rw in r.get("rows", []):
            ratio = rw.get("ratio")
            lines.append(
                "| "
                + " | ".join(
                    [
                        r["scenario"],
                        rw["metric"],
                        _fmt(rw["bridge"]),
                        _fmt(rw["baseline"]),
                        f"{ratio * 100:.0f} %" if ratio is not None else "—",
                        rw["target"] or "—",
                        "—" if rw["met"] is None else ("yes" if rw["met"] else "**no**"),
                    ]
                )
                + " |"
            )
        if r.get("skipped"):
            lines.append(f"| {r['scenario']} | skipped: {r['skipped']} | | | | | |")
        if r.get("error"):
            lines.append(f"| {r['scenario']} | ERROR: {r['error'][:80]} | | | | | |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_at_start": os.getloadavg(),
    }


def profile_pass(ctx: sc.Ctx, name: str, seconds: float) -> dict[str, Any]:
    """Attach py-spy to a bridge working through ``name``'s topic; fold samples by stage."""
    topic, _total = ctx.topics[name]
    sandbox = Sandbox("--hourly-limit", "1000000000", "--record-limit", "0")
    cfg = bridge_config(
        ctx.bootstrap,
        sandbox.url,
        unique(f"bench-prof-{name}"),
        ctx.dlq,
        ev.match_rules(topic),
        shutdown={"drain_deadline_s": 2},
    )
    b = BridgeProc(ctx.workdir, cfg, name=f"profile-{name}")
    out = ctx.workdir / f"pyspy-{name}.txt"
    try:
        b.wait_ready()
        wait_until(
            lambda: b.metrics().get("bridge_events_consumed_total", 0) > 0, 60, 0.05, "consuming"
        )
        c0, e0, t0 = cpu_s(b.pid), b.metrics().get("bridge_events_consumed_total", 0), time.time()
        spy = prof.record(b.pid, seconds, out)
        _, err = spy.communicate(timeout=seconds + 60)
        c1, e1, t1 = cpu_s(b.pid), b.metrics().get("bridge_events_consumed_total", 0), time.time()
        if spy.returncode != 0 or not out.exists():
            raise BenchError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
    finally:
        b.stop()
        sandbox.stop()
    folded = prof.fold(out)
    total = sum(folded.values()) or 1
    events = max(e1 - e0, 1)
    cpu_per_event_us = (c1 - c0) / events * 1e6
    return {
        "events": events,
        "seconds": t1 - t0,
        "cpu_cores": (c1 - c0) / (t1 - t0),
        "cpu_us_per_event": cpu_per_event_us,
        "share": {k: v / total for k, v in sorted(folded.items(), key=lambda kv: -kv[1])},
        "us_per_event": {k: v / total * cpu_per_event_us for k, v in folded.items()},
        "top": prof.top_functions(out),
        "samples": total,
    }


def _stage_costs(ctx: sc.Ctx, info: dict[str, Any], n: int, short: bool, bootstrap: str) -> None:
    """Per-stage CPU costs of this checkout's code, in-process."""
    t = time.monotonic()
    sandbox = Sandbox("--hourly-limit", "1000000000", "--record-limit", "0")
    try:
        m = min(n, 20_000 if short else 100_000)
        rows: dict[str, dict[str, float]] = {}
        kafka_us = 0.0
        if "filter" in ctx.topics:
            kafka_us = stages.kafka_cost(bootstrap, ctx.topics["filter"][0], m)
        for label, fmt, etype, matching in (
            ("filter (JSON)", "json", ev.FILTER_TYPE, False),
            ("match (JSON, 3 rules)", "json", ev.MATCH_TYPE, True),
            ("filter (Avro)", "avro", ev.FILTER_TYPE, False),
            ("match (Avro, 3 rules)", "avro", ev.MATCH_TYPE, True),
        ):
            vals = ev.json_values(m, etype) if fmt == "json" else ev.avro_values(m, etype, 1)
            r = stages.pipeline_costs(vals, fmt, matching, sandbox.url)
            r["kafka"] = kafka_us
            rows[label] = r
    finally:
        sandbox.stop()
    info["stages"] = rows
    info["stages_table"] = stages.stage_table(rows)
    print("bench: per-stage CPU µs/event (in-process)\n" + info["stages_table"], flush=True)
    print(f"bench: stages done in {time.monotonic() - t:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="CI smoke mode: small N, seconds each")
    ap.add_argument("--n", type=int, help="events for scenarios 1-3 (default 1M, short 30k)")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(ORDER)}")
    ap.add_argument("--registry", choices=["auto", "apicurio", "stub"], help="Avro registry")
    ap.add_argument("--profile", action="store_true", help="py-spy stage profile (default: full)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument(
        "--results", type=Path, help="output directory (default bench/results, short: .../short)"
    )
    ap.add_argument(
        "--bridge-tree",
        type=Path,
        help="run the bridge of another checkout (same broker, sandbox, harness and baselines: "
        "side-by-side comparisons; the in-process stage costs are this checkout's, so skipped)",
    )
    a = ap.parse_args(argv)
    if a.bridge_tree is not None:
        if not (a.bridge_tree / "bridge" / "__main__.py").is_file():
            ap.error(f"--bridge-tree {a.bridge_tree}: no bridge/__main__.py there")
        harness.BRIDGE_TREE = a.bridge_tree.resolve()
    if a.results is None:
        a.results = RESULTS / "short" if a.short else RESULTS

    started = time.monotonic()
    n = a.n or (30_000 if a.short else 1_000_000)
    only = set(a.only.split(",")) if a.only else set(ORDER)
    registry_mode = a.registry or ("stub" if a.short else "auto")
    do_profile = (a.profile or not a.short) and not a.no_profile and prof.py_spy() is not None
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    results: list[dict[str, Any]] = []
    failed = False
    broker = Broker()
    stop_registry = None
    info: dict[str, Any] = {"mode": "short" if a.short else "full", "n": n, "machine": machine()}
    print(f"bench: {info['mode']} mode, N={n:,}, workdir {workdir}", flush=True)
    try:
        bootstrap = broker.start()
        info["broker_start_s"] = broker.started_s
        print(f"bench: broker {bootstrap} ready in {broker.started_s:.1f}s", flush=True)
        ctx = sc.Ctx(a.short, bootstrap, workdir, registry_mode, do_profile, n, a.results)
        ctx.dlq = unique("bench-dlq")
        create_topic(bootstrap, ctx.dlq, 4)

        def run(label: str, fn: Any, *args: Any) -> dict[str, Any] | None:
            nonlocal failed
            t = time.monotonic()
            print(f"bench: {label} ...", flush=True)
            try:
                r: dict[str, Any] = fn(*args)
            except Exception as exc:  # noqa: BLE001 - report, continue, exit 1 at the end
                failed = True
                traceback.print_exc()
                r = {"scenario": label, "rows": [], "error": f"{type(exc).__name__}: {exc}"}
            r["duration_s"] = time.monotonic() - t
            results.append(r)
            for rw in r.get("rows", []):
                print(
                    f"  {label:<12} {rw['metric']:<44} bridge {_fmt(rw['bridge']):>10}  "
                    f"baseline {_fmt(rw['baseline']):>10}  target {rw['target'] or '—'}  "
                    f"met {_fmt(rw['met'])}",
                    flush=True,
                )
            print(f"bench: {label} done in {r['duration_s']:.1f}s", flush=True)
            return r

        if "filter" in only or "memory" in only or "match" in only:
            if "filter" in only:
                sc.prepare_topic(ctx, "filter", ev.json_values(n, ev.FILTER_TYPE))
                run("filter", sc.filter_path, ctx, "json")
            if "match" in only or "memory" in only:
                sc.prepare_topic(ctx, "match", ev.json_values(n, ev.MATCH_TYPE))
            if "match" in only:
                run("match", sc.match_path, ctx, "json")
        if "avro" in only:
            try:
                kind, stop_registry = sc.prepare_avro(ctx, n)
                info["registry"] = kind
                print(f"  registry: {kind}", flush=True)
                run("avro_filter", sc.filter_path, ctx, "avro")
                run("avro_match", sc.match_path, ctx, "avro")
            except Exception as exc:  # noqa: BLE001 - the registry could not be set up
                traceback.print_exc()
                for s in ("avro_filter", "avro_match"):
                    results.append({"scenario": s, "rows": [], "skipped": f"registry: {exc}"})
        if "budget" in only or "realistic" in only:
            sc.prepare_topic(
                ctx,
                "budget",
                ev.json_values(30_000 if a.short else 300_000, ev.MATCH_TYPE),
                partitions=8,
            )
            if "budget" in only:
                run("budget", sc.budget, ctx)
        if "budget_share" in only:  # bench/budget.py: even spend at 1/4/16 replicas
            run("budget_share", bud.even, ctx)
        if "priorities" in only:  # bench/budget.py: transactional latency, bulk backlog
            run("priorities", bud.priorities, ctx)
        if "latency" in only:
            run("latency", sc.latency, ctx)
        if "memory" in only:
            run("memory", sc.memory, ctx)
        if "realistic" in only:
            run("realistic", sc.realistic, ctx)

        if a.bridge_tree is None:
            _stage_costs(ctx, info, n, a.short, bootstrap)

        if do_profile:
            info["profile_tool"] = "py-spy"
            info["profile"] = {}
            for name in ("filter", "match"):
                if name in ctx.topics:
                    try:
                        p = profile_pass(ctx, name, 3 if a.short else 10)
                        info["profile"][name] = p
                        print(
                            f"bench: py-spy {name}: {p['cpu_us_per_event']:.1f} CPU µs/event, "
                            + ", ".join(
                                f"{k} {v * 100:.0f}%" for k, v in list(p["share"].items())[:8]
                            ),
                            flush=True,
                        )
                    except Exception as exc:  # noqa: BLE001 - the profile is optional
                        print(f"bench: profile of {name} failed: {exc}", flush=True)
    except Exception:  # noqa: BLE001 - setup failure (broker, topics)
        traceback.print_exc()
        failed = True
    finally:
        if stop_registry is not None:
            stop_registry()
        broker.stop()

    info["total_s"] = time.monotonic() - started
    txt = table(results)
    print("\n" + txt)
    a.results.mkdir(parents=True, exist_ok=True)
    summary = {**info, "results": [{k: v for k, v in r.items() if k != "series"} for r in results]}
    (a.results / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    (a.results / "summary.md").write_text(txt + "\n")
    if plots.available():
        try:
            by = {r["scenario"]: r for r in results}
            written = plots.write(by, a.results)
            written += bud.plot_dirs([("bridge", a.results)], a.results)
            print("bench: plots " + ", ".join(p.name for p in written))
        except Exception as exc:  # noqa: BLE001 - plots never fail the run
            print(f"bench: plots skipped: {exc}")
    else:
        print("bench: plots skipped (matplotlib not installed)")
    if failed:
        print(f"bench: logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bench: {'FAILED' if failed else 'ok'} in {info['total_s']:.0f}s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
