"""The rows' trie compiled into one Python function per manifest.

The way fastjsonschema compiles a schema: nested loops and an inlined common case (a string or
number under a fixed name) replace a recursive walk of the trie. Its specification is the
interpreter in ``tests/mapping_oracle.py``; a property test checks both give identical results
on arbitrary tables and JSON. Path keys and names reach the code as constants in its namespace,
never as source text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import count
from typing import Any, Callable

from tqops.dates import parse_datetime
from tqops.errors import ManifestError
from tqops.mapping.rows import Node, Relative, Row, depth, name_text, split_pair, subtree
from tqops.mapping.values import apply_transforms, scalar_text

__all__ = ["MAX_DEPTH", "RecordFunction", "generate"]

#: ``f(record, document, published0, target, state, earliest, slow)`` -> per row, a hit
RecordFunction = Callable[..., tuple[bool, ...]]

_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()

#: deeper, the source would pass Python's 100 indents (a shallower trie may still pass its 20
#: nested loops: compile() then refuses it)
MAX_DEPTH = 40


def generate(
    rows: Sequence[Row],
    trie: Node,
    indicator_published: tuple[Relative, ...],
    names: Mapping[str, str],
) -> RecordFunction:
    """Compile the trie into one function; a trie too deep for Python is a ManifestError."""
    levels = depth(trie)
    inside = [row for row in rows if row.value.in_record]
    deepest = max(inside, key=lambda row: len(row.value.steps)).label if inside else "."
    if levels > MAX_DEPTH:
        raise ManifestError(
            f"mapping nests {levels} levels deep; at most {MAX_DEPTH} can be compiled @ {deepest}"
        )
    writer = _Writer(rows, indicator_published, names)
    source = writer.function(trie)
    try:
        code = compile(source, "<tqops generated mapping>", "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise ManifestError(
            f"mapping nests {levels} levels deep, too deep to compile ({reason}) @ {deepest}"
        ) from None
    exec(code, writer.namespace)  # noqa: S102 - our own source; every path key is a constant
    function = writer.namespace["_mapped"]
    function.source = source
    return function  # type: ignore[no-any-return]


class _Writer:
    """Writes the function's source line by line; what it reads from the table is constants."""

    def __init__(
        self,
        rows: Sequence[Row],
        indicator_published: tuple[Relative, ...],
        names: Mapping[str, str],
    ) -> None:
        self.rows = rows
        self.indicator_published = indicator_published
        self.names = names
        self.namespace: dict[str, Any] = {"UNSET": _UNSET}
        functions = (apply_transforms, scalar_text, name_text, split_pair, parse_datetime)
        self.namespace.update((f.__name__, f) for f in functions)
        self.lines: list[str] = []
        self.counter = count()

    def constant(self, prefix: str, value: Any) -> str:
        """A fresh namespace name bound to ``value``."""
        name = f"{prefix}{next(self.counter)}"
        self.namespace[name] = value
        return name

    def memo_level(self, index: int) -> int:
        """The [] depth a row's own published date is memoised on (-1: it takes the
        indicator's date, published0)."""
        row = self.rows[index]
        if row.published and row.published != self.indicator_published:
            return row.published_level
        return -1

    def memo_resets(self, node: Node, level: int) -> list[str]:
        """Forget the dates memoised on the element a loop at ``level`` moves past."""
        rows = self.rows
        keys = {rows[i].published_key for i in subtree(node) if self.memo_level(i) == level}
        return [f"p{key} = UNSET" for key in sorted(keys)]

    def function(self, trie: Node) -> str:
        """The whole source of ``_mapped``."""
        self.lines = [
            "def _mapped(record, document, published0, target, state, earliest, slow):",
            "    A = target.attributes",
            "    PRE = state.prefixes",
        ]
        self.lines += [f"    h{index} = False" for index in range(len(self.rows))]
        self.lines += ["    " + text for text in self.memo_resets(trie, 0)]
        self.node(trie, "record", 0, "    ")
        self.lines.append("    return (" + "".join(f"h{i}, " for i in range(len(self.rows))) + ")")
        return "\n".join(self.lines) + "\n"

    def node(self, node: Node, var: str, level: int, pad: str) -> None:
        """The code for the rows at ``node`` (its value in ``var``) and for its children."""
        lines = self.lines
        scopes = "(" + "".join(f"s{i}, " for i in range(1, level + 1)) + ")"
        for index in node.rows:
            lines.extend(pad + text for text in self.row(index, var, scopes))
        text_keys = [(k, c) for k, c in node.keys.items() if isinstance(k, str)]
        number_keys = [(k, c) for k, c in node.keys.items() if isinstance(k, int)]
        if text_keys or node.known is not None:
            lines.append(f"{pad}if isinstance({var}, dict):")
            if node.known is not None:  # the drift check: a key nobody reads nor ignores
                known = self.constant("KN", node.known)
                lines.append(f"{pad}    if not {known}.issuperset({var}):")
                lines.append(
                    f"{pad}        state.drift({self.constant('KL', node.label)}, {var}, {known})"
                )
            for key, child in text_keys:
                found = f"v{next(self.counter)}"
                lines.append(f"{pad}    {found} = {var}.get({self.constant('K', key)})")
                lines.append(f"{pad}    if {found} is not None:")
                self.node(child, found, level, pad + "        ")
        if number_keys:
            size = f"n{next(self.counter)}"
            lines.append(f"{pad}if isinstance({var}, list):")
            lines.append(f"{pad}    {size} = len({var})")
            for key, child in number_keys:
                found = f"v{next(self.counter)}"
                lines.append(f"{pad}    if {-key - 1 if key < 0 else key} < {size}:")
                lines.append(f"{pad}        {found} = {var}[{self.constant('K', key)}]")
                lines.append(f"{pad}        if {found} is not None:")
                self.node(child, found, level, pad + "            ")
        if node.each is not None:
            element = f"s{level + 1}"
            lines.append(f"{pad}if isinstance({var}, list):")
            lines.append(f"{pad}    for {element} in {var}:")
            lines.append(f"{pad}        if {element} is None:")
            lines.append(f"{pad}            continue")
            lines.extend(f"{pad}        {text}" for text in self.memo_resets(node.each, level + 1))
            self.node(node.each, element, level + 1, pad + "        ")

    def published(self, paths: tuple[Relative, ...], var: str, scopes: str) -> list[str]:
        """The code setting ``var`` to what ``earliest(paths, ...)`` gives: a path that is one
        key of the record or of an element is read inline, any other through ``earliest``."""
        code = [f"{var} = None"]
        for number, path in enumerate(paths):
            pad = "    " if number else ""
            if number:
                code.append(f"if {var} is None:")
            steps = path.steps
            if path.in_record and len(steps) == 1 and isinstance(steps[0], str):
                base = f"s{path.level}" if path.level else "record"
                key = self.constant("K", steps[0])
                code += [
                    f"{pad}r = {base}.get({key}) if isinstance({base}, dict) else None",
                    f"{pad}if r is not None:",
                    f"{pad}    try:",
                    f"{pad}        {var} = parse_datetime(r)",
                    f"{pad}    except ValueError:",
                    f"{pad}        pass",
                ]
            else:
                one = self.constant("PUB", (path,))
                code.append(f"{pad}{var} = earliest({one}, document, record, {scopes})")
        return code

    def row(self, index: int, var: str, scopes: str) -> list[str]:
        """The code adding the attributes of row ``index`` from the value in ``var``."""
        row = self.rows[index]
        if self.memo_level(index) >= 0:
            key = row.published_key
            out = [
                f"if p{key} is UNSET:",
                *("    " + text for text in self.published(row.published, f"p{key}", scopes)),
                f"P = p{key}",
            ]
        else:
            out = ["P = published0"]
        row_name = self.constant("R", row)
        condition = "t"
        if row.separator is not None:  # the name is split off each value in item()
            name = "(PRE.get(nt) or state.key(nt, ''))"
            condition = "t and nt"
        elif row.name_from is None:
            name = self.constant("N", self.names[row.name])  # type: ignore[index]
        else:
            source = row.name_from
            name = "(PRE.get(nt) or state.key(nt, ''))"
            condition = "t and nt"
            if (
                source.in_record
                and source.level
                and len(source.steps) == 1
                and isinstance(source.steps[0], str)
            ):  # the common case: a sibling key of the value's element
                element = f"s{source.level}"
                key_name = self.constant("K", source.steps[0])
                out += [
                    f"nm = {element}.get({key_name}) if isinstance({element}, dict) else None",
                    "nt = nm.strip() if type(nm) is str else scalar_text(nm)",
                ]
            else:
                source_name = self.constant("S", source)
                out.append(f"nt = name_text({source_name}, document, record, {scopes})")
        return [
            *out,
            f"if type({var}) is list:",
            f"    for y0 in {var}:",
            "        if y0 is None or isinstance(y0, dict):",
            "            continue",
            "        if isinstance(y0, list):",
            f"            if slow({row_name}, y0, {scopes}, document, record, P, target, state):",
            f"                h{index} = True",
            "            continue",
            *("        " + text for text in self.item(index, "y0", name, condition)),
            "else:",
            *("    " + text for text in self.item(index, var, name, condition)),
        ]

    def item(self, index: int, value: str, name: str, condition: str) -> list[str]:
        """The code adding one scalar ``value`` of row ``index`` as attribute ``name``."""
        row = self.rows[index]
        if row.transforms:
            label = self.constant("L", f"{row.label}: ")
            if len(row.transforms) == 1:  # the value is not None: its one transform applies
                call = f"{self.constant('T', row.transforms[0])}({value})"
            else:
                call = f"apply_transforms({self.constant('T', row.transforms)}, {value})"
            code = [
                "try:",
                f"    y = {call}",
                "except ValueError as exc:",
                f"    state.warn({label} + str(exc))",
                "    y = None",
                "t = y.strip() if type(y) is str else scalar_text(y)",
            ]
        else:
            code = [
                f"if type({value}) is str:",
                f"    t = {value}.strip()",
                f"elif type({value}) is int:",
                f"    t = str({value})",
                "else:",
                f"    t = scalar_text({value})",
            ]
        if row.separator is not None:
            separator = self.constant("SEP", row.separator)
            label = self.constant("L", f"{row.label}: ")
            code.append(f"nt, t = split_pair({separator}, {label}, t, state)")
        return [
            *code,
            f"if {condition}:",
            f"    k = {name} + t",
            "    o = A.setdefault(k, P)",  # a new attribute: one dict operation
            "    if o is not P and (o is None or (P is not None and P < o)):",
            "        A[k] = P",
            f"    h{index} = True",
        ]
