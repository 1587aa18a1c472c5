"""The host's files and transport (issue "Host security, round two", findings 7 and 8): a data
directory private however it is first made; HSTS under TLS; only the Host names a listener
serves; forwarded headers believed only from the proxies named; and malformed input (integers
over 64 bits, deep JSON, a chunked body over the limit, YAML aliases) a 4xx with one line, never
a 500."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from tests.support.hosting import RunningHost, add_user, free_port, tqops, wait_for
from tests.support.protocols import protocol_host
from tqops.server.api.misp import create_app as misp_app
from tqops.server.app import create_app
from tqops.server.host import Host

BIG = str(2**70)  # over 64 bits: SQLite's INTEGER cannot hold it
DEEP = "[" * 5000 + "]" * 5000


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line_json(answer: Any, key: str = "error") -> str:
    """The one-line message of a JSON error answer (``key``: the protocol's field)."""
    body = answer.json()
    message = body[key][0] if isinstance(body[key], list) else body[key]
    assert isinstance(message, str) and message and "\n" not in message, body
    assert "Traceback" not in message and "internal error" not in message, body
    return message


# -- the data directory ------------------------------------------------------------------------


@pytest.fixture()
def lax_umask() -> Iterator[None]:
    """A umask that would leave everything readable to all (the process's, inherited)."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_users_add_before_the_first_serve_makes_a_private_data_directory(tmp_path, lax_umask):
    data = tmp_path / "fresh" / "data"
    add_user(data, "alice@example.com", "admin")
    assert mode(data) == 0o700
    assert mode(data / "tqops.db") == 0o600
    assert {p.name for p in data.iterdir() if mode(p) & 0o077} == set()


def test_an_existing_lax_data_directory_is_made_private(tmp_path, lax_umask):
    data = tmp_path / "data"
    (data / "integrations" / "thing").mkdir(parents=True, mode=0o755)
    (data / "integrations" / "thing" / "code.py").write_text("x = 1\n")
    (data / "tqops.db").touch(mode=0o644)
    os.chmod(data, 0o755)
    done = tqops("users", "list", "--data", str(data))
    assert done.returncode == 0, done.stderr
    for path in [data, *data.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_a_serving_host_keeps_every_file_private(tmp_path, lax_umask):
    """``serve`` on a new directory: the database, its WAL journals (made by SQLite with the
    database's mode) and the vault's key."""
    data = tmp_path / "data"
    with RunningHost(data) as running:
        assert running.api().get(f"{running.url}/api/v1/me").status_code == 401
        files = {p.name: mode(p) for p in data.iterdir() if p.is_file()}
        assert mode(data) == 0o700
        assert {"tqops.db", "tqops.db-wal", "tqops.db-shm", "secret.key"} <= set(files)
        assert set(files.values()) == {0o600}, files


def test_a_data_directory_that_cannot_be_made_private_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = tqops("users", "add", "a@example.com", "--role", "admin", "--data", str(blocker))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and str(blocker) in done.stderr


# -- the listener ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(tmp_path_factory, tie) -> Iterator[RunningHost]:
    """`tqops serve` over TLS with MISP's modules on loopback, no option of this module's."""
    port = free_port()
    data = tmp_path_factory.mktemp("transport") / "data"
    with protocol_host(data, tie, args=("--misp-modules", f"127.0.0.1:{port}")) as running:
        running.misp = f"http://127.0.0.1:{port}"
        wait_for(lambda: _misp_up(running.misp))
        yield running


def _misp_up(url: str) -> bool:
    try:
        return plain().get(f"{url}/healthcheck", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def plain() -> requests.Session:
    client = requests.Session()
    client.trust_env = False
    return client


@pytest.mark.slow
def test_every_answer_under_tls_carries_hsts_and_plain_loopback_none(host):
    client = host.api()
    answers = [
        client.get(f"{host.url}/api/v1/me"),  # 401
        client.get(f"{host.url}/api/v1/openapi.json"),  # 200
        client.get(f"{host.url}/nowhere"),  # 404
        client.get(f"{host.url}/api/v1/me", headers={"Host": "rebound.example"}),  # 400
        client.get(f"{host.url}/console/login"),  # a page
    ]
    assert [a.status_code for a in answers] == [401, 200, 404, 400, 200]
    for answer in answers:
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    misp = plain().get(f"{host.misp}/healthcheck")
    assert misp.status_code == 200 and "Strict-Transport-Security" not in misp.headers


@pytest.mark.slow
def test_only_the_listeners_own_host_names_are_answered(host):
    key = host.users["viewer"]["api_key"]
    client = host.api(key)
    port = host.port
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        answer = client.get(f"{host.url}/api/v1/me", headers={"Host": name})
        assert answer.status_code == 200, (name, answer.text)
    for name in ("rebound.example", f"rebound.example:{port}", "127.0.0.2", "localhost.evil"):
        for url in (f"{host.url}/api/v1/me", f"{host.misp}/modules"):
            session = client if url.startswith(host.url) else plain()
            answer = session.get(url, headers={"Host": name})
            assert answer.status_code == 400, (name, url, answer.text)
            assert "is not one this host answers to" in one_line_json(answer)
    refused = client.get(f"{host.url}/api/v1/me", headers={"Host": "rebound.example"})
    assert one_line_json(refused) == (
        "the Host 'rebound.example' is not one this host answers to (--allowed-hosts)"
    )


def _misp_query(host: RunningHost, headers: dict[str, str]) -> str:
    """A MISP query with ``headers``; the audit entry's detail it left."""
    admin = host.api(host.users["admin"]["api_key"])
    settings = f"{host.url}/api/v1/operations/dcso_tie/settings"
    assert admin.put(settings, json={"misp_allowed": True}).status_code == 200
    try:
        answer = plain().post(
            f"{host.misp}/query",
            json={"module": "dcso_tie_search", "domain": "forwarded.example"},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 200 and "error" not in answer.json(), answer.text
    finally:
        admin.put(settings, json={"misp_allowed": False})
    audit = admin.get(f"{host.url}/api/v1/audit").json()["audit"]
    return str(next(e for e in audit if e["action"] == "misp-query")["detail"])


@pytest.mark.slow
def test_forwarded_headers_from_a_caller_not_named_are_not_believed(host):
    spoofed = {"X-Forwarded-For": "203.0.113.99", "X-Forwarded-Proto": "https"}
    detail = _misp_query(host, spoofed)
    assert detail.endswith("from 127.0.0.1") and "203.0.113.99" not in detail, detail


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_413(host):
    key = host.users["analyst"]["api_key"]

    def chunks() -> Iterator[bytes]:
        for _ in range(6):  # 6 MB, over the 5 MB limit, with no Content-Length
            yield b" " * 2**20

    for path in ("/api/v1/indicators", "/api/v1/jobs", "/api/analyzer/_search"):
        try:
            answer = host.api(key).post(
                f"{host.url}{path}", data=chunks(), headers={"Content-Type": "application/json"}
            )
        except requests.ConnectionError:
            continue  # the host may close while the client still sends: no 500 either way
        assert answer.status_code == 413, (path, answer.text)
        field = "message" if path.startswith("/api/analyzer") else "error"  # Cortex's format
        assert one_line_json(answer, field) == "the request body is over the 5 MB limit"
    # the host goes on answering
    assert host.api(key).get(f"{host.url}/api/v1/me").status_code == 200


@pytest.mark.slow
def test_named_proxies_and_host_names_are_believed(tmp_path, tie):
    port = free_port()
    args = (
        "--misp-modules", f"127.0.0.1:{port}",
        "--forwarded-allow-ips", "127.0.0.1",
        "--allowed-hosts", "tqops.example.org,10.1.2.3",
    )  # fmt: skip
    with protocol_host(tmp_path / "data", tie, args=args) as running:
        running.misp = f"http://127.0.0.1:{port}"
        wait_for(lambda: _misp_up(running.misp))
        client = running.api(running.users["viewer"]["api_key"])
        for name in ("tqops.example.org", "TQOPS.example.org.:443", "10.1.2.3", "127.0.0.1"):
            answer = client.get(f"{running.url}/api/v1/me", headers={"Host": name})
            assert answer.status_code == 200, (name, answer.text)
        misp = plain().get(f"{running.misp}/modules", headers={"Host": "other.example.org"})
        assert misp.status_code == 400
        other = client.get(f"{running.url}/api/v1/me", headers={"Host": "other.example.org"})
        assert other.status_code == 400
        detail = _misp_query(running, {"X-Forwarded-For": "203.0.113.99"})
        assert detail.endswith("from 203.0.113.99"), detail


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--host", "0.0.0.0"), "--allowed-hosts"),
        (("--allowed-hosts", "bad name!"), "--allowed-hosts"),
        (("--allowed-hosts", "a.example:8600"), "--allowed-hosts"),
        (("--forwarded-allow-ips", "proxy.example"), "--forwarded-allow-ips"),
        (("--forwarded-allow-ips", "*"), "--forwarded-allow-ips"),
    ],
)
def test_bad_listener_options_are_one_line_before_anything_starts(tmp_path, args, named):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    done = tqops("serve", "--data", str(tmp_path / "d"), *tls, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and named in done.stderr
    assert not (tmp_path / "d").exists()


def test_serve_help_names_the_listener_options():
    shown = tqops("serve", "--help").stdout
    for option in ("--allowed-hosts", "--forwarded-allow-ips"):
        assert option in shown


# -- malformed input ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_host(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A host's application under the TestClient: an admin's key, an analyst's ThreatQ token."""
    host = Host(tmp_path_factory.mktemp("malformed") / "data")
    admin = host.users.add("admin@example.com", "admin")
    analyst = host.users.add("analyst@example.com", "analyst")
    with TestClient(
        create_app(host), base_url="http://127.0.0.1", raise_server_exceptions=False
    ) as client:
        token = client.post(
            "/api/token",
            json={"grant_type": "password", "email": analyst.name, "password": analyst.password},
        )
        assert token.status_code == 200, token.text
        yield {
            "client": client,
            "host": host,
            "rest": {"Authorization": f"Bearer {admin.api_key}"},
            "threatq": {"Authorization": f"Bearer {token.json()['access_token']}"},
        }


#: (method, path, JSON body, which credential, the error's field): every route that takes an
#: integer, each given one over 64 bits (path, query or body)
OVERSIZED = [
    ("GET", f"/api/v1/jobs/{BIG}", None, "rest"),
    ("GET", f"/api/v1/jobs/{BIG}/results", None, "rest"),
    ("GET", f"/api/v1/jobs/{BIG}/events", None, "rest"),
    ("POST", f"/api/v1/jobs/{BIG}/cancel", None, "rest"),
    ("POST", f"/api/v1/jobs/{BIG}/resume", None, "rest"),
    ("POST", f"/api/v1/jobs/{BIG}/import", None, "rest"),
    ("GET", f"/api/v1/jobs?offset={BIG}", None, "rest"),
    (
        "POST",
        "/api/v1/jobs",
        {"operation": "dcso_tie", "action": "search", "indicator_ids": [int(BIG)]},
        "rest",
    ),
    ("GET", f"/api/v1/indicators/{BIG}", None, "rest"),
    ("DELETE", f"/api/v1/indicators/{BIG}", None, "rest"),
    ("GET", f"/api/v1/indicators?offset={BIG}", None, "rest"),
    ("GET", f"/api/v1/audit?offset={BIG}", None, "rest"),
    ("GET", f"/api/indicators/{BIG}", None, "threatq"),
    ("GET", f"/api/plugins?offset={BIG}", None, "threatq"),
    ("POST", f"/api/plugins/{BIG}/execute", {"action": "search", "id": BIG}, "threatq"),
    ("GET", f"/api/job/{BIG}", None, "rest"),
    ("GET", f"/api/job/{BIG}/report", None, "rest"),
    ("GET", f"/api/job/{BIG}/waitreport", None, "rest"),
    ("GET", f"/api/job/{BIG}/artifacts", None, "rest"),
    ("POST", "/api/job/status", {"jobIds": [int(BIG)]}, "rest"),
    ("POST", "/api/analyzer/_search", {"range": "0-10", "query": {"_id": int(BIG)}}, "rest"),
]
#: each protocol's error field
FIELD = {"/api/v1/": "error", "/api/job": "message", "/api/analyzer": "message", "/api/": "errors"}


def _field(path: str) -> str:
    return next(field for prefix, field in FIELD.items() if path.startswith(prefix))


@pytest.mark.parametrize(("method", "path", "body", "who"), OVERSIZED, ids=lambda v: str(v)[:40])
def test_an_integer_over_64_bits_is_404_or_422_never_500(app_host, method, path, body, who):
    answer = app_host["client"].request(method, path, json=body, headers=app_host[who])
    assert answer.status_code in (404, 422), answer.text
    one_line_json(answer, _field(path))


def test_a_cortex_status_of_a_huge_job_id_given_as_text_is_not_found(app_host):
    """Cortex's job ids are text: one no job has, however large, is NotFound in the map its
    status route answers (as Cortex answers it), never a 500."""
    answer = app_host["client"].post(
        "/api/job/status", json={"jobIds": [BIG]}, headers=app_host["rest"]
    )
    assert answer.status_code == 200 and answer.json() == {BIG: "NotFound"}


def test_the_largest_64_bit_integer_is_still_just_not_found(app_host):
    answer = app_host["client"].get(f"/api/v1/jobs/{2**63 - 1}", headers=app_host["rest"])
    assert answer.status_code == 404 and one_line_json(answer) == f"no job {2**63 - 1}"


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/api/indicators/consume", "threatq"),
        ("/api/analyzer/_search", "rest"),
        ("/api/job/status", "rest"),
        ("/api/token", "threatq"),
        ("/api/v1/jobs", "rest"),
        ("/api/v1/indicators", "rest"),
    ],
)
def test_deeply_nested_json_is_400(app_host, path, who):
    answer = app_host["client"].post(
        path, content=DEEP, headers={**app_host[who], "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    one_line_json(answer, _field(path))


def test_json_nested_past_the_bound_is_400_and_within_it_is_read(app_host):
    client, headers = app_host["client"], app_host["rest"]
    deep = {"query": {"_and": [{"_and": [{}]}]}}
    for _ in range(30):
        deep = {"query": {"_and": [deep]}}
    answer = client.post("/api/analyzer/_search", json=deep, headers=headers)
    assert answer.status_code == 400
    assert one_line_json(answer, "message") == "the JSON body nests deeper than 32 levels"
    shallow = {"query": {"_and": [{"_field": "dataTypeList", "_value": "ip"}]}}
    assert client.post("/api/analyzer/_search", json=shallow, headers=headers).status_code == 200


@pytest.mark.parametrize("body", [DEEP, json.dumps({"module": "x", "ip-src": int(BIG)})])
def test_misp_refuses_deep_or_oversized_json_in_its_own_format(app_host, body):
    with TestClient(misp_app(app_host["host"]), base_url="http://127.0.0.1") as client:
        answer = client.post("/query", content=body, headers={"Content-Type": "application/json"})
    message = one_line_json(answer)
    assert "64-bit" in message or "deeper than 32 levels" in message


# -- manifests ---------------------------------------------------------------------------------


def alias_bomb() -> str:
    """A manifest of a few hundred bytes that is 10**8 items once its aliases are expanded."""
    text = "name: bomb\nversion: 1.0.0\nl0: &l0 [" + ", ".join(["x"] * 10) + "]\n"
    for level in range(1, 8):
        text += f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]\n"
    return text


def test_yaml_aliases_cannot_multiply_a_manifest(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    done = tqops("validate", str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "over 50,000 nodes once its aliases are expanded" in done.stdout


def test_a_manifest_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "large.yaml"
    path.write_text("name: large\n" + "# padding\n" * 110_000)
    done = tqops("validate", str(path))
    assert done.returncode == 2
    assert "over the limit of 1,048,576" in done.stdout


def test_an_uploaded_integration_with_an_alias_bomb_is_refused(app_host, tmp_path):
    """The integration file `tqops bundle` writes, its manifest given the bomb's lines."""
    built = tqops("bundle", "dcso_tie", "--out", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("tq_op_dcso_tie-*.whl")
    bomb = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(bomb, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("/dcso_tie.yaml"):
                data += alias_bomb().split("\n", 2)[2].encode()  # its l0 ... l7 lines
            target.writestr(name, data)
    answer = app_host["client"].post(
        "/api/v1/integrations",
        files={"file": (bomb.name, bomb.read_bytes())},
        headers=app_host["rest"],
    )
    assert answer.status_code == 400, answer.text
    assert "nodes once its aliases are expanded" in one_line_json(answer)
