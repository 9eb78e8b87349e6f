"""Strict YAML reading for every file a person writes (journeys, segments, send policy).

A key given twice is an error (not "the last wins"), nesting is bounded, and aliases may not
expand past a bound (no "billion laughs") nor refer to themselves.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from domain.limits import MAX_NESTING_DEPTH, MAX_YAML_NODES

_MERGE = "tag:yaml.org,2002:merge"


class _LimitError(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting, recursive and exploding aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitError(f"nested deeper than {MAX_NESTING_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None:
            _expanded_size(node, {}, set(), 1)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue
                if duplicate:
                    raise _LimitError(f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep)


def _expanded_size(node: Node, sizes: dict[int, int], open_: set[int], depth: int) -> int:
    """How many values `node` stands for with its aliases expanded; refuse cycles and bombs."""
    if depth > MAX_NESTING_DEPTH:
        raise _LimitError(f"nested deeper than {MAX_NESTING_DEPTH} levels", node.start_mark)
    key = id(node)
    if key in open_:
        raise _LimitError("recursive alias: an anchor refers to itself", node.start_mark)
    if key in sizes:
        return sizes[key]
    size = 1
    if isinstance(node, SequenceNode | MappingNode):
        open_.add(key)
        children: list[Node] = (
            list(node.value)
            if isinstance(node, SequenceNode)
            else [part for pair in node.value for part in pair]
        )
        for child in children:
            size += _expanded_size(child, sizes, open_, depth + 1)
            if size > MAX_YAML_NODES:
                raise _LimitError(
                    f"more than {MAX_YAML_NODES} values once aliases are expanded",
                    node.start_mark,
                )
        open_.discard(key)
    sizes[key] = size
    return size


def read_yaml(text: str) -> Any:
    """The document in `text`, read by StrictLoader; yaml.YAMLError when it is not acceptable."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
