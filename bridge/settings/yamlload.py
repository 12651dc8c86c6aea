"""YAML parsing with bounds: nesting depth and alias expansion are limited before any object
is built, so a small file cannot stand for billions of values."""

from __future__ import annotations

from typing import Any

import yaml

MAX_CONFIG_BYTES = 32 * 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_ALIAS_EXPANSION = 100_000  # nodes aliases may add beyond the file's own nodes


class YamlLimit(Exception):
    """The document exceeds a bound of the loader (depth, alias expansion)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and alias bombs *before* building objects.

    Aliases share nodes, so a 1 KB file can stand for billions of values once anything walks
    it (validation, rule compilation). The expanded size is counted over the node graph
    (memoised per node), so the check itself stays linear in the file.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlLimit(
                    f"YAML nested deeper than {MAX_YAML_DEPTH} levels at line {mark.line + 1}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(distinct nodes, nodes after expanding every alias) of a composed document."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack: list[yaml.Node] = [root]
    while stack:  # post-order without recursion
        n = stack.pop()
        if id(n) in sizes:
            continue
        sizes[id(n)] = -1
        order.append(n)
        stack.extend(_children(n))
    for n in reversed(order):
        sizes[id(n)] = min(1 + sum(sizes[id(c)] for c in _children(n)), 1 << 62)
    return len(order), sizes[id(root)]


def _children(n: yaml.Node) -> list[yaml.Node]:
    if isinstance(n, yaml.SequenceNode):
        return list(n.value)
    if isinstance(n, yaml.MappingNode):
        return [x for kv in n.value for x in kv]
    return []


def load_yaml(text: str) -> Any:
    """Parse one YAML document with bounded depth and alias expansion (raise YamlLimit)."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        distinct, expanded = _expanded_size(node)
        if expanded - distinct > MAX_ALIAS_EXPANSION:
            raise YamlLimit(
                f"YAML aliases expand the document beyond {MAX_ALIAS_EXPANSION} extra values "
                "(an alias bomb?); write the values out or use fewer nested aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()
