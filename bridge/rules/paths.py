"""Field references, compiled once into plain Python accessors.

Syntax (chosen not to collide with Braze Liquid ``{{ ... }}``, which passes through):

* ``$.user.id``, ``$.items[0].sku``, ``$["odd key"].x`` -- a path into the event value
* ``$key`` (the message key as text), ``$topic``, ``$partition``, ``$offset``,
  ``$timestamp`` (epoch millis), ``$headers.NAME`` (a header as text)

An accessor returns :data:`MISSING` when any step is absent or of the wrong type; values keep
their JSON types. Accessors are generated as small Python functions at start-up, so the hot
path is a few native dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from bridge.models import Event


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Accessor = Callable[[Event], Any]

_META = {"$key", "$topic", "$partition", "$offset", "$timestamp"}
_REFERENCE = re.compile(r"^\$(\.|\[|key$|topic$|partition$|offset$|timestamp$|headers\.)")
_STEP = re.compile(r"""\.([A-Za-z_@$][\w@$-]*)|\[(\d+|-\d+)\]|\[\s*(?:"([^"]*)"|'([^']*)')\s*\]""")


def is_reference(text: object) -> bool:
    """True when ``text`` is a field reference rather than a constant."""
    return isinstance(text, str) and _REFERENCE.match(text) is not None


def parse_path(path: str) -> list[str | int]:
    """Split ``$.a.b[0]`` into steps; raise ValueError naming the bad position."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r}: a path starts with '$.'")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"{path!r}: cannot parse at position {pos} ({path[pos:]!r})")
        name, index, dq, sq = m.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(dq if dq is not None else sq)
        pos = m.end()
    if not steps:
        raise ValueError(f"{path!r}: empty path; use a field like $.user.id")
    return steps


def _text(b: bytes | None) -> Any:
    if b is None:
        return MISSING
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def compile_path(path: str) -> Accessor:
    """Compile a reference into ``accessor(event) -> value | MISSING``."""
    path = path.strip()
    if path in _META:
        if path == "$key":
            return lambda e: _text(e.record.key)
        if path == "$topic":
            return lambda e: e.record.topic
        if path == "$partition":
            return lambda e: e.record.partition
        if path == "$offset":
            return lambda e: e.record.offset
        return lambda e: e.record.timestamp_ms
    if path.startswith("$headers."):
        name = path[len("$headers.") :]
        if not name:
            raise ValueError(f"{path!r}: header name missing")
        return lambda e: _text(e.record.header(name))
    steps = parse_path(path)
    # Generate: def get(e): v = e.value; return v['a']['b'][0] guarded by type checks.
    lines = ["def get(e):", "    v = e.value"]
    for step in steps:
        if isinstance(step, int):
            lines.append("    if type(v) is not list: return MISSING")
            lines.append(f"    try: v = v[{step}]")
            lines.append("    except IndexError: return MISSING")
        else:
            lines.append("    if type(v) is not dict: return MISSING")
            lines.append(f"    v = v.get({step!r}, MISSING)")
            lines.append("    if v is MISSING: return MISSING")
    lines.append("    return v")
    namespace: dict[str, Any] = {"MISSING": MISSING}
    exec(compile("\n".join(lines), f"<path {path}>", "exec"), namespace)  # noqa: S102
    fn: Accessor = namespace["get"]
    return fn
