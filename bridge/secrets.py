"""Secret references in the config: ``${ENV_VAR}`` and ``${file:/path}``.

Secrets never appear literally in the config file: the loader resolves references
before validation, and :class:`pydantic.SecretStr` keeps the value out of reprs and logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from bridge.ops.logs import register_secret

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
        secret = _read_secret_file(path)
    else:
        if name not in env:
            raise ValueError(f"environment variable {name} is not set")
        secret = env[name]
        if not secret:
            raise ValueError(f"environment variable {name} is empty")
    # Only secrets may be references, so every resolved one is kept out of the logs
    # (not only properties named like passwords: also tokens, keys, OAuth configs).
    register_secret(secret)
    return secret


MAX_SECRET_FILE = 64 * 1024  # a key, password or token file; anything larger is not one


def _read_secret_file(path: Path) -> str:
    """Read a secret file: bounded (``/dev/zero`` must not hang start-up), UTF-8 text.

    Reasons name the file, never its content.
    """
    try:
        if path.exists() and not path.is_file():
            raise ValueError(f"secret file {path} is not a regular file")
        with path.open("rb") as f:
            data = f.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc
    if len(data) > MAX_SECRET_FILE:
        raise ValueError(
            f"secret file {path} is larger than {MAX_SECRET_FILE // 1024} KB; is it a secret?"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text; is it a secret?") from None
    if "\x00" in text:
        raise ValueError(f"secret file {path} holds NUL bytes; is it a secret?")
    return text.strip()
