"""What every ``braze-bridge`` command shares: exit codes, ``--config``, the config-error line."""

from __future__ import annotations

import argparse
import os
import sys

from bridge.errors import ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # argparse
EXIT_CONFIG = 78  # EX_CONFIG
CONFIG_ENV = "BRAZE_BRIDGE_CONFIG"
_CONFIG_HELP = f"YAML config file (default: ${CONFIG_ENV})"


def add_config(p: argparse.ArgumentParser) -> None:
    """Add ``--config``/``-c``, required unless ``$BRAZE_BRIDGE_CONFIG`` names the file."""
    default = os.environ.get(CONFIG_ENV) or None
    p.add_argument("--config", "-c", default=default, required=default is None, help=_CONFIG_HELP)


def fail_config(exc: ConfigError) -> int:
    """Report an invalid configuration on stderr and return its exit code (78)."""
    print(f"braze-bridge: invalid config: {exc}", file=sys.stderr)
    return EXIT_CONFIG
