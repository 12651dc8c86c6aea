"""Loading a config file: read it (bounded size, UTF-8), parse the YAML (bounded), resolve
secret references and validate, with every error naming the file, the field and the reason."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bridge.errors import ConfigError
from bridge.settings.references import Lenient, resolve_secrets
from bridge.settings.root import Settings, check_workspaces
from bridge.settings.yamlload import MAX_CONFIG_BYTES, YamlLimit, load_yaml

_SUBFIELD = re.compile(r"^([a-z_]+): ")
_PROPERTY = re.compile(r"^([a-z0-9_.]+): ")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_settings(
    raw: Any,
    *,
    file: str = "<config>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validate an already-parsed YAML document into :class:`Settings`."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a YAML mapping", file=file)
    base = base_dir or Path.cwd()
    resolve_secrets(raw, file, base, environ)
    try:
        settings = Settings.model_validate(raw)
        check_workspaces(settings, file)
        return settings
    except ValidationError as exc:
        raise _config_error(exc, file) from exc


def _config_error(exc: ValidationError, file: str) -> ConfigError:
    """One ``ConfigError`` for all of pydantic's problems: the first names its field, the
    others follow as ``file: field: reason`` lines."""
    problems = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        loc = _loc(tuple(err["loc"]))
        # a validator naming one of its fields (or one librdkafka property)
        sub = (_PROPERTY if loc.endswith("properties") else _SUBFIELD).match(msg)
        if sub and err["type"] == "value_error":
            loc, msg = (f"{loc}.{sub.group(1)}" if loc else sub.group(1)), msg[sub.end() :]
        problems.append((loc, msg))
    first_field, first_msg = problems[0]
    if len(problems) > 1:
        first_msg += "".join(f"\n  {file}: {f}: {m}" for f, m in problems[1:])
    return ConfigError(first_msg, file=file, field=first_field or None)


def load_settings(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    missing_secrets: list[str] | None = None,
) -> Settings:
    """Read, resolve secrets in, and validate the YAML config at ``path``.

    With ``missing_secrets`` (a list), unset environment variables do not fail: their names
    are appended to it and a placeholder is used (for ``check`` and ``preview``).
    """
    if missing_secrets is not None:
        environ = Lenient(os.environ if environ is None else environ, missing_secrets)
    p = Path(path)
    raw = _parse_yaml(_read_text(p), p)
    return parse_settings(raw, file=str(p), base_dir=p.parent, environ=environ)


def _read_text(p: Path) -> str:
    """The file's text: at most ``MAX_CONFIG_BYTES``, UTF-8."""
    try:
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=str(p)) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the config is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB", file=str(p)
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the config is not UTF-8 text (byte {exc.start} cannot be decoded)", file=str(p)
        ) from None


def _parse_yaml(text: str, p: Path) -> Any:
    """The YAML document (bounded); a syntax error names its line and column."""
    try:
        return load_yaml(text)
    except YamlLimit as exc:
        raise ConfigError(str(exc), file=str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(p)
        ) from exc
