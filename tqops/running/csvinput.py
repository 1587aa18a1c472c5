"""Selected indicators from a ``type,value`` CSV, read as data and never as a crash.

The file is read one line at a time (one row per line), as it is consumed, so a run over a
million rows holds one row at a time. What cannot be taken is told apart:

- a file that is not text at all (NUL bytes, UTF-16 or UTF-32, no line within reach) or has
  no ``type,value`` header is a :class:`~tqops.errors.ConfigError` at once, before anything
  is sent;
- a row that is not UTF-8, or longer than :data:`MAX_ROW_BYTES`, is that row's ``error``
  result (a :class:`~tqops.running.results.Selection` with ``unreadable`` set); the others go on.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import BinaryIO, Optional

from tqops.errors import ConfigError
from tqops.running.results import Selection

__all__ = ["MAX_ROW_BYTES", "selections_from_csv"]

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


def _header(stream: BinaryIO, name: str) -> tuple[int, int, int]:
    """The line number of the header and the columns of type and value; a
    :class:`ConfigError` for a file that is not a ``type,value`` CSV in UTF-8."""
    number = 0
    while True:
        line, length = _line(stream)
        number += 1
        if not length:
            raise ConfigError(f"--input {name} is empty; expected a header line 'type,value'")
        if line.strip():
            break
    for bom, encoding in _UNICODE_BOMS.items():
        if line.startswith(bom):
            raise ConfigError(f"--input {name} is {encoding} text; save it as UTF-8 (CSV UTF-8)")
    if b"\x00" in line or length > MAX_ROW_BYTES:
        raise ConfigError(f"--input {name} is not a text file; expected a CSV 'type,value'")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"--input {name} is not UTF-8 text; save it as UTF-8") from None
    header = [cell.strip().lower() for cell in _cells(text)]
    if "type" not in header or "value" not in header:
        raise ConfigError(f"--input {name} must be CSV with a header line 'type,value'")
    return number, header.index("type"), header.index("value")


def _unreadable(
    line: bytes, length: int, number: int, name: str, columns: tuple[int, int]
) -> Optional[Selection]:
    """The row's error result when it cannot be taken as given, else None."""
    if length > MAX_ROW_BYTES:
        problem = f"is longer than {MAX_ROW_BYTES} bytes, the most a row holds"
    else:
        try:
            line.decode("utf-8")
            return None
        except UnicodeDecodeError as exc:
            byte = line[exc.start]
            problem = f"is not UTF-8 text (byte 0x{byte:02x} at {exc.start + 1}); save as UTF-8"
    cells = _cells(line[:1024].decode("utf-8", "replace"))
    kind, value = (cells[i] if i < len(cells) else "" for i in columns)
    shown = value if len(value) <= _SHOWN else value[: _SHOWN - 3] + "..."
    return Selection(kind.strip(), shown, unreadable=f"--input {name} line {number} {problem}")


def selections_from_csv(stream: BinaryIO, name: str) -> Iterator[Selection]:
    """The rows of a ``type,value`` CSV in ``stream`` (binary), as selections.

    The header is checked now, before the first row is asked for (so before anything is
    sent); rows are read as they are consumed, and ``stream`` is closed when they end."""
    try:
        number, kind_at, value_at = _header(stream, name)
    except BaseException:
        stream.close()
        raise

    def rows() -> Iterator[Selection]:
        nonlocal number
        with stream:
            while True:
                line, length = _line(stream)
                number += 1
                if not length:
                    return
                if length > MAX_SKIP_BYTES:
                    yield Selection(
                        "",
                        "",
                        unreadable=f"--input {name} line {number} runs on for more than "
                        f"{MAX_SKIP_BYTES // 2**20} MB without a line end; the rest of the "
                        "file is not read",
                    )
                    return
                bad = _unreadable(line, length, number, name, (kind_at, value_at))
                if bad is not None:
                    yield bad
                    continue
                cells = _cells(line.decode("utf-8"))
                kind = cells[kind_at].strip() if kind_at < len(cells) else ""
                value = cells[value_at] if value_at < len(cells) else ""
                if kind or value.strip():
                    yield Selection(kind, value)

    return rows()
