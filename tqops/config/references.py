"""Secrets given by reference, so they need not sit in config files or shell history:
``env:NAME`` (an environment variable) and ``file:/path`` (a file holding only the secret).

A ``file:`` reference reads a regular file only (a FIFO would hang, ``/dev/zero`` would fill
memory), no further than its field can take; a byte-order mark and the trailing newline an
editor adds are stripped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from tqops.config.files import FileRefused, read_regular_file

__all__ = ["SECRET_FILE_CHARACTERS", "header_safe", "resolve_reference"]

#: the most a ``file:`` reference of a field without a ``max_length`` may hold (characters)
SECRET_FILE_CHARACTERS = 65536


def _read_secret_file(path: Path, max_length: Optional[int]) -> str:
    # UTF-8 takes at most four bytes a character; a BOM three and a line end two more
    limit = 4 * (max_length or SECRET_FILE_CHARACTERS) + 5
    try:
        return read_regular_file(path, limit).decode("utf-8-sig").strip()
    except FileRefused as exc:
        reason = str(exc)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        reason = "it is not UTF-8 text"
    raise ValueError(f"refers to file {str(path)!r}, which cannot be read ({reason})")


def resolve_reference(raw: Any, max_length: Optional[int] = None) -> Any:
    """The secret ``raw`` refers to (``raw`` itself when it is no reference); ``ValueError``
    beginning "refers to" when the variable is not set or the file cannot be read."""
    if not isinstance(raw, str):
        return raw
    if raw.startswith("env:"):
        variable = raw[4:]
        if variable not in os.environ:
            raise ValueError(f"refers to environment variable {variable!r}, which is not set")
        return os.environ[variable]
    if raw.startswith("file:"):
        return _read_secret_file(Path(raw[5:]).expanduser(), max_length)
    return raw


def header_safe(text: str) -> bool:
    """Whether an HTTP header can carry ``text`` (Latin-1 only; control characters are
    refused separately)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
