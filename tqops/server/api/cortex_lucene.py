"""The query strings Cortex's ``_string`` operator takes (Elasticsearch's ``query_string``, a
Lucene query), parsed into a small tree that :mod:`tqops.server.api.cortexquery` evaluates.

The part of the syntax searches use: ``field:value``, ``field:"a phrase"``, bare terms and
phrases (any field), ``*`` and ``?`` in a term, ``field:[a TO b]`` and ``{a TO b}`` (``*`` for
an open end), ``field:>v``, ``>=``, ``<``, ``<=``, ``_exists_:field``, ``AND``/``&&``,
``OR``/``||``, ``NOT``/``!``, ``+`` and ``-`` before a clause, and parentheses. Clauses side by
side are OR'ed, as Lucene's default operator; ``-`` and ``NOT`` bind tightest, then AND, then
OR. A syntax error is a 400 naming the column.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from tqops.server.auth import Problem

__all__ = ["Node", "parse_lucene"]

#: a parsed query: ("and" | "or", [nodes]), ("not", node), ("all",), ("exists", field),
#: ("word" | "phrase" | "pattern", field or None, text), ("range", field, low, high,
#: low included, high included)
Node = tuple[Any, ...]

_TOKEN = re.compile(
    r'\s*(?:(?P<phrase>"(?:[^"\\]|\\.)*")|(?P<open>\()|(?P<close>\))|(?P<and>&&)|(?P<or>\|\|)'
    r"|(?P<range>[\[{][^\]}]*[\]}])|(?P<word>(?:[^\s()\"\\\[\]{}]|\\.)+))"
)
_MAX_LENGTH = 2000


def parse_lucene(text: str) -> Node:
    """The tree of a query string; a 400 naming the column of what does not parse."""
    if len(text) > _MAX_LENGTH:
        raise Problem(400, f"a _string query is at most {_MAX_LENGTH} characters")
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek() is not None:
        parser.fail("an operator or the end")
    return node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            found = _TOKEN.match(text, position)
            if not found or found.end() == position:
                if text[position:].strip():
                    raise Problem(400, f"the _string query does not parse at column {position + 1}")
                break
            kind = found.lastgroup or ""
            self.tokens.append((kind, found.group(kind), found.start(kind) + 1))
            position = found.end()
        self.at = 0

    def peek(self) -> Optional[tuple[str, str, int]]:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail("a term")
        self.at += 1
        return token  # type: ignore[return-value]

    def fail(self, wanted: str) -> None:
        token = self.peek()
        where = f"column {token[2]} ({token[1][:20]!r})" if token else "the end"
        raise Problem(400, f"the _string query expects {wanted} at {where}")

    def _is(self, *kinds: str) -> bool:
        token = self.peek()
        if token is None:
            return False
        kind, value, _ = token
        named = {"AND": "and", "OR": "or", "NOT": "not"}.get(value) if kind == "word" else None
        return kind in kinds or named in kinds

    def expression(self) -> Node:
        """Clauses side by side or OR'ed: as Lucene reads them, a ``+`` clause is required
        (the others then only rank), a ``-`` or NOT clause excluded, the rest OR'ed."""
        required: list[Node] = []
        optional: list[Node] = []
        excluded: list[Node] = []
        while self.peek() is not None and not self._is("close"):
            if (required or optional or excluded) and self._is("or"):
                self.take()
            node = self.conjunction()
            {"req": required, "not": excluded}.get(node[0], optional).append(
                node[1] if node[0] in ("req", "not") else node
            )
        if not (required or optional or excluded):
            self.fail("a term")
        kept = required or ([("or", optional)] if len(optional) > 1 else optional) or [("all",)]
        parts = kept + [("not", node) for node in excluded]
        return parts[0] if len(parts) == 1 else ("and", parts)

    def conjunction(self) -> Node:
        clauses = [self.unary()]
        while self._is("and"):
            self.take()
            clauses.append(self.unary())
        if len(clauses) == 1:
            return clauses[0]
        return ("and", [c[1] if c[0] == "req" else c for c in clauses])

    def unary(self) -> Node:
        if self._is("not"):
            self.take()
            return ("not", self.unary())
        token = self.peek()
        if token and token[0] == "word" and token[1][0] in "-!+" and len(token[1]) > 1:
            sign = token[1][0]
            self.tokens[self.at] = ("word", token[1][1:], token[2] + 1)
            inner = self.unary()
            return ("req", inner) if sign == "+" else ("not", inner)
        if token and token[0] == "word" and token[1] == "!":
            self.take()
            return ("not", self.unary())
        return self.primary()

    def primary(self) -> Node:
        kind, value, column = self.take()
        if kind == "open":
            node = self.expression()
            if not self._is("close"):
                self.fail("')'")
            self.take()
            return ("and", [node]) if node[0] in ("req", "not") else node
        if kind == "phrase":
            return ("phrase", None, _unescape(value[1:-1]))
        if kind != "word" or value in ("AND", "OR", "&&", "||"):
            raise Problem(400, f"the _string query expects a term at column {column}")
        field, colon, rest = _split_field(value)
        if not colon:
            return ("all",) if value == "*" else _term(None, value)
        if not rest:  # field:"phrase", field:[a TO b], field:(...)
            return self._field_value(field)
        if field == "_exists_":
            return ("exists", _unescape(rest))
        return _comparison(field, rest) or _term(field, rest)

    def _field_value(self, field: str) -> Node:
        kind, value, column = self.take()
        if kind == "phrase":
            return ("phrase", field, _unescape(value[1:-1]))
        if kind == "range":
            return _range(field, value, column)
        if kind == "open":
            node = self.expression()
            if not self._is("close"):
                self.fail("')'")
            self.take()
            return _with_field(node, field)
        raise Problem(400, f"the _string query expects a value for {field} at column {column}")


def _split_field(word: str) -> tuple[str, bool, str]:
    """``field:value`` (an escaped colon is text)."""
    found = re.match(r"((?:[^:\\]|\\.)+):(.*)$", word, re.S)
    if not found:
        return "", False, word
    return _unescape(found.group(1)), True, found.group(2)


def _term(field: Optional[str], value: str) -> Node:
    if re.search(r"(?<!\\)[*?]", value):
        return ("pattern", field, _unescape(value))
    return ("word", field, _unescape(value))


def _comparison(field: str, value: str) -> Optional[Node]:
    found = re.match(r"(>=|<=|>|<)(.+)$", value)
    if not found:
        return None
    operator, bound = found.group(1), _unescape(found.group(2))
    if operator.startswith(">"):
        return ("range", field, bound, None, operator == ">=", False)
    return ("range", field, None, bound, False, operator == "<=")


def _range(field: str, value: str, column: int) -> Node:
    found = re.fullmatch(r"([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])", value)
    if not found:
        raise Problem(400, f"the _string query's range at column {column} is not [LOW TO HIGH]")
    low, high = (None if b == "*" else _unescape(b.strip('"')) for b in found.group(2, 3))
    return ("range", field, low, high, found.group(1) == "[", found.group(4) == "]")


def _with_field(node: Node, field: str) -> Node:
    """``field:(a OR b)``: the field given to each bare term inside."""
    kind = node[0]
    if kind in ("and", "or"):
        return (kind, [_with_field(child, field) for child in node[1]])
    if kind == "not":
        return ("not", _with_field(node[1], field))
    if kind in ("word", "phrase", "pattern") and node[1] is None:
        return (kind, field, node[2])
    return node


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)
