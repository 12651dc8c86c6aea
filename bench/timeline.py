"""``python -m bench.timeline``: what one bridge does over time, sampled every 50 ms.

Runs the match path (N events x 3 campaign-trigger rules into a zero-latency sandbox) and
prints, per sample, the CPU the bridge and the sandbox used, the recipients the sandbox
accepted, the events the bridge consumed, and the bridge's events and requests in flight;
then the active time and recipients/s. Stalls (samples where nothing moves) show up as
rows of zeros. Used to find the idle gaps after back-pressure resumes (docs/performance.md).

    python -m bench.timeline --n 200000
    python -m bench.timeline --n 200000 --property fetch.queue.backoff.ms=1000   # A/B a knob

Needs a broker: ``KAFKA_BOOTSTRAP``, else one is started for the run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench import events as ev
from bench.harness import (
    BridgeProc,
    Broker,
    Sandbox,
    bridge_config,
    cpu_s,
    create_topic,
    produce_values,
    rss_mb,
    unique,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--property", action="append", default=[], help="librdkafka NAME=VALUE")
    ap.add_argument("--quiet", action="store_true", help="only the summary line")
    a = ap.parse_args()
    broker = None
    boot = os.environ.get("KAFKA_BOOTSTRAP")
    if not boot:
        broker = Broker()
        boot = broker.start()
    try:
        topic = unique("timeline")
        create_topic(boot, topic, 4)
        produce_values(boot, topic, ev.json_values(a.n, ev.MATCH_TYPE), 4)
        dlq = unique("timeline-dlq")
        create_topic(boot, dlq, 1)
        sb = Sandbox("--hourly-limit", "1000000000", "--record-limit", "0", "--seed", "1")
        cfg = bridge_config(boot, sb.url, unique("timeline"), dlq, ev.match_rules(topic))
        props: dict[str, object] = {}
        for p in a.property:
            k, _, v = p.partition("=")
            props[k] = int(v) if v.lstrip("-").isdigit() else v
        if props:
            cfg["kafka"]["properties"] = props
        b = BridgeProc(Path(tempfile.mkdtemp(prefix="timeline-")), cfg, name="timeline")
        want = 3 * a.n
        rows = []
        try:
            b.wait_ready(60)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 600:
                m, st = b.metrics(), sb.stats()
                rows.append(
                    (
                        time.monotonic() - t0,
                        cpu_s(b.pid),
                        cpu_s(sb.proc.pid),
                        st["accepted_recipients"],
                        m.get("bridge_events_consumed_total", 0.0),
                        m.get("bridge_events_in_flight", 0.0),
                        m.get("bridge_requests_in_flight", 0.0),
                        rss_mb(b.pid),
                    )
                )
                if st["accepted_recipients"] >= want:
                    break
                time.sleep(a.interval)
        finally:
            b.stop()
            sb.stop()
    finally:
        if broker is not None:
            broker.stop()
    if not a.quiet:
        print("     t  bridge-cpu sandbox-cpu  accepted  consumed", end="")
        print("  events-in-flight  requests-in-flight")
    prev = rows[0]
    start: float | None = None
    idle = 0
    for r in rows[1:]:
        moved = r[3] > prev[3] or r[4] > prev[4]
        if start is None and moved:
            start = prev[0]
        elif start is not None and not moved:
            idle += 1
        if not a.quiet:
            print(
                f"{r[0]:6.2f} {r[1] - prev[1]:10.2f} {r[2] - prev[2]:11.2f} {r[3] - prev[3]:9.0f} "
                f"{r[4] - prev[4]:9.0f} {r[5]:17.0f} {r[6]:19.0f}"
            )
        prev = r
    end = rows[-1][0]
    active = end - (start or 0.0)
    print(
        f"timeline: {want:,} recipients in {active:.2f} s active = {want / active:,.0f} "
        f"recipients/s; {idle} of {len(rows)} samples with no progress; bridge CPU "
        f"{rows[-1][1] - rows[0][1]:.1f} s, max RSS {max(r[7] for r in rows):.0f} MB; "
        f"properties {props or '-'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
