"""Field mappings (``trigger_properties``, ``context``, recipient fields), compiled once.

Value forms:

* ``$.order.id`` -- a required field: missing -> the event is dead-lettered, path named
* ``{path: $.order.coupon, default: null}`` -- optional, with a default (omit the key when
  the default is not given and the field is missing: ``{path: ..., optional: true}``)
* ``{path: $.total, as: number}`` -- conversion: string, number, integer, boolean,
  iso_time (epoch millis/seconds or ISO string -> ISO-8601 UTC), epoch_millis
* ``{const: "$.literal"}`` -- a constant that would otherwise look like a reference
* ``{template: "Order {id} is on its way", values: {id: $.order.id}}`` -- a string built
  from values; only single-brace ``{name}`` of a declared value is replaced, so Liquid
  (``{{ ... }}``, ``{% ... %}``) in the template passes through
* nested mappings and lists are mapped recursively; any other value is a constant
  (Braze Liquid such as ``"{{${first_name}}}"`` passes through untouched)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bridge.errors import RuleError, RuleSpecError
from bridge.models import Event
from bridge.rules.paths import MISSING, compile_path, is_reference

Mapper = Callable[[Event], Any]
_OMIT = object()
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what a request's JSON can carry
CONVERSIONS = ("string", "number", "integer", "boolean", "iso_time", "epoch_millis")


def _to_epoch_ms(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("boolean is not a time")
    if isinstance(v, int | float):
        # heuristics: seconds vs millis
        return int(v * 1000) if abs(v) < 1e11 else int(v)
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            # the value itself stays out of the reason: it may be an e-mail or a user id
            raise ValueError(f"a string of {len(v)} characters is not an ISO-8601 time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    raise ValueError(f"cannot read {type(v).__name__} as a time")


def _kind(v: Any) -> str:
    """How a value is named in reasons: its type, never its text (it may be personal data)."""
    if isinstance(v, str):
        return f"a string of {len(v)} characters"
    return "null" if v is None else type(v).__name__


def convert(v: Any, kind: str) -> Any:
    """Convert a JSON value; raise ValueError with the reason."""
    if kind == "string":
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        raise ValueError(f"cannot convert {type(v).__name__} to string")
    if kind in ("number", "integer"):
        if isinstance(v, bool):
            raise ValueError("cannot convert boolean to a number")
        if isinstance(v, str):
            try:
                v = float(v) if any(c in v for c in ".eE") else int(v)
            except ValueError:
                raise ValueError(f"a string of {len(v)} characters is not a number") from None
        if not isinstance(v, int | float):
            raise ValueError(f"cannot convert {type(v).__name__} to a number")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("not a finite number")  # JSON would silently write null
        out = int(v) if kind == "integer" else v
        if isinstance(out, int) and not _INT_MIN <= out <= _INT_MAX:
            raise ValueError(f"{len(str(abs(out)))}-digit integer is outside the 64-bit range")
        return out
    if kind == "boolean":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false", "1", "0", "yes", "no"):
            return v.lower() in ("true", "1", "yes")
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        raise ValueError(f"cannot convert {_kind(v)} to boolean")
    if kind == "iso_time":
        ms = _to_epoch_ms(v)
        return (
            datetime.fromtimestamp(ms / 1000, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    if kind == "epoch_millis":
        return _to_epoch_ms(v)
    raise ValueError(f"unknown conversion {kind!r} (known: {', '.join(CONVERSIONS)})")


def compile_value(spec: Any, where: str, rule: str) -> Mapper:
    """Compile one mapping value; raise RuleSpecError naming ``where`` for bad specs."""
    if isinstance(spec, str) and is_reference(spec):
        return _compile_reference(spec, where, rule)
    if isinstance(spec, dict) and "const" in spec:
        if set(spec) != {"const"}:
            raise RuleSpecError(where, "const takes no other keys")
        c = spec["const"]
        return lambda e: c
    if isinstance(spec, dict) and "template" in spec:
        return _compile_template(spec, where, rule)
    if isinstance(spec, dict) and "path" in spec:
        return _compile_path_spec(spec, where, rule)
    if isinstance(spec, dict):
        return compile_object(spec, where, rule)
    if isinstance(spec, list):
        items = [compile_value(s, f"{where}[{i}]", rule) for i, s in enumerate(spec)]
        if all(is_constant(s) for s in spec):
            return lambda e: spec
        return lambda e: [v for v in (m(e) for m in items) if v is not _OMIT]
    return lambda e: spec


def _compile_reference(spec: str, where: str, rule: str) -> Mapper:
    """``$.a.b``: the field's value; a missing field fails the event (RuleError)."""
    try:
        get = compile_path(spec)
    except ValueError as exc:
        raise RuleSpecError(where, str(exc)) from exc

    def required(e: Event) -> Any:
        v = get(e)
        if v is MISSING:
            raise RuleError(f"required field {spec} is missing", rule=rule, path=spec)
        return v

    return required


def _compile_path_spec(spec: dict[str, Any], where: str, rule: str) -> Mapper:
    """``{path, default, optional, as}``: the field's value, its default or omission when
    missing, converted with ``as`` (a value that does not convert fails the event)."""
    extra = set(spec) - {"path", "default", "as", "optional"}
    if extra:
        raise RuleSpecError(where, f"unknown keys {', '.join(sorted(extra))}")
    path = spec["path"]
    if not is_reference(path):
        raise RuleSpecError(f"{where}.path", f"{path!r} is not a field reference like $.a.b")
    try:
        get = compile_path(path)
    except ValueError as exc:
        raise RuleSpecError(f"{where}.path", str(exc)) from exc
    has_default = "default" in spec
    default = spec.get("default")
    optional = bool(spec.get("optional", False))
    kind = spec.get("as")
    if kind is not None and kind not in CONVERSIONS:
        raise RuleSpecError(
            f"{where}.as", f"unknown conversion {kind!r} ({', '.join(CONVERSIONS)})"
        )

    def mapped(e: Event) -> Any:
        v = get(e)
        if v is MISSING:
            if has_default:
                return default
            if optional:
                return _OMIT
            raise RuleError(f"required field {path} is missing", rule=rule, path=path)
        if kind is not None:
            try:
                return convert(v, kind)
            except (ValueError, OverflowError) as exc:
                raise RuleError(
                    f"field {path}: cannot convert to {kind}: {exc}", rule=rule, path=path
                ) from exc
        return v

    return mapped


_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")


def _compile_template(spec: dict[str, Any], where: str, rule: str) -> Mapper:
    extra = set(spec) - {"template", "values"}
    if extra:
        raise RuleSpecError(where, f"unknown keys {', '.join(sorted(extra))}")
    text = spec["template"]
    values = spec.get("values") or {}
    if not isinstance(text, str) or not isinstance(values, dict):
        raise RuleSpecError(where, "template must be a string and values a mapping")
    used = set(_PLACEHOLDER.findall(text)) & set(values)
    unknown = set(_PLACEHOLDER.findall(text)) - set(values)
    if unknown:
        raise RuleSpecError(
            f"{where}.template",
            f"{{{sorted(unknown)[0]}}} has no entry in values "
            "(Liquid uses double braces and is left alone)",
        )
    fns = {k: compile_value(v, f"{where}.values.{k}", rule) for k, v in values.items() if k in used}

    def render(e: Event) -> str:
        got = {k: f(e) for k, f in fns.items()}

        def sub(m: re.Match[str]) -> str:
            v = got[m.group(1)]
            if isinstance(v, bool):
                return "true" if v else "false"
            return v if isinstance(v, str) else json_text(v)

        return _PLACEHOLDER.sub(sub, text)

    return render


def json_text(v: Any) -> str:
    import orjson

    return orjson.dumps(v).decode()


def is_constant(spec: Any) -> bool:
    if isinstance(spec, str):
        return not is_reference(spec)
    if isinstance(spec, dict):
        return (
            "path" not in spec
            and "template" not in spec
            and all(is_constant(v) for v in spec.values())
        )
    if isinstance(spec, list):
        return all(is_constant(v) for v in spec)
    return True


def compile_object(
    spec: dict[str, Any], where: str, rule: str
) -> Callable[[Event], dict[str, Any]]:
    """Compile a mapping of key -> value spec into ``(event) -> dict``."""
    if is_constant(spec):
        return lambda e: spec
    fields = [(str(k), compile_value(v, f"{where}.{k}", rule)) for k, v in spec.items()]

    def build(e: Event) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, m in fields:
            v = m(e)
            if v is not _OMIT:
                out[k] = v
        return out

    return build
