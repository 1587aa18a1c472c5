"""Where a host keeps its data when no ``--data`` is given."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_data_dir"]


def default_data_dir() -> Path:
    """``$TQOPS_DATA``, else the per-user data directory."""
    given = os.environ.get("TQOPS_DATA")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tqops"
