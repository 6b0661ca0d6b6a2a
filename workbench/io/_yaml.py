"""YAML with bounds: the manifest and ir_metadata run headers are loaded through this SafeLoader.

A SafeLoader shares one Python object per anchor, so an alias bomb ("billion laughs": nine levels of nine
aliases) loads in a millisecond, and then whatever walks the result (str(), a copy, a merge key, an
export) expands it to 10^9 nodes: MemoryError after half a minute. Here the composed node graph is
measured before anything is constructed: more than MAX_NODES nodes once aliases are expanded, or an alias
inside its own anchor (a cycle), is refused with the line, in time linear in the document's size.
"""

from __future__ import annotations

import yaml

MAX_NODES = 1_000_000
"""Nodes after alias expansion. A manifest with thousands of runs has tens of thousands; a 10 MB document
without aliases has fewer than a million."""


class YamlLimitError(yaml.MarkedYAMLError):
    """The document is well-formed but refused by a bound (expansion, cycle, nesting); `problem_mark` says where."""

    problem: str
    problem_mark: yaml.Mark  # always given (yaml's base class allows None)

    def __init__(self, problem: str, mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class BoundedSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses alias bombs and recursive aliases (YamlLimitError)."""

    def compose_document(self):
        try:
            node = super().compose_document()
        except RecursionError:
            raise YamlLimitError("nested too deeply", self.get_mark()) from None
        check_expansion(node)
        return node


def check_expansion(root: yaml.Node | None, limit: int = MAX_NODES) -> None:
    """Count the nodes of `root` with every alias expanded (memoised per shared node, no recursion)."""
    if root is None:
        return
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            active.discard(key)
            total = 1 + sum(size[id(c)] for c in children)
            if total > limit:
                raise YamlLimitError(f"aliases expand this value to more than {limit:,} nodes (an alias bomb?)",
                                     node.start_mark)
            size[key] = total
            continue
        if key in size:
            continue
        if key in active:
            raise YamlLimitError("an alias refers to a value that contains it (a recursive alias)", node.start_mark)
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def safe_load(text: str):
    """yaml.safe_load with the bounds above."""
    return yaml.load(text, Loader=BoundedSafeLoader)
