"""One builder for the bridge's config in process-level tests (e2e, reliability)."""

from __future__ import annotations

from typing import Any

from tests.support.procs import EPHEMERAL_METRICS


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def bridge_config(
    bootstrap: str,
    braze_url: str,
    *,
    group: str,
    dlq: str,
    rules: list[dict[str, Any]],
    **overrides: Any,
) -> dict[str, Any]:
    """Kafka, the sandbox as Braze (key from ``$BRAZE_API_KEY``), batches of 50 after 100 ms,
    metrics on an ephemeral loopback port (``Bridge.port`` reads it from the start-up log), a
    20 s drain; ``overrides`` are deep-merged."""
    cfg: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "group_id": group, "dead_letter_topic": dlq},
        "braze": {"rest_endpoint": braze_url, "api_key": "${BRAZE_API_KEY}"},
        "batching": {"max_recipients": 50, "linger_ms": 100},
        "observability": {**EPHEMERAL_METRICS, "log_level": "INFO"},
        "shutdown": {"drain_deadline_s": 20},
        "rules": rules,
    }
    return deep_merge(cfg, overrides)
