"""The config the console shows: loaded like ``check``/``preview`` do, reloaded on change."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from bridge.decode.base import Decoder
from bridge.errors import ConfigError
from bridge.ruleset import RuleSet
from bridge.settings import Settings


@dataclass
class Loaded:
    settings: Settings
    rules: RuleSet
    decoders: dict[str, Decoder]
    warnings: list[str]
    missing: list[str]


class Workspace:
    """The config file, loaded (and re-loaded when its modification time changes)."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._mtime: tuple[int, int] | None = None
        self._loaded: Loaded | None = None
        self._error: ConfigError | None = None

    def get(self) -> Loaded:
        """The loaded config; raises ConfigError (naming file, field, reason) if invalid."""
        with self._lock:
            try:
                st = self.config.stat()
                mtime = (st.st_mtime_ns, st.st_size)
            except OSError as exc:
                raise ConfigError(f"cannot read: {exc.strerror}", file=str(self.config)) from exc
            if mtime != self._mtime:
                self._mtime = mtime
                try:
                    self._loaded, self._error = self._load(), None
                except ConfigError as exc:
                    self._loaded, self._error = None, exc
            if self._error is not None:
                raise self._error
            if self._loaded is None:  # pragma: no cover - set together with _error
                raise ConfigError("not loaded", file=str(self.config))
            return self._loaded

    def _load(self) -> Loaded:
        from bridge.app import make_decoders
        from bridge.checks import check_warnings
        from bridge.ruleset import compile_rules
        from bridge.settings import load_settings

        missing: list[str] = []
        settings = load_settings(self.config, missing_secrets=missing)
        rules = compile_rules(settings, str(self.config))
        _, decoders = make_decoders(settings, self.config.parent)
        return Loaded(settings, rules, decoders, check_warnings(settings, rules, missing), missing)

    def rules_view(self) -> dict[str, Any]:
        loaded = self.get()
        specs = {r.name: r for r in loaded.settings.rules}
        claimed: set[int] = set()
        rules: list[dict[str, Any]] = []
        names = [r.name for r in loaded.settings.rules]
        compiled = {r.name: r for r in loaded.rules.rules}
        for name in names:
            spec = specs[name]
            mine = [i for i, w in enumerate(loaded.warnings) if _concerns(w, name)]
            claimed.update(mine)
            c = compiled.get(name)
            rules.append(
                {
                    "name": name,
                    "topic": spec.topic,
                    "action": spec.action,
                    "target": c.target if c else None,
                    "when": _yaml(spec.when) if spec.when else "(every event)",
                    "enabled": spec.enabled,
                    "shadow": spec.shadow,
                    "warnings": [loaded.warnings[i] for i in mine],
                }
            )
        general = [w for i, w in enumerate(loaded.warnings) if i not in claimed]
        return {
            "config": str(self.config),
            "topics": loaded.rules.topics,
            "rules": rules,
            "warnings": general,
        }


def _concerns(warning: str, name: str) -> bool:
    if repr(name) in warning:
        return True
    head, sep, rest = warning.partition("disabled rules: ")
    return bool(sep) and not head and name in rest.split(", ")


def _yaml(value: Any) -> str:
    plain = orjson.loads(orjson.dumps(value, default=str))
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=80).strip()


def samples(directory: Path | None) -> list[dict[str, str]]:
    """The shipped sample events: each line of *.jsonl (the file name is the topic, as in
    the demo) and each *.json file."""
    if directory is None or not directory.is_dir():
        return []
    out: list[dict[str, str]] = []
    for p in sorted(directory.glob("*.json*")):
        if p.suffix == ".jsonl":
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    out.append({"name": f"{p.name}:{n}", "topic": p.stem, "event": line})
        elif p.suffix == ".json":
            out.append({"name": p.name, "topic": "", "event": p.read_text(encoding="utf-8")})
    return out
