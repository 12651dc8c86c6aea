"""librdkafka's log lines go through the bridge's JSON logger, rate-limited (audit row 6:
290 raw ``%3|…|FAIL|…`` lines in 15 s with the broker down)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from bridge.kafka.rdlog import RdKafkaLogger
from tests.support.wait import free_port

REPO = Path(__file__).resolve().parents[2]


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_lines_are_rate_limited_per_facility_and_suppressed_counts_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    rd = RdKafkaLogger("consumer", burst=3, window_s=10, clock=clock)
    caplog.set_level(logging.DEBUG, logger="bridge.kafka.librdkafka")
    for _ in range(50):
        rd.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "connect refused")
    rd.log(logging.WARNING, "%s [%s] %s", "REQTMOUT", "rdkafka#consumer-1", "timed out")
    recs = caplog.records
    assert [r.facility for r in recs] == ["FAIL"] * 3 + ["REQTMOUT"]  # type: ignore[attr-defined]
    assert recs[0].getMessage() == "connect refused"
    assert recs[0].client == "consumer" and recs[0].levelno == logging.ERROR  # type: ignore[attr-defined]
    clock.t += 10  # next window: the first line says how many were dropped
    rd.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "connect refused")
    assert caplog.records[-1].suppressed == 47  # type: ignore[attr-defined]


_DEAD_BROKER = textwrap.dedent(
    """
    import sys, time
    from bridge.kafka.clients import make_consumer, make_producer
    from bridge.ops import logs
    from bridge.ops.metrics import Metrics
    from bridge.settings import KafkaSettings

    logs.setup("INFO", "json", "mask")
    k = KafkaSettings(bootstrap_servers=sys.argv[1], group_id="g", dead_letter_topic="dlq")
    c = make_consumer(k, Metrics())
    p = make_producer(k)
    c.subscribe(["orders"])
    p.produce("orders", b"x")
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        c.consume(10, 0.2)
        p.poll(0)
    """
)


@pytest.mark.integration
def test_broker_down_gives_json_lines_only_and_a_bounded_count() -> None:
    seconds = 12.0
    proc = subprocess.run(
        # a free port: nothing listens there, a broker that is down
        [sys.executable, "-c", _DEAD_BROKER, f"127.0.0.1:{free_port()}", str(seconds)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert not [ln for ln in lines if ln.startswith("%")], lines[:5]
    docs = [orjson.loads(ln) for ln in lines]  # every line is JSON
    rd = [d for d in docs if d["logger"] == "bridge.kafka.librdkafka"]
    assert rd, "librdkafka's connection failures must still be reported"
    assert {d["client"] for d in rd} == {"consumer", "producer"}
    assert all(d["level"] in ("ERROR", "WARNING", "INFO", "CRITICAL") for d in rd)
    # at most 5 lines per facility and client per 10 s window (2 windows in 12 s)
    per_key: dict[tuple[str, str], int] = {}
    for d in rd:
        key = (d["client"], d["facility"])
        per_key[key] = per_key.get(key, 0) + 1
    assert max(per_key.values()) <= 10, per_key
    # librdkafka's error_cb repeats with every connection attempt too: rate-limited per code
    errors = [d for d in docs if d["msg"] == "kafka client error"]
    assert (
        errors
        and max(sum(1 for d in errors if d["code"] == code) for code in {d["code"] for d in errors})
        <= 10
    )
    assert len(lines) <= 100, len(lines)  # before: ~740 lines (~370 raw) in 15 s
