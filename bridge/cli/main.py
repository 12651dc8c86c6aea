"""``braze-bridge`` command line: run, check, preview, replay, schedules, test, sandbox.

Conventions (compare ``vector validate``, ``rpk connect lint``): results on stdout, warnings
and errors on stderr; the config path from ``--config`` or ``$BRAZE_BRIDGE_CONFIG``;
``--format json`` (and ``junit`` for ``test``) for CI systems. Exit codes:

* 0 success;
* 1 runtime failure (Kafka unreachable, a golden case failed, port in use, ...);
* 2 usage error (unknown command or flag, missing ``--config``; argparse's code);
* 78 invalid configuration (``EX_CONFIG`` of sysexits.h, as Vector uses), and warnings
  under ``check --strict``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bridge import __version__
from bridge.errors import BridgeError, ConfigError

if TYPE_CHECKING:
    from bridge.rules.engine import RuleSet
    from bridge.settings import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # argparse
EXIT_CONFIG = 78  # EX_CONFIG
CONFIG_ENV = "BRAZE_BRIDGE_CONFIG"
_CONFIG_HELP = f"YAML config file (default: ${CONFIG_ENV})"


def _add_config(p: argparse.ArgumentParser) -> None:
    default = os.environ.get(CONFIG_ENV) or None
    p.add_argument("--config", "-c", default=default, required=default is None, help=_CONFIG_HELP)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="braze-bridge",
        description="Kafka events -> declarative rules -> batched Braze API calls.",
    )
    p.add_argument("--version", action="version", version=f"braze-bridge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="consume, map and deliver until SIGTERM")
    _add_config(run)

    check = sub.add_parser("check", help="validate the config; list rules and targets")
    _add_config(check)
    check.add_argument(
        "--strict", action="store_true", help=f"exit {EXIT_CONFIG} on warnings, too (for CI)"
    )
    check.add_argument("--format", choices=("text", "json"), default="text", help="output format")

    prev = sub.add_parser("preview", help="print the Braze request(s) an event would produce")
    _add_config(prev)
    prev.add_argument("--topic", "-t", required=True, help="topic the event arrives on")
    prev.add_argument("event", nargs="?", default="-", help="event file (JSON), or - for stdin")
    prev.add_argument("--key", help="message key")
    prev.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="message header"
    )
    prev.add_argument(
        "--schema",
        help="Avro schema (.avsc) to encode a JSON event with, for confluent_avro topics "
        "(avro topics use their configured schema)",
    )

    rp = sub.add_parser("replay", help="run dead letters through today's rules and delivery")
    _add_config(rp)
    rp.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    cls_help = "only this __bridge.errors.class (repeatable): DecodeError, RuleError, bad_request…"
    rp.add_argument("--error-class", action="append", default=[], help=cls_help)
    rp.add_argument("--since", help="dead-lettered at or after (ISO-8601)")
    rp.add_argument("--until", help="dead-lettered at or before (ISO-8601)")
    rp.add_argument("--max-replays", type=int, default=3, help="loop guard (default 3)")
    rp.add_argument("--group", help="consumer group (default: <group_id>.replay)")
    rp.add_argument("--follow", action="store_true", help="keep running at the end")

    sch = sub.add_parser(
        "schedules", help="list upcoming scheduled broadcasts and tracked schedules"
    )
    _add_config(sch)
    sch.add_argument("--until", required=True, help="ISO-8601 date or time")
    sch.add_argument("--json", action="store_true", help="print JSON")

    tst = sub.add_parser("test", help="run golden rule cases (event -> expected requests)")
    tst.add_argument("directory", help="directory of *.yaml case files")
    tst.add_argument("--config", "-c", help="config for every case (default: each file's)")
    tst.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="output format: text, json, or JUnit XML (for CI test reports)",
    )

    con = sub.add_parser("console", help="local web console: rules, try events, sandbox inbox")
    from bridge.console.cli import add_arguments as console_arguments

    console_arguments(con)

    sb = sub.add_parser("sandbox", help="run the local Braze sandbox")
    from bridge.sandbox.cli import add_arguments

    add_arguments(sb)
    return p


def _fail_config(exc: ConfigError) -> int:
    print(f"braze-bridge: invalid config: {exc}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_check(config: str, strict: bool = False, fmt: str = "text") -> int:
    from bridge.app import make_decoders
    from bridge.rules.engine import compile_rules
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
        return _fail_config(exc)
    spaces = {r.name: settings.workspace_of(r) for r in settings.rules if r.enabled}
    if fmt == "text":
        topics = ", ".join(settings.topics())
        print(f"{config}: OK — {len(rules.rules)} rule(s), topics: {topics}")
        width = max((len(r.name) for r in rules.rules), default=4)
        several = settings.braze.workspaces is not None
        for r in rules.rules:
            ws = f"  [workspace {spaces[r.name]}]" if several else ""
            print(f"  {r.name:<{width}}  {r.topic} -> {r.action} {r.target}{ws}")
    warnings = check_warnings(settings, rules, missing)
    failed = strict and bool(warnings)
    if fmt == "json":
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
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if failed:
        print(f"braze-bridge: {len(warnings)} warning(s) and --strict: failing", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def check_warnings(settings: Settings, rules: RuleSet, missing: list[str]) -> list[str]:
    """The warnings of ``check`` (also shown by ``console`` beside the rules)."""
    from bridge.settings import endpoint_warnings

    warnings = [f"environment variable {m} is not set (needed by 'run')" for m in missing]
    warnings += endpoint_warnings(settings.braze)
    seen: dict[tuple[str, str], str] = {}
    creates = {
        (r.schedule.name or r.name)
        for r in settings.rules
        if r.schedule is not None and r.schedule.operation == "create"
    }
    for rs in settings.rules:
        if rs.schedule is not None and rs.schedule.operation != "create":
            if (rs.schedule.name or rs.name) not in creates:
                warnings.append(
                    f"rule {rs.name!r}: no rule creates schedule {rs.schedule.name or rs.name!r}"
                )
    lifecycle = {r.name for r in settings.rules if r.schedule is not None}
    for r in rules.rules:
        key = (r.action, r.target)
        if r.name in lifecycle or r.action in ("message_send", "live_activity_update"):
            continue
        if key in seen:
            warnings.append(f"rules {seen[key]!r} and {r.name!r} both target {r.action} {r.target}")
        else:
            seen[key] = r.name
    disabled = [r.name for r in settings.rules if not r.enabled]
    if disabled:
        warnings.append(f"disabled rules: {', '.join(disabled)}")
    if settings.kafka.topics:
        unread = sorted({r.topic for r in rules.rules} - set(settings.kafka.topics))
        for t in unread:
            warnings.append(f"rules read topic {t!r}, which kafka.topics does not subscribe to")
    for rs in settings.rules:
        reason = _never_matches(rs.when)
        if reason:
            warnings.append(f"rule {rs.name!r} can never match: {reason}")
    return warnings


def _error_doc(exc: ConfigError) -> dict[str, str | None]:
    return {"file": exc.file, "field": exc.field, "reason": exc.reason, "message": str(exc)}


def _never_matches(when: object) -> str | None:
    """Static checks for conditions that no event can satisfy."""
    if not isinstance(when, dict):
        return None
    for key, spec in when.items():
        if key in ("all", "any") and isinstance(spec, list):
            subs = [_never_matches(x) for x in spec]
            if key == "all" and any(subs):
                return next(x for x in subs if x)
            if key == "any" and spec and all(subs):
                return subs[0]
            continue
        if not isinstance(spec, dict):
            continue
        if spec.get("one_of") == []:
            return f"{key}: one_of is empty"
        if spec.get("exists") is False and set(spec) - {"exists", "not_equals", "not_one_of"}:
            return f"{key}: exists: false together with a condition on its value"
        lo = spec.get("gt", spec.get("gte"))
        hi = spec.get("lt", spec.get("lte"))
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo >= hi:
            if not (lo == hi and "gte" in spec and "lte" in spec):
                return f"{key}: the lower bound {lo} is not below the upper bound {hi}"
    return None


def cmd_preview(
    config: str,
    topic: str,
    event: str,
    key: str | None,
    headers: list[str],
    schema: str | None = None,
) -> int:
    from bridge.app import make_decoders
    from bridge.decode.factory import build_decoder
    from bridge.models import Record
    from bridge.preview import preview
    from bridge.rules.engine import compile_rules
    from bridge.settings import load_settings

    try:
        settings = load_settings(config, missing_secrets=[])
        rules = compile_rules(settings, config)
        registry, decoders = make_decoders(settings, Path(config).parent)
    except ConfigError as exc:
        return _fail_config(exc)
    raw = sys.stdin.buffer.read() if event == "-" else Path(event).read_bytes()
    hdrs = []
    for h in headers:
        name, sep, value = h.partition("=")
        if not sep:
            print(f"braze-bridge: --header {h!r}: expected NAME=VALUE", file=sys.stderr)
            return EXIT_USAGE
        hdrs.append((name, value.encode()))
    decoder = decoders.get(topic) or build_decoder(
        settings.decoder_for(topic), registry, Path(config).parent
    )
    fmt = settings.decoder_for(topic)
    if fmt.format != "json" and raw.lstrip()[:1] in (b"{", b"["):
        # A JSON event for an Avro topic: encode it with the schema, then decode it as the
        # bridge would (so the event is also checked against the schema).
        from bridge.decode.avro import AvroDecoder, load_schema_file

        path = schema or (str(Path(config).parent / fmt.schema_path) if fmt.schema_path else None)
        if path is None:
            print(
                "braze-bridge: this topic is confluent_avro: pass --schema F.avsc to preview "
                "a JSON event",
                file=sys.stderr,
            )
            return EXIT_USAGE
        parsed = load_schema_file(Path(path))
        try:
            raw = _avro_encode(parsed, orjson.loads(raw))
        except (ValueError, TypeError) as exc:
            print(f"braze-bridge: the event does not match {path}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        decoder = AvroDecoder(parsed)
    record = Record(topic, 0, 0, key.encode() if key else None, raw, tuple(hdrs), 0)
    result = preview(record, rules, decoder)
    sys.stdout.write(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return EXIT_OK


def _avro_encode(schema: Any, value: Any) -> bytes:
    import io

    import fastavro

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, value)
    return buf.getvalue()


def cmd_test(directory: str, config: str | None, fmt: str = "text") -> int:
    from bridge.golden import run_cases

    try:
        results = run_cases(Path(directory), Path(config) if config else None)
    except ConfigError as exc:
        return _fail_config(exc)
    failed = [r for r in results if not r.ok]
    if fmt == "json":
        doc = {
            "passed": len(results) - len(failed),
            "failed": len(failed),
            "cases": [
                {"file": r.file, "name": r.name, "ok": r.ok, "diff": r.diff} for r in results
            ],
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return EXIT_FAILURE if failed else EXIT_OK
    if fmt == "junit":
        print(_junit(results))
        return EXIT_FAILURE if failed else EXIT_OK
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.file}: {r.name}")
        if not r.ok:
            print("      " + r.diff.replace("\n", "\n      "))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return EXIT_FAILURE if failed else EXIT_OK


def _junit(results: list[Any]) -> str:
    """JUnit XML (one testsuite, a testcase per golden case) for CI test-report parsers."""
    from xml.etree import ElementTree as ET

    failed = sum(1 for r in results if not r.ok)
    suite = ET.Element(
        "testsuite",
        name="braze-bridge golden cases",
        tests=str(len(results)),
        failures=str(failed),
        errors="0",
        skipped="0",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.file, name=r.name)
        if not r.ok:
            fail = ET.SubElement(case, "failure", message="requests differ from the expected")
            fail.text = r.diff
    suites = ET.Element("testsuites", tests=str(len(results)), failures=str(failed))
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def cmd_replay(args: argparse.Namespace) -> int:
    from bridge.replay import ReplayFilter, parse_time
    from bridge.replay import run as run_replay
    from bridge.signals import Signals

    filt = ReplayFilter(
        set(args.rule),
        set(args.error_class),
        parse_time(args.since, "--since") if args.since else None,
        parse_time(args.until, "--until") if args.until else None,
        args.max_replays,
    )
    try:
        return run_replay(args.config, filt, args.group, args.follow)
    finally:
        Signals.exiting()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if next((a for a in argv if not a.startswith("-")), None) in ("run", "replay"):
        from bridge.signals import Signals

        # Before anything slow (building the parser imports the sandbox, ~0.1 s; then the
        # pipeline's imports): a SIGTERM during start-up still drains and exits 0.
        Signals.install()
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from bridge.app import run
            from bridge.signals import Signals

            try:
                return run(args.config)
            finally:
                Signals.exiting()
        if args.command == "check":
            return cmd_check(args.config, args.strict, args.format)
        if args.command == "preview":
            return cmd_preview(
                args.config, args.topic, args.event, args.key, args.header, args.schema
            )
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "schedules":
            from bridge.cli.schedules import collect, render

            doc = collect(args.config, args.until)
            if args.json:
                print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
            else:
                print(render(doc))
            return EXIT_OK
        if args.command == "test":
            return cmd_test(args.directory, args.config, args.format)
        if args.command == "console":
            from bridge.console.cli import run as run_console

            return run_console(args)
        if args.command == "sandbox":
            from bridge.sandbox.cli import run as run_sandbox

            return run_sandbox(args)
    except ConfigError as exc:
        return _fail_config(exc)
    except BridgeError as exc:
        print(f"braze-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return EXIT_FAILURE
