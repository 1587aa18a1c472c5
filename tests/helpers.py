"""What the CLI tests share: running `tqops` in-process and reading what it wrote."""

from __future__ import annotations

import io
from typing import Any

from tqops.cli import main


def cli(*args: str, capsys: Any) -> tuple[int, str, str]:
    """Run ``tqops ARGS``; return its exit code, stdout and stderr."""
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue(), capsys.readouterr().err
