"""Generated documentation: the config JSON Schema, the README's config reference and
metrics table, all from the code (the settings model and the Metrics class).

    python -m bridge.docgen          # check: exit 1 when a generated file is out of date
    python -m bridge.docgen --write  # regenerate
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from bridge.ops.metrics import Metrics
from bridge.rules.spec import RuleSettings
from bridge.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "bridge-config.schema.json"
README = REPO / "README.md"
VALUES_SCHEMA = REPO / "helm" / "braze-bridge" / "values.schema.json"


def config_schema() -> str:
    schema = Settings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/braze-kafka-bridge/schemas/bridge-config.schema.json"
    schema["title"] = "braze-bridge configuration"
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def values_schema(current: str) -> str:
    """The chart's values.schema.json with the bridge's own config schema embedded, so
    ``helm template``/``helm install`` reject an invalid ``config`` (``max_recipients: 500``)
    instead of pods exiting 78 later. The bridge schema goes to ``$defs.BridgeConfig`` and its
    ``$defs`` to the root ``$defs`` (its ``#/$defs/...`` references then resolve unchanged);
    ``properties.config`` requires both the chart's own checks and it."""
    values = orjson.loads(current)
    bridge = orjson.loads(config_schema())
    defs = bridge.pop("$defs", {})
    for key in ("$schema", "$id", "title"):
        bridge.pop(key, None)
    root_defs = {k: v for k, v in values.get("$defs", {}).items() if k == "ChartConfig"}
    cfg = values["properties"]["config"]
    if "allOf" in cfg and "ChartConfig" in root_defs:
        chart_cfg = root_defs["ChartConfig"]
    else:
        chart_cfg = cfg
    root_defs["ChartConfig"] = chart_cfg
    root_defs.update(defs)
    root_defs["BridgeConfig"] = bridge
    values["$defs"] = dict(sorted(root_defs.items()))
    values["properties"]["config"] = {
        "description": chart_cfg.get("description", "The bridge configuration (config.yaml)."),
        "allOf": [{"$ref": "#/$defs/ChartConfig"}, {"$ref": "#/$defs/BridgeConfig"}],
    }
    return orjson.dumps(values, option=orjson.OPT_INDENT_2).decode() + "\n"


def _type(ann: Any) -> str:
    text = str(ann).replace("typing.", "").replace("<class '", "").replace("'>", "")
    text = re.sub(r"bridge\.[\w.]+\.(\w+)", r"\1", text)
    text = text.replace("pydantic.types.", "").replace("NoneType", "null")
    return text.replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    for name, f in model.model_fields.items():
        ann = f.annotation
        sub = None
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                sub = cand
        path = f"{prefix}{f.alias or name}"
        if sub is not None and sub is not RuleSettings:
            doc = f.description or ((sub.__doc__ or "").strip().splitlines() or [""])[0]
            out.append(f"| `{path}` | object | | {doc} |")
            inner = ".<topic>." if str(ann).startswith("dict[") else "."
            _rows(sub, path + inner, out)
            continue
        default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
        out.append(f"| `{path}` | `{_type(ann)}` | {default} | {f.description or ''} |")


def config_reference() -> str:
    out = ["| field | type | default | description |", "|---|---|---|---|"]
    _rows(Settings, "", out)
    out += [
        "",
        "Each entry of `rules:`:",
        "",
        "| field | type | default | description |",
        "|---|---|---|---|",
    ]
    _rows(RuleSettings, "rules[].", out)
    return "\n".join(out)


def metrics_table() -> str:
    reg = CollectorRegistry()
    m = Metrics(reg)
    m.kafka_stats({"cgrp": {}})  # the librdkafka families appear with the first statistics
    out = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for fam in sorted(reg.collect(), key=lambda f: f.name):
        if not fam.name.startswith("bridge_"):
            continue
        kind = fam.type
        name = fam.name + ("_total" if kind == "counter" else "")
        labels: set[str] = set()
        for s in fam.samples:
            labels |= set(s.labels) - {"le"}
        col = getattr(reg, "_names_to_collectors", {}).get(name)
        if col is not None and hasattr(col, "_labelnames"):
            labels |= set(col._labelnames)
        out.append(f"| `{name}` | {kind} | {', '.join(sorted(labels))} | {fam.documentation} |")
    out += [
        "",
        "Also exported: the standard `process_*` series (CPU seconds, resident memory, open "
        "file descriptors, start time) and `python_info`.",
    ]
    return "\n".join(out)


def _replace(text: str, marker: str, body: str) -> str:
    begin, end = f"<!-- BEGIN {marker} (generated) -->", f"<!-- END {marker} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md lacks the {marker} markers")
    return pattern.sub(lambda _m: f"{begin}\n{body}\n{end}", text)


def render_readme(text: str) -> str:
    text = _replace(text, "config-reference", config_reference())
    return _replace(text, "metrics", metrics_table())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    wanted = {
        SCHEMA: config_schema(),
        README: render_readme(README.read_text()),
        VALUES_SCHEMA: values_schema(VALUES_SCHEMA.read_text()),
    }
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if args.write:
        for p in stale:
            p.write_text(wanted[p])
            print(f"wrote {p.relative_to(REPO)}")
        return 0
    for p in stale:
        print(
            f"{p.relative_to(REPO)} is out of date: run python -m bridge.docgen --write",
            file=sys.stderr,
        )
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
