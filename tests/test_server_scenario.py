"""The host as a new user meets it: a bundled integration uploaded and configured by REST, 50
indicators (5 repeated, 3 defanged) added and run, the results equal to `tqops run`, the
vendor asked once per distinct value, and a job that survives `kill -9`."""

from __future__ import annotations

import json

import pytest

from simulators import TieSimulator
from tests.support.hosting import RunningHost, add_user, tqops, wait_for
from tqops.service import Service

pytestmark = pytest.mark.slow

TOKEN = "scenario-token-5e1d0c"
DEFANGED = ["evil-one[.]example", "evil-two[dot]example", "evil-three[.]example"]


def inputs() -> list[str]:
    plain = [f"scenario{i}.example" for i in range(42)]
    return plain + DEFANGED + plain[:5]  # 50 inputs: 45 distinct values, 5 repeated


def test_upload_configure_add_run_and_compare_with_tqops_run(tmp_path):
    dist = tmp_path / "dist"
    Service().bundle("dcso_tie", dist)
    (wheel,) = dist.glob("tq_op_dcso_tie-*.whl")
    data = tmp_path / "data"
    keys = {role: add_user(data, role, role)["api_key"] for role in ("admin", "analyst", "viewer")}
    with TieSimulator(token=TOKEN) as tie, RunningHost(data) as host:
        admin, analyst = host.api(keys["admin"]), host.api(keys["analyst"])
        with open(wheel, "rb") as handle:
            files = {"file": (wheel.name, handle)}
            assert admin.post(f"{host.url}/api/v1/integrations", files=files).json()["installed"]
        config = {"hostname": tie.hostname, "access_token": TOKEN, "ca_bundle": tie.ca_pem_path}
        url = f"{host.url}/api/v1/operations/dcso_tie/config"
        assert analyst.put(url, json={"values": config}).status_code == 403
        assert admin.put(url, json={"values": config}).status_code == 200

        values = inputs()
        added = analyst.post(
            f"{host.url}/api/v1/indicators",
            json={"indicators": [{"type": "FQDN", "value": v} for v in values]},
        ).json()["indicators"]
        assert len({row["id"] for row in added}) == 45
        refanged = [row for row in added if row.get("note")]
        assert [row["value"] for row in refanged] == [
            "evil-one.example",
            "evil-two.example",
            "evil-three.example",
        ]

        body = {
            "operation": "dcso_tie",
            "action": "search",
            "inputs": [{"type": "FQDN", "value": v} for v in values],
        }
        assert (
            host.api(keys["viewer"]).post(f"{host.url}/api/v1/jobs", json=body).status_code == 403
        )
        assert host.api().post(f"{host.url}/api/v1/jobs", json=body).status_code == 401
        tie.clear_requests()
        job = analyst.post(f"{host.url}/api/v1/jobs", json=body).json()
        job_url = f"{host.url}/api/v1/jobs/{job['id']}"
        wait_for(lambda: analyst.get(job_url).json()["status"] == "done")
        assert len(tie.requests) == 45
        got = analyst.get(f"{job_url}/results?limit=100").json()["results"]
        cli = tqops(
            "run", "dcso_tie", "search",
            *[word for v in values for word in ("--type", "FQDN", "--value", v)],
            "--config", f"hostname={tie.hostname}", "--config", "access_token=env:SCENARIO_TOKEN",
            "--config", f"ca_bundle={tie.ca_pem_path}", "--format", "json",
            env={"SCENARIO_TOKEN": TOKEN},
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert got == json.loads(cli.stdout)["results"]
        assert any("refanged" in w for r in got for w in r["warnings"])

    for path in data.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
