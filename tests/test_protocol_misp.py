"""MISP's enrichment modules for real: `tqops serve --misp-modules`, queried in the two forms
MISP's Module.php sends (legacy and misp_standard), DCSO TIE's simulator as the vendor."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.hosting import free_port, tls_files, tqops, wait_for
from tests.support.protocols import (
    protocol_host,
    run_result,
    searched,
)
from tests.support.vendors import tie_config

pytestmark = pytest.mark.slow

MODULE = "dcso_tie_search"
#: an exact hit of the simulator's data: severity 5/6 at confidence 96
HIT = "mail1.evil-cdn.com"
#: a look-alike of www.microsoft.com TIE files as a domain, with a path
TRILLIUM = "www.microsoft.com/software-download.trillium.cam"


@pytest.fixture(scope="module")
def host(tmp_path_factory, tie):
    port = free_port()
    # as MISP's Docker set-up calls its modules (MISP beside the host, the name on loopback)
    args = ("--misp-modules", f"127.0.0.1:{port}", "--misp-allowed-hosts", "misp-modules")
    data = tmp_path_factory.mktemp("misp") / "data"
    with protocol_host(data, tie, args=args, configure=False) as running:
        running.misp = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(running.misp))
        yield running


def _up(url):
    try:
        with misp() as client:
            return client.get(f"{url}/healthcheck", timeout=1).json() == {"status": True}
    except requests.ConnectionError:
        return False


def misp():
    client = requests.Session()
    client.trust_env = False
    return client


def query(host, body, **kwargs):
    answer = misp().post(f"{host.misp}/query", json=body, timeout=60, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def unset_config(host):
    """What MISP sends for a module whose settings an admin left empty."""
    modules = misp().get(f"{host.misp}/modules").json()
    (module,) = [m for m in modules if m["name"] == MODULE]
    return dict.fromkeys(module["meta"]["config"])


def test_modules_are_listed_within_misps_timeout(host, tie):
    # MISP gives up on its modules after its enrichment timeout (10 s by default); the listing
    # does no vendor call, so only a hang would miss it (speed itself is the bench's)
    answer = misp().get(f"{host.misp}/modules", timeout=10)
    modules = {m["name"]: m for m in answer.json()}
    module = modules[MODULE]
    assert module["type"] == "expansion"
    assert module["mispattributes"]["format"] == "misp_standard"
    assert {"domain", "hostname", "ip-src", "ip-dst", "md5", "url"} <= set(
        module["mispattributes"]["input"]
    )
    assert module["meta"]["module-type"] == ["expansion", "hover"]
    assert "text" in module["mispattributes"]["output"]  # the legacy form's verdict
    assert set(tie_config(tie)) <= set(module["meta"]["config"])
    assert misp().get(f"{host.misp}/version").json()["version"]


def test_a_legacy_query_carrying_its_config_returns_the_enrichment(host, tie):
    expected = run_result(tie, "FQDN", "www.microsoft.com")
    tie.clear_requests()
    body = {
        "module": MODULE,
        "domain": "www.microsoft.com",
        "event_id": "12",
        "attribute_uuid": str(uuid.uuid4()),
        "config": {**unset_config(host), **tie_config(tie)},
    }
    answer = query(host, body)
    verdict, *found = answer["results"]
    assert verdict["tags"] == ['tqops:verdict="unknown"']  # look-alikes only: not judged
    offered = {r["values"][0]: r["types"] for r in found}
    # TIE files this look-alike as a domain; MISP takes it only as a url
    assert offered.pop(TRILLIUM) == ["url"]
    others = [i["value"] for i in expected["indicators"] if i["value"] != TRILLIUM]
    assert offered == {value: ["domain", "hostname"] for value in others}
    assert found[0]["comment"].startswith("DCSO TIE: Hotness=")
    assert searched(tie) == ["www.microsoft.com"]


def test_a_misp_standard_query_returns_attributes_and_objects(host, tie):
    expected = run_result(tie, "FQDN", "www.microsoft.com")
    asked = str(uuid.uuid4())
    attribute = {
        "uuid": asked,
        "type": "domain",
        "category": "Network activity",
        "value": "www.microsoft.com",
        "to_ids": False,
        "Tag": [{"name": "tlp:green"}],
    }
    config = {**unset_config(host), **tie_config(tie)}
    results = query(host, {"module": MODULE, "attribute": attribute, "config": config})["results"]
    queried, *found = results["Attribute"]
    assert queried["uuid"] == asked and queried["Tag"] == [
        {"name": "tlp:green"},
        {"name": 'tqops:verdict="unknown"'},
    ]
    assert [a["value"] for a in found] == [i["value"] for i in expected["indicators"]]
    assert {a["value"]: a["type"] for a in found if a["type"] != "domain"} == {TRILLIUM: "url"}
    assert all("Tag" not in a for a in found)  # a related match does not take the verdict
    verdict, annotation, *_ = results["Object"]
    assert [r["referenced_uuid"] for r in verdict["ObjectReference"]] == [asked]
    assert annotation["name"] == "annotation"
    relations = {
        r["relationship_type"]: r["referenced_uuid"] for r in annotation["ObjectReference"]
    }
    assert relations == {"annotates": found[0]["uuid"], "related-to": asked}
    text = next(a["value"] for a in annotation["Attribute"] if a["object_relation"] == "text")
    first = expected["indicators"][0]["attributes"][0]
    assert text.startswith(f"{first['name']}: {first['value']}")


def test_both_forms_tag_an_exact_hit_with_its_verdict_and_give_its_reasons(host, tie):
    expected = run_result(tie, "FQDN", HIT)
    verdict = expected["verdict"]
    assert verdict["level"] == "malicious"  # the data's premise, as `tqops run` judges it
    tag = 'tqops:verdict="malicious"'
    config = {**unset_config(host), **tie_config(tie)}
    legacy = query(host, {"module": MODULE, "hostname": HIT, "config": config})["results"]
    assert legacy[0]["tags"] == [tag]
    said = legacy[0]["values"][0].splitlines()
    assert said[0] == f"DCSO TIE verdict: malicious (score {verdict['score']}/100)"
    assert said[1:] == [f"- {reason}" for reason in verdict["reasons"]]
    asked = {"uuid": str(uuid.uuid4()), "type": "hostname", "value": HIT, "to_ids": True}
    body = {"module": MODULE, "attribute": asked, "config": config}
    standard = query(host, body)["results"]
    (queried,) = [a for a in standard["Attribute"] if a["uuid"] == asked["uuid"]]
    assert queried == {**asked, "Tag": [{"name": tag}]}
    notes = [
        o for o in standard["Object"] if o["ObjectReference"][0]["referenced_uuid"] == asked["uuid"]
    ]
    (text,) = [a["value"] for a in notes[0]["Attribute"] if a["object_relation"] == "text"]
    assert text == legacy[0]["values"][0]


def test_the_stored_configuration_serves_misp_only_once_an_admin_allows_it(host, tie):
    tie.clear_requests()
    body = {"module": MODULE, "domain": "allowed.example", "config": unset_config(host)}
    refused = query(host, body)
    assert "has not allowed its stored one for MISP" in refused["error"]
    assert searched(tie) == []
    admin = host.api(host.users["admin"]["api_key"])
    config = admin.put(
        f"{host.url}/api/v1/operations/dcso_tie/config", json={"values": tie_config(tie)}
    )
    assert config.status_code == 200
    settings = f"{host.url}/api/v1/operations/dcso_tie/settings"
    assert admin.put(settings, json={"misp_allowed": True}).status_code == 200
    try:
        (verdict,) = query(host, body)["results"]  # nothing found: only the verdict
        assert verdict["tags"] == ['tqops:verdict="unknown"']
        assert searched(tie) == ["allowed.example"]
        audit = admin.get(f"{host.url}/api/v1/audit").json()["audit"]
        entry = next(e for e in audit if e["action"] == "misp-query")
        assert entry["user"] == "misp-modules" and "stored configuration" in entry["detail"]
    finally:
        admin.put(settings, json={"misp_allowed": False})


def test_what_a_query_carries_never_reaches_the_host_environment_or_the_shared_cache(host, tie):
    tie.clear_requests()
    by_reference = {**tie_config(tie), "access_token": "env:HOME"}
    answer = query(host, {"module": MODULE, "domain": "ref.example", "config": by_reference})
    assert "by reference" in answer["error"]
    wrong_key = {**tie_config(tie), "access_token": "not-the-token"}
    refused = query(host, {"module": MODULE, "domain": "www.microsoft.com", "config": wrong_key})
    assert "error" in refused  # the vendor refused that key: no cached answer was given
    assert searched(tie) == ["www.microsoft.com"]


def test_misp_is_refused_what_it_does_not_send(host):
    bad_type = query(host, {"module": MODULE, "mutex": "x", "config": {}})
    assert bad_type == {"error": "Unsupported attribute type."}
    unknown = query(host, {"module": "nothing", "domain": "x.example"})
    assert "no enabled module" in unknown["error"]
    as_text = misp().post(f"{host.misp}/query", data='{"module": "x"}', timeout=10)
    assert "Content-Type: application/json" in as_text.json()["error"]
    rebound = misp().get(f"{host.misp}/modules", headers={"Host": "evil.example"}, timeout=10)
    assert rebound.status_code == 400
    assert rebound.json() == {
        "error": "the Host 'evil.example' is not one this host answers to (--misp-allowed-hosts)"
    }
    for named in ("misp-modules:6666", "misp-modules", "localhost:6666", "127.0.0.1"):
        allowed = misp().get(f"{host.misp}/modules", headers={"Host": named}, timeout=10)
        assert allowed.status_code == 200, (named, allowed.text)
    main = host.api().get(f"{host.url}/modules")  # not on the host's own listener
    assert main.status_code == 404


def test_the_listener_is_off_unless_asked_for_and_never_public_without_tls(tmp_path):
    public = tqops("serve", "--data", str(tmp_path / "d"), "--misp-modules", "0.0.0.0:6666")
    assert public.returncode == 2 and "without TLS" in public.stderr
    assert public.stderr.count("\n") == 1
    garbled = tqops("serve", "--data", str(tmp_path / "d"), "--misp-modules", "six:6666")
    assert garbled.returncode == 2 and "--misp-modules" in garbled.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        refused = tqops("serve", "--data", str(tmp_path / "d"), "--port", str(free_port()),
                        "--misp-modules", taken)  # fmt: skip
    assert refused.returncode == 2 and "cannot listen on" in refused.stderr
    alone = tqops("serve", "--data", str(tmp_path / "d"), "--misp-allowed-hosts", "misp-modules")
    assert alone.returncode == 2 and "needs --misp-modules" in alone.stderr
    bad = tqops("serve", "--data", str(tmp_path / "d"), "--misp-modules", "127.0.0.1:6666",
                "--misp-allowed-hosts", "misp-modules:6666")  # fmt: skip
    assert bad.returncode == 2
    assert "--misp-allowed-hosts takes host names" in bad.stderr and bad.stderr.count("\n") == 1
    cert, key, _ = tls_files(tmp_path)
    tls = ("--tls-cert", cert, "--tls-key", key)
    everywhere = tqops("serve", "--data", str(tmp_path / "d"), *tls, "--misp-modules",
                       "0.0.0.0:6666")  # fmt: skip
    assert everywhere.returncode == 2 and "need --misp-allowed-hosts" in everywhere.stderr


def test_sigterm_stops_both_listeners(tmp_path, tie):
    port = free_port()
    data = tmp_path / "data"
    args = ("--misp-modules", f"127.0.0.1:{port}")
    with protocol_host(data, tie, args=args, configure=False) as running:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url))
        assert running.terminate() in (0, -signal.SIGTERM)
        assert not _up(url)


def misp_standard_attribute(misp_type, value):
    """The attribute MISP's enrichment sends in a misp_standard query (Module.php)."""
    return {
        "id": "4711", "event_id": "12", "object_id": "0", "object_relation": None,
        "category": "Network activity", "type": misp_type, "value": value, "to_ids": True,
        "uuid": str(uuid.uuid4()), "timestamp": "1764633600", "distribution": "5",
        "sharing_group_id": "0", "comment": "", "deleted": False,
        "disable_correlation": False, "first_seen": None, "last_seen": None,
        "Tag": [{"id": "3", "name": "tlp:green", "colour": "#33FF00"}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("misp_type", "value", "exact"),
    [
        ("domain", "www.microsoft.com", False),  # look-alikes, one a domain with a path
        ("ip-src", "185.121.132.51", True),  # TIE has it (as 185.121.132.51/32)
    ],
)
def test_misp_modules_cli_and_misp_get_only_values_misp_takes(host, tie, misp_type, value, exact):
    tools = pytest.importorskip("pymisp.tools", reason="pymisp needs Python 3.10")
    config = {"config": {**unset_config(host), **tie_config(tie)}}
    cli = {"type": misp_type, "value": value, "uuid": str(uuid.uuid4())}  # misp-modules-cli's
    shaped = misp_standard_attribute(misp_type, value)
    answers = [
        query(host, {"module": MODULE, "attribute": cli, **config}),
        query(host, {"module": MODULE, "attribute": shaped, "event_id": "12", **config}),
    ]
    classic = {"module": MODULE, misp_type: value, "event_id": "12",
               "attribute_uuid": shaped["uuid"], **config}  # fmt: skip
    legacy = query(host, classic)["results"]
    for attribute, answer in zip((cli, shaped), answers):
        results = answer["results"]
        errors: dict = {}
        event = tools.validate_event({"Event": {"info": "enrichment", **results}}, errors)
        assert errors == {}, errors
        values = [(a.type, a.value) for a in event.attributes]
        values += [(a.type, a.value) for o in event.objects for a in o.attributes]
        for kind, found in values:
            assert tools.AttributeValidationTool.validate(kind, found) is True, (kind, found)
        # the queried value comes back once, under its own type: the queried attribute
        assert [(a.type, a.uuid) for a in event.attributes if a.value == value] == [
            (misp_type, attribute["uuid"])
        ]
        # the exact match's enrichment annotates the queried attribute, after the verdict
        enrichment = [
            o for o in results["Object"][1:]
            if o["ObjectReference"][0]["referenced_uuid"] == attribute["uuid"]
        ]  # fmt: skip
        assert len(enrichment) == (1 if exact else 0)
        assert len(results["Object"]) > 1  # something was found beside the verdict
        references = [(o, r) for o in results["Object"] for r in o["ObjectReference"]]
        assert references and all(r["object_uuid"] == o["uuid"] for o, r in references)
        assert all(o["template_version"] == "3" for o in results["Object"])
    for result in legacy[1:]:
        for kind in result["types"]:
            assert tools.AttributeValidationTool.validate(kind, result["values"][0]) is True
    offered = {r["values"][0]: r["types"] for r in legacy[1:]}
    assert (offered.get(value) == [misp_type]) if exact else (value not in offered)


def test_misp_modules_cli_itself_gets_the_enrichment_misp_takes(host, tie, tmp_path):
    """The real client, where it is installed (``pip install misp-modules-cli``): its introspection,
    its query and its reading of the answer; MISP's describeTypes served from pymisp's copy."""
    cli = Path(sys.executable).with_name("misp-modules-cli")
    if not cli.exists():  # the test extra installs it: a missing client is a failure
        pytest.fail("misp-modules-cli is not installed beside this Python: run make install")
    tools = pytest.importorskip("pymisp.tools", reason="pymisp needs Python 3.10")
    types = Path(tools.__file__).parent.parent / "data" / "describeTypes.json"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=types.parent)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as files:
        threading.Thread(target=files.serve_forever, daemon=True).start()
        settings = tmp_path / "cli.json"
        settings.write_text(json.dumps({"modules": {MODULE: tie_config(tie)}}))
        done = subprocess.run(
            [str(cli), "--url", host.misp, "--type", "domain", "--value", "www.microsoft.com",
             "--module", MODULE, "--raw", "--config-file", str(settings),
             "--cache-file", str(tmp_path / "cache.json"),
             "--describe-types-url", f"http://127.0.0.1:{files.server_address[1]}/{types.name}"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        )  # fmt: skip
        files.shutdown()
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    errors: dict = {}
    event = tools.validate_event({"Event": {"info": "cli", **results}}, errors)
    assert errors == {}
    offered = {a.value: a.type for a in event.attributes}
    assert offered.pop("www.microsoft.com") == "domain"  # the queried attribute, tagged
    assert offered[TRILLIUM] == "url" and set(offered.values()) == {"domain", "url"}
    assert all(r.object_uuid == o.uuid for o in event.objects for r in o.references)
