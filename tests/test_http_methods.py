"""HttpClient beyond GET: a POST with a form or a JSON body gets what a GET gets (retries when
it may be sent twice, pacing, the body cap, the origin check, the debug log, error mapping),
and every declared secret a vendor echoes back is masked. Unit tests with `responses`, and a
POST retried through a real TLS server on loopback."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses
import yaml
from responses import matchers

import tqops.http.client as client_module
import tqops.http.pacing as pacing
from simulators._server import RecordedRequest, SimulatorServer, _Handler
from tego_operation import OPERATION as TEGO
from tqops.config.values import MASK, validate_config
from tqops.errors import ApiError, AuthenticationError
from tqops.http import HeaderAuth, HttpClient, HttpSettings
from tqops.operations.vendor import BasicAuth, VendorClient, http_client_for, settings_for

HOST = "urlhaus.example.test"
BASE = f"https://{HOST}"
PATH = "/v1/host/"
URL = BASE + PATH
KEY = "CANARY-auth-key-5e1f0c7a"
OTHER = "CANARY-other-secret-93b2"
HIDDEN = "CANARY-option-value-0a4d"


def settings(**kw: Any) -> HttpSettings:
    """Three tries without backoff, the way a test wants them."""
    return HttpSettings(**{"base_url": BASE, "max_tries": 3, "backoff": 0.0, **kw})


def client(secrets: tuple[str, ...] = (KEY,), **kw: Any) -> HttpClient:
    """URLhaus' way: the key in an ``Auth-Key`` header."""
    methods = kw.pop("idempotent_methods", pacing.IDEMPOTENT_METHODS)
    return HttpClient(
        settings(**kw),
        HeaderAuth("Auth-Key", KEY),
        "URLhaus",
        "auth key",
        secrets,
        idempotent_methods=methods,
    )


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tqops.http"]


# --- what is sent ------------------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_a_form_body_is_sent_as_a_form_with_the_credential_header() -> None:
    responses.post(
        URL,
        json={"query_status": "ok"},
        match=[
            matchers.urlencoded_params_matcher({"host": "example.org"}),
            matchers.header_matcher(
                {
                    "Auth-Key": KEY,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                }
            ),
        ],
    )
    document, response = client().post_json(PATH, data={"host": "example.org"})
    assert document == {"query_status": "ok"} and response.status_code == 200


@responses.activate(assert_all_requests_are_fired=True)
def test_a_json_body_is_sent_as_json_with_extra_headers_and_query() -> None:
    responses.post(
        URL,
        json={"ok": True},
        match=[
            matchers.json_params_matcher({"urls": ["https://a.example/x"], "limit": 2}),
            matchers.query_param_matcher({"format": "full"}),
            matchers.header_matcher(
                {"Content-Type": "application/json", "X-Trace": "t1", "Auth-Key": KEY}
            ),
        ],
    )
    document, _ = client().post_json(
        PATH,
        json={"urls": ["https://a.example/x"], "limit": 2},
        params={"format": "full"},
        headers={"X-Trace": "t1"},
    )
    assert document == {"ok": True}


@responses.activate
def test_any_method_goes_through_request_and_get_still_works_as_before() -> None:
    responses.add("PUT", URL, json={"put": 1})
    responses.get(URL, json={"got": 1}, match=[matchers.query_param_matcher({"q": "x"})])
    assert client().request_json("put", PATH, json={"a": 1})[0] == {"put": 1}
    assert client().get_json(PATH, {"q": "x"})[0] == {"got": 1}
    assert client().get(PATH, {"q": "x"}).json() == {"got": 1}
    assert [c.request.method for c in responses.calls] == ["PUT", "GET", "GET"]


def test_a_form_and_a_json_body_together_are_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="not both"):
        client().post_json(PATH, data={"a": "1"}, json={"a": 1})


# --- retries -------------------------------------------------------------------------------


def _busy_then_ok(method: str = "POST") -> None:
    # `responses` uses the first of several matching answers once, then the next
    responses.add(method, URL, status=503, json={"message": "busy"}, headers={"Retry-After": "0"})
    responses.add(method, URL, json={"query_status": "ok"})


@responses.activate
def test_an_idempotent_post_is_retried_on_503() -> None:
    _busy_then_ok()
    document, _ = client().post_json(PATH, data={"host": "example.org"}, idempotent=True)
    assert document == {"query_status": "ok"} and len(responses.calls) == 2
    assert all(c.request.body == "host=example.org" for c in responses.calls)


@responses.activate
def test_a_post_is_not_retried_unless_declared_idempotent() -> None:
    _busy_then_ok()
    with pytest.raises(ApiError) as caught:
        client().post_json(PATH, data={"host": "example.org"})
    assert caught.value.status == 503 and caught.value.retriable
    assert "URLhaus failed (HTTP 503: busy) @ /v1/host/" in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_client_may_declare_post_idempotent_for_every_call() -> None:
    _busy_then_ok()
    document, _ = client(idempotent_methods={"GET", "post"}).post_json(PATH, data={"h": "x"})
    assert document == {"query_status": "ok"} and len(responses.calls) == 2


@responses.activate
def test_get_is_retried_by_default_and_not_when_a_call_says_so() -> None:
    _busy_then_ok("GET")
    assert client().get_json(PATH)[0] == {"query_status": "ok"}
    assert len(responses.calls) == 2
    _busy_then_ok("GET")
    with pytest.raises(ApiError, match="HTTP 503"):
        client().get_json(PATH, idempotent=False)
    assert len(responses.calls) == 3


@responses.activate
def test_a_vendor_client_posts_through_its_http_client() -> None:
    class Lookups(VendorClient):
        POST_IS_IDEMPOTENT = True

    _busy_then_ok()
    assert Lookups(client()).post(PATH, data={"host": "a.example"}) == {"query_status": "ok"}
    assert len(responses.calls) == 2
    _busy_then_ok()
    with pytest.raises(ApiError, match="HTTP 503"):
        VendorClient(client()).post(PATH, data={"host": "a.example"})
    assert len(responses.calls) == 3


# --- pacing, the body cap, the origin -------------------------------------------------------


@responses.activate
def test_pacing_applies_to_post(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(pacing.time, "monotonic", lambda: 100.0)
    monkeypatch.setattr(pacing.time, "sleep", slept.append)
    responses.post(URL, json={})
    paced = client(max_requests_per_second=4)
    for _ in range(3):
        paced.post_json(PATH, data={"host": "x"})
    assert slept == [0.25, 0.5] and len(responses.calls) == 3


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (True, r"URLhaus answered with 1048577 bytes @ /v1/host/; more than the 1 MB limit"),
        (False, r"URLhaus answered with more than 1 MB @ /v1/host/"),
    ],
)
@responses.activate
def test_a_post_answer_past_the_body_cap_is_refused(
    monkeypatch: pytest.MonkeyPatch, declared: bool, expected: str
) -> None:
    monkeypatch.setattr(client_module, "MAX_BODY_BYTES", 2**20)
    length = {"Content-Length": str(2**20 + 1)} if declared else {}
    responses.post(URL, body=b"x" * (2**20 + 1), headers=length, content_type="application/json")
    with pytest.raises(ApiError, match=f"^{expected}$"):
        client().post_json(PATH, data={"host": "x"})


@responses.activate
def test_a_post_to_another_origin_is_never_sent() -> None:
    for url in ("https://evil.example/v1/host/", f"http://{HOST}/v1/host/"):
        with pytest.raises(ApiError, match="another origin"):
            client().post_json(url, data={"host": "x"})
    assert len(responses.calls) == 0


@responses.activate
def test_a_redirected_post_is_not_followed() -> None:
    responses.post(URL, status=307, headers={"Location": "https://evil.example/"})
    with pytest.raises(ApiError, match=r"redirect \(HTTP 307\) @ /v1/host/"):
        client().post_json(PATH, data={"host": "x"})
    assert len(responses.calls) == 1


# --- the debug log and secrets --------------------------------------------------------------


@responses.activate
def test_the_debug_log_shows_method_path_and_field_names_never_a_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.post(URL, json={"query_status": "ok"})
    http = client(secret_parameters=frozenset({"token", "apikey"}))
    with caplog.at_level(logging.DEBUG, logger="tqops.http"):
        http.post_json(PATH, data={"host": "a.example", "token": HIDDEN}, params={"apikey": OTHER})
        http.post_json(PATH, json={"host": "a.example", "token": HIDDEN})
    logged = messages(caplog)
    shape = r"POST /v1/host/\?apikey=\*{8} \[form: host, token\] -> 200 in \d+\.\d{3}s \(1 try\)"
    assert re.fullmatch(shape, logged[0]), logged
    assert re.fullmatch(r"POST /v1/host/ \[json: host, token\] -> 200 in .*", logged[1])
    text = "\n".join(logged)
    assert KEY not in text and HIDDEN not in text and OTHER not in text


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"message": f"invalid key {KEY}"}, AuthenticationError),
        (400, {"error": f"bad {OTHER} / {HIDDEN}"}, ApiError),
        (503, f"overloaded; your key was {KEY}", ApiError),
    ],
)
@responses.activate
def test_secrets_echoed_in_an_error_body_are_masked(
    method: str, status: int, body: Any, error: type, caplog: pytest.LogCaptureFixture
) -> None:
    kw = {"json": body} if isinstance(body, dict) else {"body": body}
    responses.add(method, URL, status=status, **kw)
    http = client((KEY, OTHER), secret_parameters=frozenset({"token"}), max_tries=1)
    field = {"params" if method == "GET" else "data": {"token": HIDDEN}}
    with caplog.at_level(logging.DEBUG, logger="tqops.http"), pytest.raises(error) as caught:
        http.request_json(method, PATH, **field)
    text = str(caught.value) + "\n".join(messages(caplog))
    assert MASK in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert KEY not in text and OTHER not in text and HIDDEN not in text


@responses.activate
def test_secrets_echoed_in_a_parsed_answer_are_masked() -> None:
    raw = json.dumps({"echo": f"key={KEY}", KEY: [OTHER, {"deep": OTHER}], "n": 1})
    responses.post(URL, body=raw, content_type="application/json")
    document, _ = client((KEY, OTHER)).post_json(PATH, data={"host": "x"})
    assert document == {"echo": f"key={MASK}", MASK: [MASK, {"deep": MASK}], "n": 1}


@responses.activate
def test_a_secret_echoed_only_in_json_escapes_is_masked_too() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    responses.post(URL, body=f'{{"deep": [{{"echo": "{escaped}"}}]}}', content_type="text/json")
    document, _ = client().post_json(PATH, data={"host": "x"})
    assert document == {"deep": [{"echo": MASK}]}


@responses.activate
def test_an_echoed_basic_authorization_header_is_masked() -> None:
    """HTTP Basic sends ``base64(user:key)``: that form of the key is a secret too."""
    sent: dict[str, str] = {}

    def echo(request: Any) -> tuple[int, dict[str, str], str]:
        sent["authorization"] = request.headers["Authorization"]
        return 403, {}, json.dumps({"detail": f"you sent {sent['authorization']}"})

    responses.add_callback(responses.POST, URL, callback=echo)
    http = HttpClient(settings(), BasicAuth("user", KEY), "URLhaus", "auth key", (KEY,))
    with pytest.raises(AuthenticationError) as caught:
        http.post_json(PATH, data={"host": "x"})
    assert sent["authorization"].startswith("Basic ")
    assert sent["authorization"].split()[-1] not in str(caught.value)
    assert f"(HTTP 403: you sent {MASK})" in str(caught.value)


def _configured_client() -> VendorClient:
    """A URLhaus-like manifest (the Tego manifest with an ``Auth-Key`` header and a second
    password field that is not the credential), configured with two canary secrets."""
    raw = yaml.safe_load((TEGO.package_dir / "tego.yaml").read_text(encoding="utf-8"))
    raw["auth"] = [{"scheme": "header", "header": "Auth-Key", "secret": "license_key"}]
    raw["config"].append({"name": "webhook_secret", "label": "Webhook", "type": "password"})
    manifest = type(TEGO.manifest).from_dict(raw)
    config = validate_config(
        manifest, {"hostname": HOST, "license_key": KEY, "webhook_secret": OTHER}
    )
    return VendorClient(http_client_for(config, settings_for(config)))


@responses.activate
def test_every_password_field_of_the_configuration_is_masked_not_only_the_credential() -> None:
    responses.post(
        URL,
        status=400,
        json={"message": f"{OTHER} is not {KEY}"},
        match=[matchers.header_matcher({"Auth-Key": KEY})],
    )
    with pytest.raises(ApiError) as caught:
        _configured_client().post(PATH, data={"host": "x"})
    assert str(caught.value) == (
        f"Tego refused the request (HTTP 400: {MASK} is not {MASK}) @ /v1/host/"
    )


# --- a POST retried through a real server ---------------------------------------------------


class _FormHandler(_Handler):
    """The simulators' handler, reading a request's body first (keep-alive needs it read)."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(self.rfile.read(length))  # type: ignore[attr-defined]
        super()._handle()

    do_POST = _handle


class _Lookups(SimulatorServer):
    """Answers each POST with the form it read."""

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = _FormHandler
        self.bodies: list[bytes] = []

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        return self.json_response(200, {"query_status": "ok", "form": self.bodies[-1].decode()})


@pytest.fixture()
def lookups() -> Iterator[_Lookups]:
    with _Lookups() as server:
        yield server


def _loopback(server: _Lookups) -> HttpClient:
    tuned = HttpSettings(
        base_url=server.base_url, verify=server.ca_pem_path, max_tries=3, backoff=0.0
    )
    return HttpClient(tuned, HeaderAuth("Auth-Key", KEY), "URLhaus", "auth key", (KEY,))


def test_an_idempotent_post_is_retried_through_a_real_server_after_retry_after(
    lookups: _Lookups, caplog: pytest.LogCaptureFixture
) -> None:
    lookups.enqueue_faults((503, {"Retry-After": "1"}, json.dumps({"message": f"no {KEY}"})))
    http = _loopback(lookups)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="tqops.http"):
        document, _ = http.post_json(PATH, data={"host": "a.example"}, idempotent=True)
    http.close()
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert document == {"query_status": "ok", "form": "host=a.example"}
    assert [(r.method, r.path) for r in lookups.requests] == [("POST", PATH)] * 2
    assert lookups.bodies == [b"host=a.example"] * 2
    assert lookups.requests[1].headers["auth-key"] == KEY
    assert any(m.endswith("(2 tries)") and m.startswith("POST /v1/host/") for m in messages(caplog))


def test_a_post_through_a_real_server_is_sent_once_when_not_idempotent(
    lookups: _Lookups,
) -> None:
    lookups.enqueue_faults((503, {"Retry-After": "0"}, json.dumps({"message": f"no {KEY}"})))
    http = _loopback(lookups)
    with pytest.raises(ApiError) as caught:
        http.post_json(PATH, data={"host": "a.example"})
    http.close()
    assert str(caught.value) == f"URLhaus failed (HTTP 503: no {MASK}) @ /v1/host/"
    assert len(lookups.requests) == 1


@responses.activate
def test_a_secret_in_a_path_is_masked_in_the_error_and_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Some vendors take the key in the path; the path is in every message."""
    responses.post(f"{BASE}/v1/{KEY}/host/", status=404, json={"message": "no such key"})
    with caplog.at_level(logging.DEBUG, logger="tqops.http"), pytest.raises(ApiError) as caught:
        client().post_json(f"/v1/{KEY}/host/", data={"host": "x"})
    assert (
        str(caught.value)
        == f"URLhaus refused the request (HTTP 404: no such key) @ /v1/{MASK}/host/"
    )
    assert KEY not in "\n".join(messages(caplog)) and messages(caplog)


def test_the_retry_policy_chosen_for_a_call_holds_in_its_thread_only() -> None:
    adapter = pacing.RetryAdapter(settings())
    seen: list[int] = []
    with adapter.retrying(False):
        thread = threading.Thread(target=lambda: seen.append(adapter.max_retries.status))
        thread.start()
        thread.join()
        assert adapter.max_retries.status == 0  # this thread: sent once
    assert seen == [2] and adapter.max_retries.status == 2  # the others: retried
