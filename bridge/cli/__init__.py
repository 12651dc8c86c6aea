"""Command-line interface (``braze-bridge``)."""

from bridge.cli.main import main

__all__ = ["main"]
