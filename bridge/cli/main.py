"""``braze-bridge`` command line: run, check, preview, replay, schedules, test, sandbox.

Conventions (compare ``vector validate``, ``rpk connect lint``): results on stdout, warnings
and errors on stderr; the config path from ``--config`` or ``$BRAZE_BRIDGE_CONFIG``;
``--format json`` (and ``junit`` for ``test``) for CI systems. Exit codes:

* 0 success;
* 1 runtime failure (Kafka unreachable, a golden case failed, port in use, ...);
* 2 usage error (unknown command or flag, missing ``--config``; argparse's code);
* 78 invalid configuration (``EX_CONFIG`` of sysexits.h, as Vector uses), and warnings
  under ``check --strict``.

Each command family has its module in this package (its ``add_*_arguments`` and ``cmd_*``);
this one builds the parser from them and dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bridge import __version__
from bridge.cli.check import add_check_arguments, add_run_arguments, cmd_check, cmd_run
from bridge.cli.conventions import EXIT_FAILURE, fail_config
from bridge.cli.golden import add_test_arguments, cmd_test
from bridge.cli.local import add_console_arguments, add_sandbox_arguments, cmd_console, cmd_sandbox
from bridge.cli.preview import add_preview_arguments, cmd_preview
from bridge.cli.replay import add_replay_arguments, cmd_replay
from bridge.cli.schedules import add_schedules_arguments, cmd_schedules
from bridge.errors import BridgeError, ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="braze-bridge",
        description="Kafka events -> declarative rules -> batched Braze API calls.",
    )
    p.add_argument("--version", action="version", version=f"braze-bridge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    add_run_arguments(sub)
    add_check_arguments(sub)
    add_preview_arguments(sub)
    add_replay_arguments(sub)
    add_schedules_arguments(sub)
    add_test_arguments(sub)
    add_console_arguments(sub)
    add_sandbox_arguments(sub)
    return p


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command ``args`` names."""
    if args.command == "run":
        return cmd_run(args.config)
    if args.command == "check":
        return cmd_check(args.config, args.strict, args.format)
    if args.command == "preview":
        return cmd_preview(args.config, args.topic, args.event, args.key, args.header, args.schema)
    if args.command == "replay":
        return cmd_replay(args)
    if args.command == "schedules":
        return cmd_schedules(args.config, args.until, args.json)
    if args.command == "test":
        return cmd_test(args.directory, args.config, args.format)
    if args.command == "console":
        return cmd_console(args)
    if args.command == "sandbox":
        return cmd_sandbox(args)
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if next((a for a in argv if not a.startswith("-")), None) in ("run", "replay"):
        from bridge.signals import Signals

        # Before anything slow (building the parser imports the sandbox, ~0.1 s; then the
        # pipeline's imports): a SIGTERM during start-up still drains and exits 0.
        Signals.install()
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        return fail_config(exc)
    except BridgeError as exc:
        print(f"braze-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
