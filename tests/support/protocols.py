"""What the protocol tests share: a real `tqops serve` over TLS with an admin, an analyst and a
viewer (made by `tqops users add`), DCSO TIE configured against its simulator, and the result
`tqops run` gives for an input, which each protocol's answer must carry."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simulators import TieSimulator
from tests.support.hosting import RunningHost, add_user, tqops
from tests.support.vendors import TIE_TOKEN, tie_config

ROLES = ("admin", "analyst", "viewer")


@contextlib.contextmanager
def protocol_host(
    data: Path, tie: TieSimulator, *, args: tuple[str, ...] = (), configure: bool = True
) -> Iterator[RunningHost]:
    users = {role: add_user(data, f"{role}@example.com", role) for role in ROLES}
    with RunningHost(data, args=args) as running:
        running.users = users
        if configure:
            answer = running.api(users["admin"]["api_key"]).put(
                f"{running.url}/api/v1/operations/dcso_tie/config",
                json={"values": tie_config(tie)},
            )
            assert answer.status_code == 200, answer.text
        yield running


def run_result(tie: TieSimulator, kind: str, value: str) -> dict[str, Any]:
    """What `tqops run dcso_tie search` gives for one input (its first result)."""
    done = tqops(
        "run", "dcso_tie", "search", "--type", kind, "--value", value,
        "--config", f"hostname={tie.hostname}", "--config", "access_token=env:TIE_PROTOCOL",
        "--config", f"ca_bundle={tie.ca_pem_path}", "--format", "json",
        env={"TIE_PROTOCOL": TIE_TOKEN},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["results"][0]


def searched(tie: TieSimulator) -> list[str]:
    """The values the vendor was asked about."""
    return [r.query["value"][0] for r in tie.requests if "value" in r.query]
