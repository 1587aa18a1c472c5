"""Secrets given by reference, so they need not sit in config files or shell history:
``env:NAME`` (an environment variable) and ``file:/path`` (a file holding only the secret).

A ``file:`` reference reads a regular file only (a FIFO would hang, ``/dev/zero`` would fill
memory), no further than its field can take; a byte-order mark and the trailing newline an
editor adds are stripped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from tqops.config.files import FileRefused, read_regular_file

__all__ = ["SECRET_FILE_CHARACTERS", "header_safe", "refused_reference", "resolve_reference"]

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


def refused_reference(raw: Any, allowed_dirs: Sequence[Path]) -> Optional[str]:
    """Why a reference given where the host's own files and environment are not the giver's
    (the host's REST API, MISP's settings) is refused; None when ``raw`` is no reference or
    a ``file:`` inside one of ``allowed_dirs`` (its links followed). The reason is the same
    whether the file exists or not: it tells nothing of the host's files."""
    if not isinstance(raw, str):
        return None
    if raw.startswith("env:"):
        return (
            "refers to an environment variable, which the host does not read for a request "
            "(give the value itself)"
        )
    if not raw.startswith("file:"):
        return None
    path = os.path.realpath(os.path.expanduser(raw[5:]))
    for folder in allowed_dirs:
        root = os.path.realpath(os.path.expanduser(str(folder)))
        if os.path.commonpath((root, path)) == root and path != root:
            return None
    return (
        "refers to a file outside the directories the host reads secrets from "
        "(tqops serve --secrets-dir DIR; none by default): give the value itself"
    )


def header_safe(text: str) -> bool:
    """Whether an HTTP header can carry ``text`` (Latin-1 only; control characters are
    refused separately)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
