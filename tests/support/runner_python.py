"""An interpreter for runners when the tests run as root.

Runners then run as ``nobody``, who cannot run this virtualenv's Python (pyenv keeps it
under ``/root``, mode 0700): the README says to set ``TQOPS_RUNNER_PYTHON`` to one that user
can run. This builds such a one as an administrator would, from Debian's ``python3.11`` and
a world-readable copy of what ``tqops.runner`` imports (tqops and its runtime requirements).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Optional

#: the system interpreter the stand-in wraps (Debian's, readable by every user)
SYSTEM_PYTHON = Path("/usr/bin/python3.11")
#: what ``python -m tqops.runner`` imports: tqops and its runtime requirements
PACKAGES = (
    "tqops",
    "attr",
    "attrs",
    "certifi",
    "charset_normalizer",
    "idna",
    "jsonschema",
    "jsonschema_specifications",
    "referencing",
    "requests",
    "rpds",
    "urllib3",
    "yaml",
    "_yaml",
    "packaging",
    "typing_extensions",
)


def needed() -> bool:
    """Runners run as another user (the tests run as root)."""
    return os.geteuid() == 0


def build(where: Optional[Path] = None) -> Path:
    """A runner interpreter every user can run: a script that starts the system Python with
    a private copy of tqops and its requirements on its path."""
    if not SYSTEM_PYTHON.is_file():
        raise RuntimeError(f"{SYSTEM_PYTHON} is missing: runners as nobody need it for the tests")
    root = Path(where or tempfile.mkdtemp(prefix="tqops-runner-python-"))
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if spec.submodule_search_locations:
            shutil.copytree(
                origin.parent,
                site / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )
        else:
            shutil.copy2(origin, site / origin.name)
    script = root / "python"
    script.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec {SYSTEM_PYTHON} -s "$@"\n')
    for path in [root, *root.rglob("*")]:
        mode = 0o755 if path.is_dir() or path == script else 0o644
        path.chmod(mode | (stat.S_IXOTH | stat.S_IXGRP if path.suffix == ".so" else 0))
    return script
