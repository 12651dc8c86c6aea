"""``braze-bridge test DIR``: golden cases for rules, like ``vector test``.

A case file (YAML) holds one or more cases::

    config: ../../config/actions.yaml     # relative to the case file (or --config)
    cases:
      - name: shipped order triggers the campaign
        topic: orders
        key: user-42                       # optional; headers: {name: value} optional
        event: {type: order.shipped, ...}  # or event_raw: "not json" for decode failures
        expect:
          requests:                        # exact Braze requests, in rule order
            - {path: /campaigns/trigger/send, body: {...}}
          # or: dead_letters: [{stage: rules, rule: r, message_contains: "order.id"}]
          # or: skipped: true

Bodies are compared exactly (JSON types kept); a mismatch prints a unified diff.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from bridge.decode.factory import build_decoder
from bridge.errors import ConfigError
from bridge.models import Record
from bridge.preview import preview
from bridge.ruleset import RuleSet, compile_rules
from bridge.settings import Settings, load_settings


@dataclass
class CaseResult:
    file: str
    name: str
    ok: bool
    diff: str = ""


def _dump(v: Any) -> list[str]:
    text = orjson.dumps(v, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return text.splitlines()


class _Loaded:
    def __init__(self, path: Path) -> None:
        self.settings: Settings = load_settings(path, missing_secrets=[])
        self.rules: RuleSet = compile_rules(self.settings, str(path))
        self.base = path.parent


def run_cases(directory: Path, config: Path | None = None) -> list[CaseResult]:
    files = sorted(p for p in directory.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    if not files:
        raise ConfigError("no *.yaml case files", file=str(directory))
    cache: dict[Path, _Loaded] = {}
    results: list[CaseResult] = []
    for f in files:
        doc = yaml.safe_load(f.read_text())
        if not isinstance(doc, dict) or "cases" not in doc:
            raise ConfigError("a case file needs 'cases:' (and 'config:')", file=str(f))
        cfg_path = config or (f.parent / str(doc.get("config", ""))).resolve()
        if cfg_path not in cache:
            cache[cfg_path] = _Loaded(cfg_path)
        loaded = cache[cfg_path]
        for i, case in enumerate(doc["cases"]):
            results.append(_run_case(f, i, case, loaded))
    return results


def _run_case(f: Path, i: int, case: dict[str, Any], loaded: _Loaded) -> CaseResult:
    name = str(case.get("name", f"case {i}"))
    topic = str(case["topic"])
    if "event_raw" in case:
        value = str(case["event_raw"]).encode()
    else:
        value = orjson.dumps(case.get("event"))
    key = case.get("key")
    headers = tuple((str(k), str(v).encode()) for k, v in (case.get("headers") or {}).items())
    record = Record(topic, 0, 0, str(key).encode() if key is not None else None, value, headers)
    decoder = build_decoder(loaded.settings.decoder_for(topic), None, loaded.base)
    got = preview(record, loaded.rules, decoder)
    expect = case.get("expect") or {}
    actual: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    if "requests" in expect or not ({"dead_letters", "skipped"} & set(expect)):
        wanted["requests"] = [
            {"path": r["path"], "body": r["body"]} for r in expect.get("requests") or []
        ]
        actual["requests"] = [{"path": r["path"], "body": r["body"]} for r in got.requests]
    if "dead_letters" in expect:
        wanted["dead_letters"] = []
        actual["dead_letters"] = []
        for exp, dl in zip(expect["dead_letters"], got.dead_letters + [{}] * 10, strict=False):
            w = {k: v for k, v in exp.items() if k != "message_contains"}
            a = {k: dl.get(k) for k in w}
            if "message_contains" in exp:
                w["message_contains"] = exp["message_contains"]
                a["message_contains"] = (
                    exp["message_contains"]
                    if exp["message_contains"] in str(dl.get("message", ""))
                    else dl.get("message")
                )
            wanted["dead_letters"].append(w)
            actual["dead_letters"].append(a)
        if len(got.dead_letters) != len(expect["dead_letters"]):
            actual["dead_letters_count"] = len(got.dead_letters)
            wanted["dead_letters_count"] = len(expect["dead_letters"])
    if "skipped" in expect:
        wanted["skipped"] = bool(expect["skipped"])
        actual["skipped"] = got.skipped is not None
    if wanted == actual:
        return CaseResult(str(f), name, True)
    diff = "\n".join(
        difflib.unified_diff(_dump(wanted), _dump(actual), "expected", "actual", lineterm="")
    )
    return CaseResult(str(f), name, False, diff)
