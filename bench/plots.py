"""PNG plots of the results (matplotlib, optional: skipped with a note when it is missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _rate(t: list[float], v: list[Any]) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    pts = [(a, b) for a, b in zip(t, v, strict=False) if b is not None and b == b]
    for (t0, v0), (t1, v1) in zip(pts, pts[1:], strict=False):
        if t1 > t0:
            xs.append(t1)
            ys.append((v1 - v0) / (t1 - t0))
    return xs, ys


def write(results: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    out.mkdir(parents=True, exist_ok=True)

    # throughput over time
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, key, label in (
        ("filter", "bridge_events_consumed_total", "filter (JSON) events/s"),
        ("avro_filter", "bridge_events_consumed_total", "filter (Avro) events/s"),
        ("match", "sb_recipients", "match (JSON) recipients/s"),
        ("avro_match", "sb_recipients", "match (Avro) recipients/s"),
    ):
        r = results.get(name)
        if not r or "series" not in r:
            continue
        xs, ys = _rate(r["series"]["t"], r["series"].get(key, []))
        ax.plot(xs, ys, label=label)
    ax.set_xlabel("seconds since bridge start")
    ax.set_ylabel("per second")
    ax.set_title("Throughput over time (one bridge process)")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "throughput.png")

    # budget: accepted requests over time for 1/2/4 replicas
    b = results.get("budget")
    if b and b.get("details"):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for run in b["details"]["runs"]:
            times = sorted(run["request_times"])
            ax.plot(times, range(1, len(times) + 1), label=f"{run['bridges']} replica(s)")
        w = b["details"]["window_s"]
        lim = b["details"]["limit"]
        top = max((len(r["request_times"]) for r in b["details"]["runs"]), default=0)
        xs = [0, top / (lim / w) if lim else 0]
        ax.plot(xs, [0, top], "k--", alpha=0.4, label="budget")
        ax.plot(xs, [0, top * 0.9], "k:", alpha=0.4, label="budget less reserve")
        ax.set_xlabel("seconds since the first window start")
        ax.set_ylabel("accepted requests")
        ax.set_title(f"Against the limit: {lim} requests / {w}s")
        ax.legend()
        ax.grid(alpha=0.3)
        save(fig, "budget.png")

    # latency CDF
    lat = results.get("latency")
    if lat and lat.get("details"):
        cdf = lat["details"]["cdf"]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([c[0] for c in cdf], [c[1] for c in cdf])
        ax.axvline(lat["details"]["linger_ms"] + 100, color="r", ls="--", label="target p99")
        ax.set_xlabel("ms from event time to arrival at the sandbox")
        ax.set_ylabel("share of recipients")
        ax.set_title(f"Latency CDF at {lat['details']['rate']:,.0f} events/s")
        ax.legend()
        ax.grid(alpha=0.3)
        save(fig, "latency_cdf.png")

    # batch fill histogram (match path)
    m = results.get("match")
    if m and m.get("details", {}).get("batch_fill_cumulative"):
        cum = m["details"]["batch_fill_cumulative"]
        les = list(cum)
        counts, prev = [], 0.0
        for le in les:
            counts.append(cum[le] - prev)
            prev = cum[le]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(range(len(les)), counts)
        ax.set_xticks(range(len(les)), [f"≤{le}" for le in les], rotation=45)
        ax.set_xlabel("recipients per request (bucket)")
        ax.set_ylabel("requests")
        ax.set_title("Batch fill, match path")
        save(fig, "batch_fill.png")

    # memory over time
    mem = results.get("memory")
    if mem and mem.get("series"):
        s = mem["series"]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(s["t"], s["rss_mb_0"], label="RSS MB")
        ax.axhline(200, color="r", ls="--", label="target")
        ax2 = ax.twinx()
        ax2.plot(s["t"], s["bridge_events_in_flight"], color="g", alpha=0.5, label="in flight")
        ax.set_xlabel("seconds")
        ax.set_ylabel("RSS MB")
        ax2.set_ylabel("events in flight")
        ax.set_title("Memory with a 200 ms sandbox")
        ax.legend(loc="lower right")
        save(fig, "memory.png")
    return written
