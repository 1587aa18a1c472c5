"""FeedPath: the mapping table's path language, compiled once.

Grammar (the operation guides' form)::

    path     := "." | step+
    step     := "." name | "." quoted | "[]" | "[" integer "]" | "[" quoted "]"
    name     := [A-Za-z_@$][A-Za-z0-9_@$-]*
    quoted   := '"' ... '"'

``.iocs[].observations[].severity`` walks key ``iocs``, each element, key ``observations``, each
element, key ``severity``. A missing key, a null or a value of the wrong shape yields nothing;
it is never an error. Syntax errors raise :class:`PathSyntaxError` with the failing column.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any, Union

import attrs

from tqops.errors import PathSyntaxError

__all__ = ["EACH", "FeedPath", "Step"]


@attrs.frozen
class _Each:
    def __str__(self) -> str:
        return "[]"


#: the ``[]`` step: every element of a list
EACH = _Each()

#: a step is a key (str), an index (int) or EACH
Step = Union[str, int, _Each]

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_@$")
_NAME_REST = _NAME_START | frozenset("0123456789-")


def _parse(text: str) -> tuple[Step, ...]:
    if not isinstance(text, str) or not text:
        raise PathSyntaxError("a feed path must be a non-empty string starting with '.'")
    if text == ".":
        return ()
    if text[0] != ".":
        raise PathSyntaxError("expected '.' at the start", text, 0)
    steps: list[Step] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == ".":
            i += 1
            if i < n and text[i] == "[":
                if steps:  # ".[" only directly at the root: ".[]"
                    raise PathSyntaxError("unexpected '[' after '.'", text, i)
                continue
            if i < n and text[i] == '"':
                key, i = _quoted(text, i)
                steps.append(key)
                continue
            start = i
            if i >= n or text[i] not in _NAME_START:
                raise PathSyntaxError("expected a key name after '.'", text, i)
            while i < n and text[i] in _NAME_REST:
                i += 1
            steps.append(text[start:i])
        elif char == "[":
            close = text.find("]", i)
            if i + 1 < n and text[i + 1] == '"':
                key, j = _quoted(text, i + 1)
                if j >= n or text[j] != "]":
                    raise PathSyntaxError("expected ']' after the quoted key", text, j)
                steps.append(key)
                i = j + 1
                continue
            if close < 0:
                raise PathSyntaxError("unclosed '['", text, i)
            inner = text[i + 1 : close]
            if inner == "":
                steps.append(EACH)
            else:
                try:
                    if inner.strip() != inner:
                        raise ValueError
                    steps.append(int(inner))
                except ValueError:
                    raise PathSyntaxError(
                        "expected '[]', '[N]' or '[\"key\"]'", text, i + 1
                    ) from None
            i = close + 1
        else:
            raise PathSyntaxError(f"unexpected {char!r}", text, i)
    return tuple(steps)


def _quoted(text: str, i: int) -> tuple[str, int]:
    """Parse a JSON string starting at ``text[i] == '"'``; return it and the index after it."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            try:
                return json.loads(text[i : j + 1]), j + 1
            except ValueError:
                break
        j += 1
    raise PathSyntaxError("unterminated quoted key", text, i)


def _render(steps: tuple[Step, ...]) -> str:
    if not steps:
        return "."
    out = []
    for step in steps:
        if step is EACH:
            out.append("[]")
        elif isinstance(step, int):
            out.append(f"[{step}]")
        elif step and step[0] in _NAME_START and all(c in _NAME_REST for c in step):
            out.append("." + step)
        else:
            out.append("." + json.dumps(step))
    text = "".join(out)
    return "." + text if text.startswith("[") else text


@attrs.frozen
class FeedPath:
    """A compiled feed path. Build with :meth:`parse` (cached), never from raw steps."""

    steps: tuple[Step, ...]

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def parse(text: str) -> FeedPath:
        return FeedPath(_parse(text))

    def __str__(self) -> str:
        return _render(self.steps)

    def each_prefix(self) -> tuple[Step, ...]:
        """The steps up to and including the last ``[]`` (the record this path is relative to)."""
        for index in range(len(self.steps) - 1, -1, -1):
            if self.steps[index] is EACH:
                return self.steps[: index + 1]
        return ()

    def values(self, document: Any) -> list[Any]:
        """Every value the path reaches, in document order (nulls and misses yield nothing)."""
        return [value for value, _ in walk(document, self.steps)]

    def first(self, document: Any, default: Any = None) -> Any:
        for value, _ in walk(document, self.steps):
            return value
        return default


def walk(
    node: Any, steps: tuple[Step, ...], start: int = 0, scopes: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Yield ``(value, scopes)`` for every non-null value ``steps[start:]`` reaches from ``node``.

    ``scopes`` holds the element chosen at each ``[]`` step, outermost first: the record each
    value belongs to, so sibling paths can be evaluated relative to the same element.
    """
    index = start
    end = len(steps)
    while index < end:
        if node is None:
            return
        step = steps[index]
        if step is EACH:
            if not isinstance(node, list):
                return
            for element in node:
                if element is not None:
                    yield from walk(element, steps, index + 1, (*scopes, element))
            return
        if isinstance(step, str):
            if not isinstance(node, dict):
                return
            node = node.get(step)
        else:
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return
            node = node[step]
        index += 1
    if node is not None:
        yield node, scopes
