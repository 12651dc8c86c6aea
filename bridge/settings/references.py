"""Secret references in the raw document: ``${ENV_VAR}`` and ``${file:/path}`` are resolved
in place before validation, and literal secrets are refused with the field that holds them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge import secrets
from bridge.errors import ConfigError
from bridge.settings.kafka import holds_inline_secret, is_secret_property


class Lenient(dict[str, str]):
    """Environment for check/preview: unset variables resolve to a placeholder."""

    def __init__(self, base: Mapping[str, str], missing: list[str]) -> None:
        super().__init__(base)
        self.missing = missing

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        self.missing.append(key)
        return "unset-" + key


def resolve_secrets(
    raw: dict[str, Any], file: str, base: Path, env: Mapping[str, str] | None
) -> None:
    """Resolve every secret reference of the raw document in place: the Braze key (and each
    workspace's), ``kafka.properties`` and the registry's password and token. A literal
    where a secret belongs, or a reference that does not resolve, is a ``ConfigError``
    naming the field (never the value)."""
    braze = raw.get("braze")
    if isinstance(braze, dict):
        _resolve_braze(braze, file, base, env)
    kafka = raw.get("kafka")
    props = kafka.get("properties") if isinstance(kafka, dict) else None
    if isinstance(props, dict):
        _resolve_properties(props, file, base, env)
    reg = raw.get("schema_registry")
    if isinstance(reg, dict):
        _resolve_registry(reg, file, base, env)


def _resolve_braze(
    braze: dict[str, Any], file: str, base: Path, env: Mapping[str, str] | None
) -> None:
    """The ``braze`` block's key and each workspace's key."""
    if "api_key" in braze:
        braze["api_key"] = _resolve_api_key(braze["api_key"], file, "braze.api_key", base, env)
    spaces = braze.get("workspaces")
    if isinstance(spaces, dict):
        for name, ws in spaces.items():
            if isinstance(ws, dict) and "api_key" in ws:
                field = f"braze.workspaces.{name}.api_key"
                ws["api_key"] = _resolve_api_key(ws["api_key"], file, field, base, env)


def _resolve_properties(
    props: dict[str, Any], file: str, base: Path, env: Mapping[str, str] | None
) -> None:
    """``kafka.properties``: references resolve; a secret property (or a value with a secret
    inside) written literally is refused."""
    for name, value in list(props.items()):
        field = f"kafka.properties.{name}"
        if secrets.is_reference(value):
            props[name] = _resolve(str(value), file, field, base, env)
        elif is_secret_property(str(name)) or holds_inline_secret(str(value)):
            raise ConfigError(
                "secret values must be ${ENV_VAR} or ${file:/path} references",
                file=file,
                field=field,
            )


def _resolve_registry(
    reg: dict[str, Any], file: str, base: Path, env: Mapping[str, str] | None
) -> None:
    """The schema registry's password and bearer token: references only."""
    for name in ("password", "bearer_token"):
        if name in reg and reg[name] is not None:
            value = reg[name]
            field = f"schema_registry.{name}"
            if not secrets.is_reference(value):
                raise ConfigError(
                    "secret values must be ${ENV_VAR} or ${file:/path} references",
                    file=file,
                    field=field,
                )
            reg[name] = _resolve(str(value), file, field, base, env)


def _resolve_api_key(
    value: Any, file: str, field: str, base: Path, env: Mapping[str, str] | None
) -> str:
    """A Braze key: it must be a reference, never the key itself."""
    if not isinstance(value, str) or not secrets.is_reference(value):
        raise ConfigError(
            "the API key must not be written in the file; use ${BRAZE_API_KEY} or "
            "${file:/path/to/key}",
            file=file,
            field=field,
        )
    return _resolve(value, file, field, base, env)


def _resolve(value: str, file: str, field: str, base: Path, env: Mapping[str, str] | None) -> str:
    """One reference's value; a reference that does not resolve is a ``ConfigError``."""
    try:
        return secrets.resolve(value, environ=env, base_dir=base)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, field=field) from exc
