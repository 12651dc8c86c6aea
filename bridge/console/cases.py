"""Saving a tried event as a golden case for ``braze-bridge test`` (bridge/golden.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from bridge.preview import PreviewResult


def expectation(result: PreviewResult) -> dict[str, Any]:
    """What `braze-bridge test` should expect: today's outcome of the event."""
    if result.dead_letters:
        expect: dict[str, Any] = {
            "dead_letters": [
                {k: v for k, v in (("stage", d.get("stage")), ("rule", d.get("rule"))) if v}
                | {"message_contains": str(d.get("message", ""))}
                for d in result.dead_letters
            ]
        }
        if result.requests:
            expect["requests"] = _requests(result)
        return expect
    if result.requests:
        return {"requests": _requests(result)}
    return {"skipped": True}


def _requests(result: PreviewResult) -> list[dict[str, Any]]:
    return [{"path": r["path"], "body": r["body"]} for r in result.requests]


def case(
    name: str,
    topic: str,
    event: Any,
    raw: str | None,
    key: str | None,
    headers: list[tuple[str, str]],
    result: PreviewResult,
) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "topic": topic}
    if key:
        c["key"] = key
    if headers:
        c["headers"] = dict(headers)
    if raw is not None:
        c["event_raw"] = raw
    else:
        c["event"] = event
    c["expect"] = expectation(result)
    return c


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s[:60] or "case"


def save(directory: Path, config: Path, the_case: dict[str, Any]) -> Path:
    """Write one case file into `directory` (never overwriting): its path."""
    directory.mkdir(parents=True, exist_ok=True)
    base = slug(str(the_case["name"]))
    path = directory / f"{base}.yaml"
    n = 2
    while path.exists():
        path = directory / f"{base}-{n}.yaml"
        n += 1
    rel = os.path.relpath(config.resolve(), directory.resolve())
    doc = {"config": rel, "cases": [the_case]}
    text = "# saved by braze-bridge console; run with: braze-bridge test DIR\n"
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    with open(path, "x", encoding="utf-8") as f:
        f.write(text)
    return path
