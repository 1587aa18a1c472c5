"""Where a host keeps its data when no ``--data`` is given, and keeping it private.

The data directory holds the store (users' password hashes, results), the vault's key and the
uploaded integrations: only the host's own user may read it, however it is first made
(``tqops users add`` before any ``serve`` included) and whatever the process umask is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tqops.errors import ConfigError

__all__ = ["DATABASE", "PRIVATE_DIR", "PRIVATE_FILE", "default_data_dir", "private_data_dir"]

#: the store's file in a data directory (SQLite gives its -wal and -shm files the same mode)
DATABASE = "tqops.db"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def default_data_dir() -> Path:
    """``$TQOPS_DATA``, else the per-user data directory."""
    given = os.environ.get("TQOPS_DATA")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tqops"


def private_data_dir(data: Path) -> Path:
    """Make ``data`` (and its store's file) if missing and leave them private: the directory
    and every directory under it 0700, every file 0600. Call it before the store is opened:
    the database file is made here with mode 0600, so SQLite's journals, which take the
    database's mode, are private from their first byte. A directory this user cannot make
    private is a one-line error, never a silent public store."""
    data = Path(data).expanduser()
    try:
        data.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        if not data.is_dir():
            raise ConfigError(f"the data directory {data} is not a directory")
        # O_NOFOLLOW: a symlink planted in the directory is refused, not followed
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        os.close(os.open(data / DATABASE, flags, PRIVATE_FILE))
        _tighten(data)
    except OSError as exc:
        raise ConfigError(
            f"cannot make the data directory {data} private (0700): {exc.strerror or exc}"
        ) from None
    return data


def _tighten(data: Path) -> None:
    """chmod what is under ``data`` (made before, or by an older tqops, or under a lax umask);
    symbolic links are left alone (their mode is not theirs), and nothing outside is
    touched."""
    os.chmod(data, PRIVATE_DIR)
    for root, dirs, files in os.walk(data):
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, PRIVATE_DIR)
        for name in files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
                os.chmod(path, PRIVATE_FILE)
