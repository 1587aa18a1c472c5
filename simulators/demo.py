"""`make demo`: the operations against the bundled simulators, over real HTTPS on loopback.

Each simulator's certificate is signed by a test CA made at start; the demo trusts it through
the `ca_bundle` field, exactly as a user behind TLS inspection would (verification stays on).
The token is passed by reference (`env:`), so it never shows on screen.
"""

from __future__ import annotations

import os
import shlex
from typing import TextIO

from tqops.cli import main

from .tego import TEGO_DEMO_VALUES, TegoSimulator
from .tie import TIE_DEMO_VALUES, TieSimulator

DEMO_TOKEN = "demo-tie-token"
DEMO_LICENSE = "demo-tego-license"  # the simulator's own; printed nowhere


def _show(out: TextIO, args: list[str]) -> None:
    out.write("\n$ tqops " + " ".join(shlex.quote(a) for a in args) + "\n")
    out.flush()


def run_demo(out: TextIO) -> int:
    """Run the demo; return 0 when every step behaved as shown (the private IP is refused by
    design, so its error result is expected)."""
    worst = 0
    os.environ["TQOPS_DEMO_TIE_TOKEN"] = DEMO_TOKEN
    os.environ["TQOPS_DEMO_TEGO_LICENSE"] = DEMO_LICENSE
    with TieSimulator(token=DEMO_TOKEN) as tie, TegoSimulator(token=DEMO_LICENSE) as tego:
        out.write(
            f"DCSO TIE simulator on https://{tie.hostname} "
            f"(certificate from a test CA: {tie.ca_pem_path})\n"
        )
        config = [
            "--config",
            f"hostname={tie.hostname}",
            "--config",
            "access_token=env:TQOPS_DEMO_TIE_TOKEN",
            "--config",
            f"ca_bundle={tie.ca_pem_path}",
        ]
        test = ["test-connection", "dcso_tie", *config]
        _show(out, test)
        worst = max(worst, main(test, out=out))
        selected: list[str] = []
        for indicator_type, value in TIE_DEMO_VALUES.items():
            selected += ["--type", indicator_type, "--value", value]
        run = ["run", "dcso_tie", "search", *selected, *config, "--format", "table"]
        _show(out, run)
        worst = max(worst, main(run, out=out))
        options = ["--option", "severity=2-", "--option", "category=c2-server, phishing"]
        run = [
            "run",
            "dcso_tie",
            "search",
            "--type",
            "FQDN",
            "--value",
            "microsoft.com",
            *config,
            *options,
            "--format",
            "table",
        ]
        _show(out, run)
        worst = max(worst, main(run, out=out))

        out.write(f"\nTego simulator on https://{tego.hostname} (same test CA)\n")
        config = [
            "--config",
            f"hostname={tego.hostname}",
            "--config",
            "license_key=env:TQOPS_DEMO_TEGO_LICENSE",
            "--config",
            f"ca_bundle={tego.ca_pem_path}",
        ]
        test = ["test-connection", "tego", *config]
        _show(out, test)
        worst = max(worst, main(test, out=out))
        selected = []
        for indicator_type, value in TEGO_DEMO_VALUES.items():
            selected += ["--type", indicator_type, "--value", value]
        selected += ["--type", "IP Address", "--value", "10.1.2.3"]  # refused: private
        run = ["run", "tego", "search", *selected, *config, "--format", "table"]
        _show(out, run)
        worst = max(worst, main(run, out=out))
    return 0 if worst <= 1 else worst
