"""``python -m simulators tie|tego [--port N] [--token T] [--latency S]``: serve until Ctrl-C.

``python -m simulators demo``: what ``make demo`` runs, both operations against both simulators.
Run from the checkout (the simulators are not installed with the runtime).
"""

from __future__ import annotations

import argparse
import sys
import time

from . import TegoSimulator, TieSimulator

SIMULATORS = {"tie": (TieSimulator, "demo-token"), "tego": (TegoSimulator, "demo-license")}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators")
    parser.add_argument(
        "vendor",
        choices=[*sorted(SIMULATORS), "demo"],
        help="the simulator to serve, or demo: both operations against both simulators",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", help="the credential the simulator accepts")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.vendor == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    cls, default_token = SIMULATORS[args.vendor]
    token = args.token or default_token
    with cls(token=token, latency=args.latency, verbose=args.verbose, port=args.port) as sim:
        print(
            f"{args.vendor} simulator on {sim.hostname} (CA bundle: {sim.ca_pem_path}, "
            f"credential: {token})",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
