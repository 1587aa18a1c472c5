"""YAML documents read safely, with every key given twice named by its ``$.path``.

PyYAML keeps the last of two equal keys silently; a manifest that says a thing twice is
ambiguous, so each repeat is a problem, listed with the others rather than stopping at the first.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml

__all__ = ["SAFE_LOADER", "duplicate_keys", "load_yaml", "safe_load"]

#: libyaml's parser where PyYAML was built with it (about 5 x faster than the pure-Python one,
#: which every `tqops` command paid for each manifest), with the same safe constructor
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: Any) -> Any:
    """``yaml.safe_load`` with the fastest safe loader."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)


def load_yaml(text: str) -> tuple[Any, list[str]]:
    """The document in ``text`` (safe tags only) and its repeated keys; a
    :class:`yaml.YAMLError` when it is not YAML."""
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        # deep: a recursive alias is refused ("found unconstructable recursive node")
        raw = loader.construct_object(node, deep=True) if node is not None else None
    finally:
        loader.dispose()
    return raw, duplicate_keys(node)


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
