from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bridge.models import Event, Record
from bridge.settings import Settings, parse_settings

BASE: dict[str, Any] = {
    "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
    "braze": {"rest_endpoint": "http://127.0.0.1:4010", "api_key": "${BRAZE_API_KEY}"},
}


def settings(rules: list[dict[str, Any]], **extra: Any) -> Settings:
    raw = {**BASE, **extra, "rules": rules}
    raw = yaml.safe_load(yaml.safe_dump(raw))  # deep copy, as if read from a file
    return parse_settings(raw, environ={"BRAZE_API_KEY": "test-key"}, base_dir=Path("."))


def event(
    value: Any,
    topic: str = "orders",
    key: bytes | None = None,
    headers: tuple[tuple[str, bytes | None], ...] = (),
    offset: int = 0,
) -> Event:
    return Event(Record(topic, 0, offset, key, b"", headers, 1_700_000_000_000), value)
