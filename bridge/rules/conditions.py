"""``when:`` conditions, compiled into predicates ``(event) -> bool``.

Forms (field = a path like ``type``/``$.type``, or ``$key``, ``$topic``, ``$headers.NAME``):

    when:
      type: order.shipped                  # equals (types kept: 1 is not "1", true is not 1)
      $.order.total: {gte: 100}            # operators: equals, not_equals, one_of, not_one_of,
      $.user.email: {exists: true}         #   exists, gt, gte, lt, lte, regex, prefix, suffix,
      $headers.source: {one_of: [web, app]}#   contains
      any: [{country: DE}, {country: AT}]  # all / any / not combine conditions
      not: {test_user: true}

Several fields in one mapping must all hold. Everything is compiled at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import re2

from bridge.errors import RuleSpecError
from bridge.models import Event
from bridge.rules.paths import MISSING, compile_path, is_reference

Predicate = Callable[[Event], bool]

OPERATORS = frozenset(
    {
        "equals",
        "not_equals",
        "one_of",
        "not_one_of",
        "exists",
        "gt",
        "gte",
        "lt",
        "lte",
        "regex",
        "prefix",
        "suffix",
        "contains",
    }
)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors are raised (and reported by check), not printed


def compile_regex(pattern: str, where: str) -> Any:
    """Compile with RE2: matching is linear in the input, so no event can stall the loop.

    RE2 has no backreferences or lookaround (the constructs that make backtracking
    exponential); a pattern using them is a config error naming the field.
    """
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        text = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
        raise RuleSpecError(
            where,
            f"{text} (regex conditions use RE2, which matches in linear time and "
            "has no backreferences or lookaround)",
        ) from exc


def same(a: Any, b: Any) -> bool:
    """JSON equality that keeps types apart (True != 1, "1" != 1; 1 == 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _field(name: str) -> str:
    if is_reference(name):
        return name
    if name.startswith("$"):
        raise ValueError(f"{name!r} is not a valid field reference")
    return "$." + name


def _orderable(v: Any) -> Any:
    """Numbers compare as numbers; ISO-8601 strings compare as times."""
    if isinstance(v, bool):
        return MISSING
    if isinstance(v, int | float):
        return v
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return MISSING
    return MISSING


def _op(op: str, arg: Any, where: str) -> Callable[[Any], bool]:
    if op == "equals":
        return lambda v: same(v, arg)
    if op == "not_equals":
        return lambda v: v is not MISSING and not same(v, arg)
    if op in ("one_of", "not_one_of"):
        if not isinstance(arg, list):
            raise RuleSpecError(f"{where}.{op}", "needs a list")
        options = list(arg)
        if options and all(type(o) is str for o in options):  # the common case: a set lookup
            strings = frozenset(options)
            if op == "one_of":
                return lambda v: type(v) is str and v in strings
            return lambda v: v is not MISSING and not (type(v) is str and v in strings)
        if op == "one_of":
            return lambda v: any(same(v, o) for o in options)
        return lambda v: v is not MISSING and not any(same(v, o) for o in options)
    if op == "exists":
        if not isinstance(arg, bool):
            raise RuleSpecError(f"{where}.exists", "needs true or false")
        return (
            (lambda v: v is not MISSING and v is not None)
            if arg
            else (lambda v: v is MISSING or v is None)
        )
    if op in ("gt", "gte", "lt", "lte"):
        bound = _orderable(arg)
        if bound is MISSING:
            raise RuleSpecError(f"{where}.{op}", "needs a number or an ISO-8601 time")
        cmp: Callable[[Any, Any], bool] = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }[op]

        def ordered(v: Any) -> bool:
            o = _orderable(v)
            return o is not MISSING and cmp(o, bound)

        return ordered
    if op == "regex":
        rx = compile_regex(str(arg), f"{where}.regex")
        return lambda v: isinstance(v, str) and rx.search(v) is not None
    if op in ("prefix", "suffix"):
        s = str(arg)
        if op == "prefix":
            return lambda v: isinstance(v, str) and v.startswith(s)
        return lambda v: isinstance(v, str) and v.endswith(s)
    if op == "contains":
        return lambda v: (
            (isinstance(v, str) and isinstance(arg, str) and arg in v)
            or (isinstance(v, list) and any(same(x, arg) for x in v))
        )
    raise RuleSpecError(where, f"unknown operator {op!r} (known: {', '.join(sorted(OPERATORS))})")


def _field_predicate(name: str, spec: Any, where: str) -> Predicate:
    get = compile_path(_field(name))
    if isinstance(spec, dict) and spec and set(spec) <= OPERATORS:
        tests = [_op(op, arg, where) for op, arg in spec.items()]
        if len(tests) == 1:
            t = tests[0]
            return lambda e: t(get(e))
        return lambda e: all(t(v) for v in (get(e),) for t in tests)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - OPERATORS) or ["(none)"]
        raise RuleSpecError(
            where,
            f"unknown operator(s) {', '.join(unknown)} (known: "
            f"{', '.join(sorted(OPERATORS))}; compare to an object with {{equals: ...}})",
        )
    # plain value: equality
    if isinstance(spec, str | int | float | bool) and not isinstance(spec, bool):
        const = spec
        if isinstance(const, str):
            return lambda e: type(v := get(e)) is str and v == const
        return lambda e: same(get(e), const)
    return lambda e: same(get(e), spec)


def compile_when(when: Any, where: str = "when") -> Predicate:
    """Compile a ``when`` mapping; raise RuleSpecError naming the offending field."""
    if when is None or when == {}:
        return lambda e: True
    if not isinstance(when, dict):
        raise RuleSpecError(where, "must be a mapping of field: condition")
    preds: list[Predicate] = []
    for key, spec in when.items():
        k = str(key)
        here = f"{where}.{k}"
        if k in ("all", "any"):
            if not isinstance(spec, list) or not spec:
                raise RuleSpecError(here, "needs a non-empty list of conditions")
            subs = [compile_when(s, f"{here}[{i}]") for i, s in enumerate(spec)]
            preds.append(_all(subs) if k == "all" else _any(subs))
        elif k == "not":
            preds.append(_not(compile_when(spec, here)))
        else:
            try:
                preds.append(_field_predicate(k, spec, here))
            except RuleSpecError:
                raise
            except ValueError as exc:  # a bad field reference: the reason alone
                raise RuleSpecError(here, str(exc)) from exc
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda e: a(e) and b(e)
    return lambda e: all(p(e) for p in preds)


def _all(subs: list[Predicate]) -> Predicate:
    return lambda e: all(p(e) for p in subs)


def _any(subs: list[Predicate]) -> Predicate:
    return lambda e: any(p(e) for p in subs)


def _not(sub: Predicate) -> Predicate:
    return lambda e: not sub(e)
