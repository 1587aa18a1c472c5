"""Reading a file a user names (a secret's ``file:`` reference, a ``--config-file``): a regular
file only, and never more than a bound, so that a FIFO cannot hang a command and ``/dev/zero``
cannot fill its memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Union

__all__ = ["FileRefused", "read_regular_file"]


class FileRefused(ValueError):
    """The file is not one to read: not a regular file, or larger than the bound."""


def read_regular_file(path: Union[str, Path], limit: int) -> bytes:
    """The content of the regular file at ``path``, at most ``limit`` bytes.

    :class:`FileRefused` when it is not a regular file (a FIFO, a device, a directory) or
    holds more than ``limit`` bytes; ``OSError`` when it cannot be opened. Opening does not
    block on a FIFO: the type is checked on the open descriptor, before any read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise FileRefused("it is not a regular file")
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(f"it is larger than {limit} bytes")
    return data
