"""The ``tqops`` command: the local stand-in for the platform, a thin shell over the service.

Exit codes: 0 every input processed; 1 an input ended in ``error`` (all results still
printed) or a check failed; 2 a usage or configuration error (nothing sent); 130 a run
stopped by Ctrl-C (the results so far printed, the JSON document and the table closed).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Optional, TextIO

from urllib3.exceptions import InsecureRequestWarning

from tqops.cli.commands import EXIT_OK, EXIT_USAGE, Context
from tqops.cli.inputs import UsageError
from tqops.cli.logs import RedactingFilter, stderr_logging
from tqops.cli.parser import build_parser, glue
from tqops.errors import OperationError
from tqops.service import Service

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Run the command line; return the exit code (never raises for user errors)."""
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(glue(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        sys.stderr.write(f"tqops: error: {exc}\n")
        return EXIT_USAGE
    redactor = RedactingFilter()
    with stderr_logging(args.verbose, redactor), warnings.catch_warnings():
        # The client logs one explicit line when TLS verification is off; urllib3's
        # per-request warning would only repeat it (the application may decide that).
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        try:
            return int(args.handler(args, Context(Service(), out, redactor)))
        except OperationError as exc:
            sys.stderr.write(f"tqops: error: {' '.join(redactor.scrub(str(exc)).split())}\n")
            return exc.exit_code
        except KeyboardInterrupt:
            sys.stderr.write("tqops: interrupted\n")
            return 130
        except BrokenPipeError:
            return EXIT_OK
