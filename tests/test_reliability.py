"""Reliability with real parts: retries against a real server's faults, real certificates,
a real forward proxy. Nothing is mocked here."""

from __future__ import annotations

import base64
import datetime
import json
import time
from typing import Any

import pytest
import trustme

from simulators import TieSimulator
from simulators._server import TestCA
from tests.support.cli import cli, flags, one_input
from tests.support.forward_proxy import ForwardProxy, dead_proxy_url
from tests.support.vendors import TIE_TOKEN, tie_config


def run_args(sim: Any, *extra: str, hostname: str = "") -> list[str]:
    config = tie_config(sim, hostname=hostname or sim.hostname)
    return [
        *one_input("dcso_tie", "IP Address", "203.0.113.7"),
        *flags("--config", config),
        *("--format", "json", *extra),
    ]


def test_500_then_429_with_retry_after_then_a_drop_then_success(sim, capsys):
    sim.enqueue_faults(500, (429, {"Retry-After": "1"}), "drop")
    started = time.monotonic()
    code, out, err = cli(*run_args(sim), capsys=capsys)
    elapsed = time.monotonic() - started
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "ok"
    assert len(sim.requests) == 4
    assert elapsed >= 1.0  # waited for Retry-After


def test_retry_after_as_an_http_date_is_honoured(sim, capsys):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    sim.enqueue_faults((503, {"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}))
    started = time.monotonic()
    code, _, _ = cli(*run_args(sim), capsys=capsys)
    assert code == 0 and time.monotonic() - started >= 0.9
    assert len(sim.requests) == 2


@pytest.mark.slow
def test_a_call_that_keeps_failing_says_how_many_tries_it_made(sim, capsys):
    sim.enqueue_faults(*([502] * 5))
    code, out, _ = cli(*run_args(sim), capsys=capsys)
    assert code == 1
    (result,) = json.loads(out)["results"]
    assert result["error"] == (
        "DCSO TIE failed (HTTP 502: simulated fault 502) @ /api/v1/iocs-with-context after 5 tries"
    )
    assert len(sim.requests) == 5


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_never_retried(sim, capsys, status):
    sim.enqueue_faults(status)
    code, out, _ = cli(*run_args(sim), capsys=capsys)
    assert code == 1
    assert json.loads(out)["results"][0]["status"] == "error"
    assert len(sim.requests) == 1


def test_one_failed_call_does_not_stop_the_others(sim, capsys):
    sim.enqueue_faults(400)
    args = run_args(sim, "--type", "FQDN", "--value", "www.microsoft.com", "--concurrency", "1")
    code, out, _ = cli(*args, capsys=capsys)
    results = json.loads(out)["results"]
    assert code == 1
    assert [r["status"] for r in results] == ["error", "ok"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("self-signed", "not trusted"),
        ("expired", "expired"),
        ("wrong-host", "match"),
    ],
)
def test_bad_certificates_are_refused_in_one_line_naming_the_cause(capsys, kind, expected):
    ca = TestCA()
    if kind == "expired":
        ca.server_cert = ca.ca.issue_cert(
            "127.0.0.1",
            not_after=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1),
        )
    elif kind == "wrong-host":
        ca.server_cert = ca.ca.issue_cert("tie.example.org")
    sim = TieSimulator.__new__(TieSimulator)
    TieSimulator.__init__(sim, token=TIE_TOKEN)
    sim.ca = ca
    sim._context = ca.server_context()
    with sim:
        bundle = ca.ca_pem_path if kind != "self-signed" else None
        config = {"hostname": sim.hostname, "access_token": TIE_TOKEN, "ca_bundle": bundle}
        code, out, _ = cli("test-connection", "dcso_tie", *flags("--config", config), capsys=capsys)
        assert code == 1
        assert out.count("\n") == 1 and "tls" in out and expected in out, out
        assert "ca_bundle" in out
        code, out, _err = cli(
            *run_args(sim)[:7],
            *flags("--config", config),
            "--format",
            "json",
            capsys=capsys,
        )
        (result,) = json.loads(out)["results"]
        assert result["status"] == "error" and "TLS verification" in result["error"]
        assert expected in result["error"] or kind == "self-signed"
        assert sim.requests == []


def test_verify_ssl_off_accepts_an_untrusted_certificate(sim, capsys):
    args = [
        "test-connection",
        "dcso_tie",
        "--config",
        f"hostname={sim.hostname}",
        "--config",
        f"access_token={TIE_TOKEN}",
        "--config",
        "verify_ssl=false",
    ]
    code, out, err = cli(*args, capsys=capsys)
    assert code == 0, out
    # said once, plainly, instead of one urllib3 warning per request
    assert err.count("TLS certificate verification is OFF") == 1, err
    assert "InsecureRequestWarning" not in err


def test_environment_ca_variables_do_not_override_the_config(sim, capsys, monkeypatch, tmp_path):
    other = trustme.CA()
    pem = tmp_path / "other.pem"
    other.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(pem))
    code, out, err = cli(*run_args(sim), capsys=capsys)
    assert code == 0, out + err


def test_proxy_carries_the_calls_when_use_proxy_is_on(sim, capsys, monkeypatch):
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        code, out, err = cli(*run_args(sim, "--config", "use_proxy=true"), capsys=capsys)
        assert code == 0, out + err
        assert ("CONNECT", sim.hostname, None) in proxy.seen
        proxy.seen.clear()
        code, _, _ = cli(
            *run_args(sim, "--config", "use_proxy=true", "--proxy", proxy.url), capsys=capsys
        )
        assert code == 0 and proxy.seen


def test_proxy_in_the_environment_is_ignored_when_use_proxy_is_off(sim, capsys, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", dead_proxy_url())
    monkeypatch.setenv("HTTP_PROXY", dead_proxy_url())
    monkeypatch.setenv("ALL_PROXY", dead_proxy_url())
    code, out, err = cli(*run_args(sim), capsys=capsys)
    assert code == 0, out + err


def test_no_proxy_is_honoured(sim, capsys, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", dead_proxy_url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    code, out, err = cli(*run_args(sim, "--config", "use_proxy=true"), capsys=capsys)
    assert code == 0, out + err


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("dead", "could not be reached"),
        ("refuse", "refused the tunnel (403"),
        ("auth", "requires authentication (407)"),
    ],
)
def test_a_failing_proxy_gives_a_clear_message(sim, capsys, monkeypatch, mode, expected):
    with ForwardProxy(mode=mode if mode != "dead" else "open", auth="Basic eDp5") as proxy:
        url = dead_proxy_url() if mode == "dead" else proxy.url
        monkeypatch.setenv("HTTPS_PROXY", url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        code, out, _ = cli(*run_args(sim, "--config", "use_proxy=true"), capsys=capsys)
    assert code == 1
    (result,) = json.loads(out)["results"]
    assert "proxy failed" in result["error"] and expected in result["error"]
    assert sim.requests == []


def test_proxy_credentials_in_the_url_are_sent_and_never_shown(sim, capsys, monkeypatch):
    secret = "pr0xy-pass-4471"
    auth = "Basic " + base64.b64encode(f"alice:{secret}".encode()).decode()
    with ForwardProxy(mode="auth", auth=auth) as proxy:
        url = proxy.url.replace("http://", f"http://alice:{secret}@")
        code, out, err = cli(
            *run_args(sim, "--config", "use_proxy=true", "--proxy", url, "-v"), capsys=capsys
        )
    assert code == 0, out + err
    assert proxy.seen[-1][2] == auth
    assert secret not in out + err


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            (200, {"Content-Type": "text/html"}, "<html>login</html>"),
            "answered with a body that is not JSON (text/html, 18 bytes) @ "
            "/api/v1/iocs-with-context",
        ),
        (
            (200, {"Content-Type": "application/json"}, '{"iocs": [{"value": '),
            "answered with a body that is not JSON",
        ),
        (
            (200, {"Content-Type": "application/json"}, '{"data": []}'),
            "unexpected shape @ /api/v1/iocs-with-context: expected an object with an 'iocs' list",
        ),
        ((200, {"Content-Type": "application/json"}, "[1, 2, 3]"), "unexpected shape"),
        (
            (
                "raw",
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Content-Length: 999999999\r\n\r\n{"iocs": [',
            ),
            "answered with 999999999 bytes",
        ),
        (
            (
                "raw",
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n"
                b'\r\n{"iocs": [{"value": "trunc',
            ),
            "closed the connection",
        ),
    ],
)
def test_unusable_vendor_responses_are_clear_errors(sim, capsys, fault, expected):
    sim.enqueue_faults(fault)
    code, out, err = cli(*run_args(sim, "--concurrency", "1"), capsys=capsys)
    assert code == 1, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "error" and expected in result["error"], result["error"]
    assert "\n" not in result["error"] and "Traceback" not in err


def test_paging_stops_on_a_repeated_page_and_at_its_cap(sim, capsys, monkeypatch):
    import dcso_tie_operation.client as tie_client

    monkeypatch.setattr(tie_client, "PAGE_SIZE", 10)
    monkeypatch.setattr(tie_client, "MAX_PAGES", 3)
    args = [*one_input("dcso_tie", "FQDN", "evil-cdn.com"), *flags("--config", tie_config(sim))]
    args += ["--format", "json"]
    code, out, _ = cli(*args, capsys=capsys)
    (result,) = json.loads(out)["results"]
    assert code == 0 and len(sim.requests) == 3 and len(result["indicators"]) == 30
    assert any("stopped after 3 pages" in w for w in result["warnings"])
    sim.clear_requests()
    link = f'<{sim.base_url}/api/v1/iocs-with-context?value=x&offset=10>; rel="next"'
    body = json.dumps(
        {
            "iocs": [{"value": "a.evil-cdn.com", "data_type": "DomainName", "observations": []}],
            "has_more": True,
        }
    )
    monkeypatch.setattr(tie_client, "MAX_PAGES", 10)
    sim.enqueue_faults(*[(200, {"Content-Type": "application/json", "Link": link}, body)] * 3)
    code, out, _ = cli(*args, capsys=capsys)
    (result,) = json.loads(out)["results"]
    assert len(sim.requests) == 2  # the second page pointed at itself again
    assert any("repeated a page" in w for w in result["warnings"])
