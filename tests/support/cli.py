"""What the CLI tests share: running `tqops` in-process and building its arguments."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Optional

from tqops.cli import main


def cli(*args: str, capsys: Any) -> tuple[int, str, str]:
    """Run ``tqops ARGS``; return its exit code, stdout and stderr."""
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue(), capsys.readouterr().err


def flags(flag: str, values: Mapping[str, Optional[object]]) -> list[str]:
    """``FLAG name=value`` for each item (``--config``, ``--option``); None leaves one out."""
    return [
        arg
        for name, value in values.items()
        if value is not None
        for arg in (flag, f"{name}={value}")
    ]


def one_input(operation: str, kind: str, value: str, action: str = "search") -> list[str]:
    """``run OPERATION ACTION --type KIND --value VALUE``: one selected indicator."""
    return ["run", operation, action, "--type", kind, "--value", value]
