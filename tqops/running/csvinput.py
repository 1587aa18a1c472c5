"""Indicators from a ``type,value[,tlp]`` CSV, read as data and never as a crash: the one
reader of indicator CSVs (``tqops run --input`` and the host's indicator uploads).

The file is read one line at a time (one row per line), as it is consumed, so a run over a
million rows holds one row at a time. Every row knows its line in the file, counted from 1
with the header as line 1 (blank lines count too). What cannot be taken is told apart:

- a file that is not text at all (NUL bytes, UTF-16 or UTF-32, no line within reach), or has
  no ``type,value`` header where one is required, is a :class:`~tqops.errors.ConfigError` at
  once, before anything is sent;
- a row that is not UTF-8, holds a NUL character, or is longer than :data:`MAX_ROW_BYTES` is
  that row's ``error`` (for a run, a :class:`~tqops.running.results.Selection` with
  ``unreadable`` set); the others go on.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import BinaryIO, Optional

import attrs

from tqops.errors import ConfigError
from tqops.running.results import Selection

__all__ = ["MAX_ROW_BYTES", "CsvRow", "rows_from_csv", "selections_from_csv"]

#: the longest row taken (an indicator is at most 2,048 characters; a row of more is no row)
MAX_ROW_BYTES = 16 * 1024
#: a "row" running this far without a line end stops the reading: the rest is not a CSV
MAX_SKIP_BYTES = 16 * 1024 * 1024
_UNICODE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
_SHOWN = 80


def _line(stream: BinaryIO) -> tuple[bytes, int]:
    """The next line without its line end, and how long it really was (the line is cut at
    :data:`MAX_ROW_BYTES`; the rest of a longer one is skipped)."""
    line = stream.readline(MAX_ROW_BYTES + 1)
    length = len(line)
    if length > MAX_ROW_BYTES and not line.endswith(b"\n"):
        while length <= MAX_SKIP_BYTES:
            rest = stream.readline(MAX_ROW_BYTES)
            length += len(rest)
            if not rest or rest.endswith(b"\n"):
                break
    return line.rstrip(b"\r\n"), length


def _cells(text: str) -> list[str]:
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return [text]


@attrs.frozen
class CsvRow:
    """One row of an indicator CSV: its line in the file (1-based, the header is line 1), its
    cells, or why it cannot be read (``error``, which names the line)."""

    line: int
    type: str = ""
    value: str = ""
    #: the row's ``tlp`` cell, when the file has that column and the row fills it
    tlp: Optional[str] = None
    error: Optional[str] = None


@attrs.frozen
class _Columns:
    type: int = 0
    value: int = 1
    tlp: Optional[int] = 2


def _header(
    stream: BinaryIO, source: str, required: bool
) -> tuple[int, _Columns, Optional[tuple[bytes, int]]]:
    """The line number of the first non-blank line and the columns its header names; a
    :class:`ConfigError` for a file that is not a CSV in UTF-8 (or has no ``type,value``
    header where one is ``required``). Without a header, the first line is given back, to
    be read as the first row."""
    number = 0
    while True:
        line, length = _line(stream)
        number += 1
        if not length:
            if not required:
                return number, _Columns(), None
            raise ConfigError(f"{source} is empty; expected a header line 'type,value'")
        if line.strip():
            break
    for bom, encoding in _UNICODE_BOMS.items():
        if line.startswith(bom):
            raise ConfigError(f"{source} is {encoding} text; save it as UTF-8 (CSV UTF-8)")
    if b"\x00" in line or length > MAX_ROW_BYTES:
        raise ConfigError(f"{source} is not a text file; expected a CSV 'type,value'")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{source} is not UTF-8 text; save it as UTF-8") from None
    header = [cell.strip().lower() for cell in _cells(text)]
    if "type" in header and "value" in header:
        tlp = header.index("tlp") if "tlp" in header else None
        return number, _Columns(header.index("type"), header.index("value"), tlp), None
    if required:
        raise ConfigError(f"{source} must be CSV with a header line 'type,value'")
    first = text.encode("utf-8")  # the byte order mark, if any, is not the row's
    return number, _Columns(), (first, len(first))


def _unreadable(line: bytes, length: int) -> Optional[str]:
    """Why the row cannot be taken as given (``is not UTF-8 text ...``), else None."""
    if length > MAX_ROW_BYTES:
        return f"is longer than {MAX_ROW_BYTES} bytes, the most a row holds"
    if b"\x00" in line:
        return "holds a NUL character"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = line[exc.start]
        return f"is not UTF-8 text (byte 0x{byte:02x} at {exc.start + 1}); save as UTF-8"
    return None


def _cell(cells: list[str], at: Optional[int]) -> str:
    return cells[at] if at is not None and at < len(cells) else ""


def rows_from_csv(
    stream: BinaryIO, source: str, *, header_required: bool = True
) -> Iterator[CsvRow]:
    """The rows of a ``type,value[,tlp]`` CSV in ``stream`` (binary); blank rows are
    skipped. ``source`` names the file in errors (``--input iocs.csv``, ``CSV``).

    The header is read now, before the first row is asked for (so a file that is no CSV is
    refused before anything is sent); without ``header_required``, a first line that is not
    a header is the first row, its columns type, value, tlp. Rows are read as they are
    consumed, and ``stream`` is closed when they end."""
    try:
        number, columns, first = _header(stream, source, header_required)
    except BaseException:
        stream.close()
        raise

    def rows() -> Iterator[CsvRow]:
        nonlocal number
        with stream:
            pending = first
            if pending is None:
                number += 1
            while True:
                line, length = pending if pending is not None else _line(stream)
                pending = None
                if not length:
                    return
                if length > MAX_SKIP_BYTES:
                    yield CsvRow(
                        number,
                        error=f"{source} line {number} runs on for more than "
                        f"{MAX_SKIP_BYTES // 2**20} MB without a line end; the rest of the "
                        "file is not read",
                    )
                    return
                problem = _unreadable(line, length)
                if problem is not None:
                    cells = _cells(line[:1024].decode("utf-8", "replace").replace("\x00", ""))
                    value = _cell(cells, columns.value)
                    shown = value if len(value) <= _SHOWN else value[: _SHOWN - 3] + "..."
                    kind = _cell(cells, columns.type).strip()
                    yield CsvRow(number, kind, shown, error=f"{source} line {number} {problem}")
                else:
                    cells = _cells(line.decode("utf-8"))
                    kind = _cell(cells, columns.type).strip()
                    value = _cell(cells, columns.value)
                    tlp = _cell(cells, columns.tlp).strip() or None
                    if kind or value.strip():
                        yield CsvRow(number, kind, value, tlp)
                number += 1

    return rows()


def selections_from_csv(stream: BinaryIO, name: str) -> Iterator[Selection]:
    """The rows of a ``type,value`` CSV given as ``--input name``, as selections (a row
    that cannot be read is a selection with ``unreadable`` set: its ``error`` result).

    The header is checked now, before the first row is asked for (so before anything is
    sent); rows are read as they are consumed, and ``stream`` is closed when they end."""
    rows = rows_from_csv(stream, f"--input {name}")
    return (Selection(row.type, row.value, unreadable=row.error, tlp=row.tlp) for row in rows)
