"""The local tools: ``braze-bridge console`` (web console) and ``braze-bridge sandbox``.

Their options and behaviour live with them (:mod:`bridge.console.cli`,
:mod:`bridge.sandbox.cli`); this module only wires them into the command line.
"""

from __future__ import annotations

import argparse


def add_console_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``console`` command, with the options :mod:`bridge.console.cli` defines."""
    con = sub.add_parser("console", help="local web console: rules, try events, sandbox inbox")
    from bridge.console.cli import add_arguments

    add_arguments(con)


def add_sandbox_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``sandbox`` command, with the options :mod:`bridge.sandbox.cli` defines."""
    sb = sub.add_parser("sandbox", help="run the local Braze sandbox")
    from bridge.sandbox.cli import add_arguments

    add_arguments(sb)


def cmd_console(args: argparse.Namespace) -> int:
    from bridge.console.cli import run

    return run(args)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bridge.sandbox.cli import run

    return run(args)
