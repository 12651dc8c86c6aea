"""What the console's page can ask: the API behind its JSON endpoints.

Read-only towards everything but the sandbox's faults: evaluate events (in this process),
save golden case files into `--golden-dir`, set or clear faults on a sandbox. The HTTP side
(routes, same-origin checks, static files) is :mod:`bridge.console.server`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bridge.console import adapter, cases, verdict
from bridge.console.records import last_records
from bridge.console.upstream import Sandbox
from bridge.console.workspace import Loaded, Workspace, samples
from bridge.errors import ConfigError


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class EventRequest:
    """An event the page asks about: topic, event text, key, ``NAME=VALUE`` header lines."""

    topic: str
    event: str
    key: str | None
    headers: list[tuple[str, str]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventRequest:
        """Read and check the fields of a preview or golden-case request body."""
        topic = data.get("topic")
        event = data.get("event")
        if not isinstance(topic, str) or not topic.strip():
            raise BadRequest("choose a topic")
        if not isinstance(event, str):
            raise BadRequest("event must be text")
        key = data.get("key")
        if key is not None and not isinstance(key, str):
            raise BadRequest("key must be text")
        headers: list[tuple[str, str]] = []
        for line in str(data.get("headers") or "").splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise BadRequest(f"header {line.strip()!r}: expected NAME=VALUE")
            headers.append((name.strip(), value))
        return cls(topic.strip(), event, key or None, headers)


@dataclass
class ConsoleConfig:
    config: Path
    golden_dir: Path
    events_dir: Path | None
    sandbox_url: str | None = None
    sandbox_token: str | None = None


class Console:
    """Everything the handlers need (shared by the server's threads)."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.workspace = Workspace(cfg.config)
        self.sandbox: Sandbox | None = None
        self._lock = threading.Lock()
        if cfg.sandbox_url:
            self.sandbox = Sandbox(cfg.sandbox_url, cfg.sandbox_token, self.pii())

    def pii(self) -> str:
        try:
            return self.workspace.get().settings.observability.pii
        except ConfigError:
            return "mask"

    # ------------------------------------------------------------ API

    def info(self) -> dict[str, Any]:
        try:
            self.workspace.get()
            config_error = None
        except ConfigError as exc:
            config_error = str(exc)
        return {
            "config": str(self.cfg.config),
            "config_error": config_error,
            "golden_dir": str(self.cfg.golden_dir),
            "pii": self.pii(),
            "sandbox": self.sandbox.url if self.sandbox else None,
            "sandbox_ok": self.sandbox.is_sandbox() if self.sandbox else False,
        }

    def samples(self) -> dict[str, Any]:
        loaded = self.workspace.get()
        out = samples(self.cfg.events_dir)
        for s in out:
            if not s["topic"]:
                s["topic"] = self._guess_topic(s["event"])
        return {"samples": out, "topics": loaded.rules.topics}

    def _guess_topic(self, event: str) -> str:
        """A topic on which the event matches some rule (for sample files without one)."""
        loaded = self.workspace.get()
        failing = ""
        for topic in loaded.rules.topics:
            if topic.startswith("^"):
                continue
            try:
                ev = self._evaluate(loaded, EventRequest(topic, event, None, []))
            except adapter.EventError:
                continue
            if ev.result.requests:
                return topic
            if ev.result.dead_letters and not failing:
                failing = topic
        return failing  # "" leaves the page's topic as it is

    def _evaluate(self, loaded: Loaded, req: EventRequest) -> adapter.Evaluated:
        """``req`` through the loaded config, as ``braze-bridge preview`` would evaluate it
        (raises :class:`adapter.EventError` for an event the topic's decoder refuses)."""
        return adapter.evaluate(
            loaded.settings,
            loaded.rules,
            loaded.decoders,
            self.cfg.config,
            req.topic,
            req.event.encode(),
            req.key,
            req.headers,
        )

    def preview(self, data: dict[str, Any]) -> dict[str, Any]:
        req = EventRequest.from_json(data)
        loaded = self.workspace.get()
        try:
            ev = self._evaluate(loaded, req)
        except adapter.EventError as exc:
            return {"ok": False, "error": str(exc)}
        remote = self.sandbox.config() if self.sandbox else None
        opts = verdict.options_from(remote)
        verdicts = [
            verdict.verdict(opts, str(r["method"]), str(r["path"]), dict(r["body"]))
            for r in ev.result.requests
        ]
        return {
            "ok": True,
            "output": ev.output,
            "result": ev.result.as_dict(),
            "rules": adapter.rule_outcomes(loaded.rules, req.topic, ev.result, ev.unmet),
            "verdicts": verdicts,
            "verdict_from": "sandbox settings of " + self.sandbox.url
            if remote and self.sandbox
            else "sandbox defaults",
        }

    def save_golden(self, data: dict[str, Any]) -> dict[str, Any]:
        req = EventRequest.from_json(data)
        name = str(data.get("name") or "").strip()
        if not name:
            raise BadRequest("name the case")
        loaded = self.workspace.get()
        try:
            ev = self._evaluate(loaded, req)
        except adapter.EventError as exc:
            raise BadRequest(str(exc)) from exc
        try:
            parsed: Any = orjson.loads(req.event)
            raw = None
        except orjson.JSONDecodeError:
            parsed, raw = None, req.event
        the_case = cases.case(name, req.topic, parsed, raw, req.key, req.headers, ev.result)
        with self._lock:
            path = cases.save(self.cfg.golden_dir, self.cfg.config, the_case)
        return {"path": str(path), "directory": str(self.cfg.golden_dir)}

    def records(self, topic: str, n: int) -> dict[str, Any]:
        loaded = self.workspace.get()
        return {"records": last_records(loaded.settings, topic, n, self.pii())}

    def _need_sandbox(self) -> Sandbox:
        if self.sandbox is None:
            raise BadRequest("no sandbox: start the console with --sandbox URL")
        return self.sandbox

    def inbox(self, since: int | None) -> dict[str, Any]:
        sb = self._need_sandbox()
        sb.pii = self.pii()
        return sb.inbox(since)

    def faults(self, data: Any) -> dict[str, Any]:
        sb = self._need_sandbox()
        if not sb.is_sandbox():
            raise BadRequest(f"{sb.url} is not a braze-bridge sandbox: faults are sandbox-only")
        if data is not None and not isinstance(data, dict):
            raise BadRequest("faults must be a JSON object")
        try:
            return sb.set_faults(data or None)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
