"""YAML documents read safely, with every key given twice named by its ``$.path``, and bounded.

PyYAML keeps the last of two equal keys silently; a manifest that says a thing twice is
ambiguous, so each repeat is a problem, listed with the others rather than stopping at the first.

An alias repeats a node without repeating its text: a 14 KB document of nested aliases is a
manifest of 200,000 items to everything that walks it (the schema check, the host's views). A
document is refused, with the limit named, when its text is over :data:`MAX_YAML_BYTES` or it
has more than :data:`MAX_YAML_NODES` nodes once every alias is counted where it is used; both
are checked before a Python object is made.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml

from tqops.errors import ManifestError

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_NODES",
    "SAFE_LOADER",
    "duplicate_keys",
    "expanded_size",
    "load_yaml",
    "safe_load",
]

#: the largest YAML document read (the largest shipped manifest is about 24 KB)
MAX_YAML_BYTES = 2**20
#: the most nodes a document may have with its aliases expanded (the largest shipped manifest
#: has under 2,000)
MAX_YAML_NODES = 50_000

#: libyaml's parser where PyYAML was built with it (about 5 x faster than the pure-Python one,
#: which every `tqops` command paid for each manifest), with the same safe constructor
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: Any) -> Any:
    """``yaml.safe_load`` with the fastest safe loader, bounded as :func:`load_yaml` is."""
    return _load(text)[0]


def load_yaml(text: str) -> tuple[Any, list[str]]:
    """The document in ``text`` (safe tags only) and its repeated keys; a
    :class:`yaml.YAMLError` when it is not YAML, a one-line :class:`ManifestError` naming
    the limit when it is over :data:`MAX_YAML_BYTES` or :data:`MAX_YAML_NODES`."""
    raw, node = _load(text)
    return raw, duplicate_keys(node)


def _load(text: Any) -> tuple[Any, Optional[yaml.Node]]:
    if len(text) > MAX_YAML_BYTES:
        raise ManifestError(
            f"the YAML document is {len(text):,} bytes, over the limit of {MAX_YAML_BYTES:,}"
        )
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        size = expanded_size(node, MAX_YAML_NODES)
        if size > MAX_YAML_NODES:
            raise ManifestError(
                f"the YAML document has over {MAX_YAML_NODES:,} nodes once its aliases are "
                "expanded (the limit): an alias may repeat a part, not multiply the document"
            )
        # deep: a recursive alias is refused ("found unconstructable recursive node")
        raw = loader.construct_object(node, deep=True) if node is not None else None
    finally:
        loader.dispose()
    return raw, node


def expanded_size(node: Optional[yaml.Node], limit: int) -> int:
    """How many nodes ``node`` has with every alias counted where it is used, counted once
    per node (each node's size is kept: linear in the text, however the aliases nest), and
    at most ``limit + 1``. A recursive alias counts its repeat as nothing: the constructor
    refuses it."""
    if node is None:
        return 0
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, ready = stack.pop()
        children = _children(current)
        if ready:
            total = 1 + sum(sizes.get(id(child), 0) for child in children)
            sizes[id(current)] = min(total, limit + 1)
        elif id(current) not in entered:
            entered.add(id(current))
            stack.append((current, True))
            stack += [(child, False) for child in children if id(child) not in entered]
    return sizes[id(node)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def duplicate_keys(node: Optional[yaml.Node]) -> list[str]:
    """Every key given twice in one mapping of a composed YAML document, each named by the
    mapping's ``$.path`` and the repeat's line. A node an alias repeats is walked once (at its
    first path), so nested aliases cannot make the walk explode or loop."""
    problems: list[tuple[int, str]] = []  # (line, problem): told in document order
    walked: set[int] = set()
    stack: list[tuple[Optional[yaml.Node], str]] = [(node, "$")]
    while stack:
        current, at = stack.pop()
        if id(current) in walked:
            continue
        walked.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in current.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None or key == "<<":  # a complex or merge key: no name to give it
                    stack.append((value_node, at))
                    continue
                if key in keys:
                    mark = key_node.start_mark
                    where = f"line {mark.line + 1}, column {mark.column + 1}"
                    problems.append((mark.line, f"duplicate key {key!r} at {where} @ {at}"))
                keys.add(key)
                stack.append((value_node, f"{at}.{key}"))
        elif isinstance(current, yaml.SequenceNode):
            stack += [(item, f"{at}[{index}]") for index, item in enumerate(current.value)]
    return [problem for _, problem in sorted(problems)]
