"""Secret references in the config: ``${ENV_VAR}`` and ``${file:/path}``.

Secrets never appear literally in the config file: the loader resolves references
before validation, and :class:`pydantic.SecretStr` keeps the value out of reprs and logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_REF = re.compile(r"^\$\{(?:(file):)?([^}]+)\}$")


def is_reference(value: object) -> bool:
    return isinstance(value, str) and _REF.match(value.strip()) is not None


def resolve(value: str, *, environ: Mapping[str, str] | None = None, base_dir: Path) -> str:
    """Resolve one ``${ENV}`` / ``${file:path}`` reference; raise ValueError with the reason."""
    env = os.environ if environ is None else environ
    m = _REF.match(value.strip())
    if m is None:
        raise ValueError(
            "secrets must be given as ${ENV_VAR} or ${file:/path}, never literally in the file"
        )
    kind, name = m.group(1), m.group(2).strip()
    if kind == "file":
        path = Path(name)
        if not path.is_absolute():
            path = base_dir / path
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc
    if name not in env:
        raise ValueError(f"environment variable {name} is not set")
    secret = env[name]
    if not secret:
        raise ValueError(f"environment variable {name} is empty")
    return secret
