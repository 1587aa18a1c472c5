"""``python -m simulators tie|tego [--port N] [--token T] [--latency S] [--ca-file PATH]
[--verbose]``: serve until Ctrl-C.

``python -m simulators demo``: what ``make demo`` runs, both operations against both simulators.
Run from the checkout (the simulators are not installed with the runtime), with any Python 3.9+
that has tqops and its ``test`` extra (``make install`` makes ``.venv/`` with both); any
other says what to install, in one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from typing import Optional

SIMULATORS = {"tie": ("TieSimulator", "demo-token"), "tego": ("TegoSimulator", "demo-license")}
#: what the simulators import (trustme comes with the test extra), and what the demo needs too
NEEDED = ("trustme", "cryptography")
NEEDED_BY_DEMO = ("requests", "attrs", "jsonschema", "yaml", "urllib3")
INSTALL = (
    "install tqops with its test extra into this Python ({python}): "
    "python -m pip install -e '.[test]' from the checkout, or run `make install` and use "
    ".venv/bin/python -m simulators"
)


def missing(vendor: str) -> Optional[str]:
    """A one-line account of what this Python lacks to run ``vendor``, or None."""
    if sys.version_info < (3, 9):  # noqa: UP036 - said in one line, not a traceback
        return f"the simulators need Python 3.9 or later, not {sys.version.split()[0]}"
    wanted = NEEDED + (NEEDED_BY_DEMO if vendor == "demo" else ())
    absent = [name for name in wanted if importlib.util.find_spec(name) is None]
    if absent:
        return f"this Python lacks {', '.join(absent)}; " + INSTALL.format(python=sys.executable)
    if vendor == "demo":
        from importlib import metadata

        try:
            metadata.distribution("tqops")
        except metadata.PackageNotFoundError:  # its operations are found by entry points
            return "tqops is not installed in this Python; " + INSTALL.format(python=sys.executable)
    return None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", allow_abbrev=False)
    parser.add_argument(
        "vendor",
        choices=[*sorted(SIMULATORS), "demo"],
        help="the simulator to serve, or demo: both operations against both simulators",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", help="the credential the simulator accepts")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    parser.add_argument(
        "--ca-file", metavar="PATH", help="also write the test CA's PEM here (for ca_bundle)"
    )
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--until-stdin-closes",
        action="store_true",
        help="stop when standard input ends (a parent that dies, even by kill -9, stops it)",
    )
    args = parser.parse_args(argv)
    problem = missing(args.vendor)
    if problem:
        sys.stderr.write(f"python -m simulators: {problem}\n")
        return 2
    if args.vendor == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    import simulators

    name, default_token = SIMULATORS[args.vendor]
    token = args.token or default_token
    cls = getattr(simulators, name)
    with cls(token=token, latency=args.latency, verbose=args.verbose, port=args.port) as sim:
        ca_file = sim.ca_pem_path
        if args.ca_file:
            ca_file = shutil.copyfile(sim.ca_pem_path, args.ca_file)
        print(
            f"{args.vendor} simulator on {sim.hostname} (CA bundle: {ca_file}, "
            f"credential: {token})",
            flush=True,
        )
        try:
            if args.until_stdin_closes:
                while sys.stdin.buffer.read(65536):  # EOF: the parent is gone
                    pass
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
