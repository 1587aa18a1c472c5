"""`make demo`: the operations against the bundled simulators, over real HTTPS on loopback.

Each simulator's certificate is signed by a test CA made at start; the demo trusts it through
the `ca_bundle` field, exactly as a user behind TLS inspection would (verification stays on).
The token is passed by reference (`env:`), so it never shows on screen.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TextIO

from tqops.cli import main

from .tego import TEGO_DEMO_VALUES, TegoSimulator
from .tie import TIE_DEMO_VALUES, TieSimulator

DEMO_TOKEN = "demo-tie-token"
DEMO_API_USER = "demo-tie-user"
DEMO_API_KEY = "demo-tie-api-key"  # TIE v2/v3's; passed by reference, printed nowhere
DEMO_LICENSE = "demo-tego-license"  # the simulator's own; printed nowhere


def _show(out: TextIO, args: list[str]) -> None:
    out.write("\n$ tqops " + " ".join(shlex.quote(a) for a in args) + "\n")
    out.flush()


def _tie_v3(out: TextIO, hostname: str, ca_pem_path: str) -> int:
    """The same operation speaking TIE v3: HTTP Basic with an API user and key, the ``ioc``
    look-up, ``next`` pages, and v3's own record shape and mapping table."""
    out.write("\nDCSO TIE v3 on the same simulator (API user and API key, HTTP Basic)\n")
    config = [
        *("--config", "api_version=v3", "--config", f"hostname={hostname}"),
        *("--config", f"api_user={DEMO_API_USER}", "--config", "api_key=env:TQOPS_DEMO_TIE_KEY"),
        *("--config", f"ca_bundle={ca_pem_path}"),
    ]
    test = ["test-connection", "dcso_tie", *config]
    _show(out, test)
    worst = main(test, out=out)
    selected = []
    for indicator_type in ("FQDN", "IP Address", "SHA-256", "URL"):
        selected += ["--type", indicator_type, "--value", TIE_DEMO_VALUES[indicator_type]]
    run = ["run", "dcso_tie", "search", *selected, *config, "--option", "confidence=60"]
    _show(out, [*run, "--format", "table"])
    return max(worst, main([*run, "--format", "table"], out=out))


def run_demo(out: TextIO) -> int:
    """Run the demo; return 0 when every step behaved as shown (the private IP is refused by
    design, so its error result is expected)."""
    worst = 0
    os.environ["TQOPS_DEMO_TIE_TOKEN"] = DEMO_TOKEN
    os.environ["TQOPS_DEMO_TIE_KEY"] = DEMO_API_KEY
    os.environ["TQOPS_DEMO_TEGO_LICENSE"] = DEMO_LICENSE
    tie_sim = TieSimulator(token=DEMO_TOKEN, api_user=DEMO_API_USER, api_key=DEMO_API_KEY)
    with tie_sim as tie, TegoSimulator(token=DEMO_LICENSE) as tego:
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
        worst = max(worst, _tie_v3(out, tie.hostname, tie.ca_pem_path))

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
    _browser_next(out)
    return 0 if worst <= 1 else worst


def _browser_next(out: TextIO) -> None:
    """How to see the same in the console: the command (as this Python's environment has it)
    and the address it serves."""
    installed = Path(sys.executable).parent / "tqops"
    command = "tqops"
    if installed.is_file():  # .venv/bin/tqops from the checkout, else its full path
        where = os.path.relpath(installed)
        command = str(installed) if where.startswith("..") else where
    out.write(
        "\nThe same in the browser (the console): from this directory run\n"
        f"  {command} serve --demo\n"
        "then open http://127.0.0.1:8600/console/ and log in with one of the logins it prints "
        "(admin, analyst or viewer).\n"
    )
    out.flush()
