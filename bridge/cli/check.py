"""``braze-bridge run`` and ``braze-bridge check``: start the bridge, or validate its config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from bridge.checks import check_warnings
from bridge.cli.conventions import EXIT_CONFIG, EXIT_OK, add_config, fail_config
from bridge.errors import ConfigError

if TYPE_CHECKING:
    from bridge.ruleset import RuleSet
    from bridge.settings import Settings


def add_run_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``run`` command and its options."""
    run = sub.add_parser("run", help="consume, map and deliver until SIGTERM")
    add_config(run)


def add_check_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``check`` command and its options."""
    check = sub.add_parser("check", help="validate the config; list rules and targets")
    add_config(check)
    check.add_argument(
        "--strict", action="store_true", help=f"exit {EXIT_CONFIG} on warnings, too (for CI)"
    )
    check.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def cmd_run(config: str) -> int:
    """Run the bridge until SIGTERM; the signal handlers learn that the process is exiting."""
    from bridge.app import run
    from bridge.signals import Signals

    try:
        return run(config)
    finally:
        Signals.exiting()


def cmd_check(config: str, strict: bool = False, fmt: str = "text") -> int:
    from bridge.app import make_decoders
    from bridge.ruleset import compile_rules
    from bridge.settings import load_settings

    missing: list[str] = []
    try:
        settings = load_settings(config, missing_secrets=missing)
        rules = compile_rules(settings, config)
        registry, _ = make_decoders(settings, Path(config).parent)  # .avsc files, as run does
        if registry is not None:
            registry.close()
    except ConfigError as exc:
        if fmt == "json":
            doc = {"config": config, "ok": False, "errors": [_error_doc(exc)], "warnings": []}
            print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return fail_config(exc)
    spaces = {r.name: settings.workspace_of(r) for r in settings.rules if r.enabled}
    if fmt == "text":
        _print_rules(config, settings, rules, spaces)
    warnings = check_warnings(settings, rules, missing)
    failed = strict and bool(warnings)
    if fmt == "json":
        _print_json(config, settings, rules, spaces, warnings, failed)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if failed:
        print(f"braze-bridge: {len(warnings)} warning(s) and --strict: failing", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def _print_rules(config: str, settings: Settings, rules: RuleSet, spaces: dict[str, str]) -> None:
    """The text report of ``check``: one line for the config, one per rule."""
    topics = ", ".join(settings.topics())
    print(f"{config}: OK — {len(rules.rules)} rule(s), topics: {topics}")
    width = max((len(r.name) for r in rules.rules), default=4)
    several = settings.braze.workspaces is not None
    for r in rules.rules:
        ws = f"  [workspace {spaces[r.name]}]" if several else ""
        print(f"  {r.name:<{width}}  {r.topic} -> {r.action} {r.target}{ws}")


def _print_json(
    config: str,
    settings: Settings,
    rules: RuleSet,
    spaces: dict[str, str],
    warnings: list[str],
    failed: bool,
) -> None:
    """The ``--format json`` report of a config that loaded."""
    doc = {
        "config": config,
        "ok": not failed,
        "errors": [],
        "warnings": warnings,
        "topics": settings.topics(),
        "rules": [
            {
                "name": r.name,
                "topic": r.topic,
                "action": r.action,
                "target": r.target,
                "workspace": spaces.get(r.name),
            }
            for r in rules.rules
        ],
    }
    print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())


def _error_doc(exc: ConfigError) -> dict[str, str | None]:
    return {"file": exc.file, "field": exc.field, "reason": exc.reason, "message": str(exc)}
