"""``braze-bridge replay``: run dead letters through today's rules and delivery."""

from __future__ import annotations

import argparse

from bridge.cli.conventions import add_config


def add_replay_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``replay`` command and its filters."""
    rp = sub.add_parser("replay", help="run dead letters through today's rules and delivery")
    add_config(rp)
    rp.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    cls_help = "only this __bridge.errors.class (repeatable): DecodeError, RuleError, bad_request…"
    rp.add_argument("--error-class", action="append", default=[], help=cls_help)
    rp.add_argument("--since", help="dead-lettered at or after (ISO-8601)")
    rp.add_argument("--until", help="dead-lettered at or before (ISO-8601)")
    rp.add_argument("--max-replays", type=int, default=3, help="loop guard (default 3)")
    rp.add_argument("--group", help="consumer group (default: <group_id>.replay)")
    rp.add_argument("--follow", action="store_true", help="keep running at the end")


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
