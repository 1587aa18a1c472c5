"""Credentials of the host's users: a new API key, a password change or disabling a user ends
every ThreatQ token and refresh token minted before (even one minted in a race with the
change), and every credential check (console login and password change, REST API keys, the
grants of `/api/token`) is throttled per account and client address and audited.

The README's way first (`tqops users add`, `tqops serve`, `tqops users key|disable`, over
TLS), then the pieces through the application in process (a TestClient from an address of the
test's choosing, the throttle on a clock the test moves)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.hosting import RunningHost, add_user, free_port, tqops
from tqops.errors import ConfigError
from tqops.server.app import create_app
from tqops.server.host import Host
from tqops.server.store import Store

PASSWORD = "a password long enough"
ANA, ROOT = "ana@example.com", "root@example.com"


# -- the host as the README starts it ----------------------------------------------------------


def _grant(running: RunningHost, **form: str) -> Any:
    return running.api().post(f"{running.url}/api/token", data=form)


def _plugins(running: RunningHost, token: dict[str, Any]) -> int:
    client = running.api()
    client.headers["Authorization"] = f"Bearer {token['access_token']}"
    return int(client.get(f"{running.url}/api/plugins").status_code)


def _refresh(running: RunningHost, token: dict[str, Any]) -> int:
    answer = _grant(running, grant_type="refresh_token", refresh_token=token["refresh_token"])
    return int(answer.status_code)


def _pair(running: RunningHost, user: dict[str, Any], grant: str) -> dict[str, Any]:
    if grant == "password":
        answer = _grant(
            running, grant_type="password", email=user["name"], password=user["password"]
        )
    else:
        answer = running.api().post(
            f"{running.url}/api/token",
            data={"grant_type": "client_credentials"},
            auth=(user["name"], user["api_key"]),
        )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_new_key_or_disabling_ends_every_token_minted_before(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ana = add_user(data, ANA, "analyst")
    bob = add_user(data, "bob@example.com", "analyst")
    with RunningHost(data) as running:
        by_key, by_password = _pair(running, ana, "key"), _pair(running, ana, "password")
        spare = _pair(running, ana, "password")  # its refresh token is used before the key
        refreshed = _grant(
            running, grant_type="refresh_token", refresh_token=spare["refresh_token"]
        )
        assert refreshed.status_code == 200, refreshed.text
        minted = [by_key, by_password, refreshed.json()]
        assert all(_plugins(running, token) == 200 for token in minted)

        done = tqops("users", "key", ANA, "--data", str(data), "--format", "json")
        assert done.returncode == 0, done.stderr
        # the finding: the token from the old key still answered 200, its refresh token
        # went on minting new ones
        assert [_plugins(running, token) for token in minted] == [401, 401, 401]
        assert [_refresh(running, token) for token in minted] == [401, 401, 401]
        new_key = json.loads(done.stdout)["api_key"]
        fresh = _pair(running, {**ana, "api_key": new_key}, "key")
        assert _plugins(running, fresh) == 200

        held = _pair(running, bob, "password")
        assert tqops("users", "disable", bob["name"], "--data", str(data)).returncode == 0
        assert _plugins(running, held) == 401
        assert tqops("users", "enable", bob["name"], "--data", str(data)).returncode == 0
        assert (_plugins(running, held), _refresh(running, held)) == (401, 401)
        assert _plugins(running, _pair(running, bob, "password")) == 200


@pytest.mark.slow
def test_wrong_credentials_are_throttled_per_account_and_address_and_audited(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    ana, root = add_user(data, ANA, "analyst"), add_user(data, ROOT, "admin")
    vic = add_user(data, "vic@example.com", "viewer")
    env = {
        "TQOPS_THROTTLE_FREE_FAILURES": "3",
        "TQOPS_THROTTLE_ADDRESS_FAILURES": "12",
        "TQOPS_THROTTLE_WINDOW": "3600",
    }
    with RunningHost(data, env=env) as running:
        # /api/token, the password grant: 3 failures cost nothing, the 4th locks (ana, here)
        wrong = {"grant_type": "password", "email": ANA, "password": "not it at all"}
        assert [_grant(running, **wrong).status_code for _ in range(4)] == [401] * 4
        right = _grant(running, grant_type="password", email=ANA, password=ana["password"])
        assert right.status_code == 429, right.text
        assert int(right.headers["Retry-After"]) >= 1
        (line,) = right.json()["errors"]
        assert "too many failed sign-ins" in line and "\n" not in line
        # another account from the same address is not slowed: nobody locks out an admin
        assert _pair(running, root, "password")["access_token"]

        # the console: the same, and a one-line message on the login page
        console = running.api()
        for password in ["wrong one"] * 4 + [vic["password"]]:
            page = console.get(f"{running.url}/console/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            answer = console.post(
                f"{running.url}/console/login",
                data={"name": vic["name"], "password": password, "csrf": token},
                allow_redirects=False,
            )
        assert answer.status_code == 429 and "Retry-After" in answer.headers
        assert "Too many failed attempts: try again in" in answer.text

        # REST: wrong keys count against the address (8 failures so far, 12 at most)
        statuses = [
            running.api("tqk_wrong").get(f"{running.url}/api/v1/me").status_code for _ in range(5)
        ]
        assert statuses == [401, 401, 401, 401, 429]
        locked = running.api(root["api_key"]).get(f"{running.url}/api/v1/me")
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 3000
        assert "\n" not in locked.json()["error"]

    log = Store(data / "tqops.db").audit_log(0, 500)
    failed = [(r["user"], r["action"], r["target"]) for r in log if r["action"].endswith("-failed")]
    assert failed.count((ANA, "login-failed", "threatq-token")) == 4
    assert failed.count((vic["name"], "login-failed", "console")) == 4
    assert failed.count(("-", "key-failed", "/api/v1/me")) == 4
    assert all("from 127.0.0.1" in r["detail"] for r in log if r["action"].endswith("-failed"))
    assert {r["user"] for r in log if r["action"] == "throttled"} >= {ANA, vic["name"], "-"}


def test_a_wrong_throttle_setting_stops_serve_in_one_line(tmp_path: Path) -> None:
    done = tqops(
        "serve", "--data", str(tmp_path / "data"), "--port", str(free_port()),
        env={"TQOPS_THROTTLE_MAX_LOCK": "soon"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "TQOPS_THROTTLE_MAX_LOCK is a whole number from 1 to 86400" in done.stderr
    assert "Traceback" not in done.stderr


# -- in process ---------------------------------------------------------------------------------


@pytest.fixture()
def host(tmp_path: Path) -> Host:
    found = Host(tmp_path / "data")
    found.users.add(ANA, "analyst", PASSWORD)
    found.users.add(ROOT, "admin", PASSWORD)
    return found


@pytest.fixture()
def app(host: Host) -> Any:
    return create_app(host)


def _from(app: Any, address: str) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", client=(address, 40000))


@pytest.fixture()
def client(app: Any) -> Iterator[TestClient]:
    with _from(app, "10.0.0.1") as found:
        yield found


def _bearer(client: TestClient, token: str, path: str = "/api/plugins") -> int:
    return int(client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code)


def _change(host: Host, change: str) -> None:
    if change == "key":
        host.users.new_key(ANA)
    elif change == "password":
        host.users.set_password(ANA, "another password long enough")
    else:
        host.users.disable(ANA)
        host.users.disable(ANA, False)


@pytest.mark.parametrize("change", ["key", "password", "disable"])
def test_a_token_minted_in_a_race_with_a_change_is_dead(
    host: Host, client: TestClient, change: str
) -> None:
    """The grant checked the password before the change and stored its tokens after it."""
    from tqops.server.api.threatq import _issue

    checked = host.users.by_password(ANA, PASSWORD)
    assert checked is not None
    _change(host, change)
    raced = _issue(host, checked, "password")
    assert _bearer(client, raced["access_token"]) == 401
    answer = client.post(
        "/api/token", data={"grant_type": "refresh_token", "refresh_token": raced["refresh_token"]}
    )
    assert answer.status_code == 401
    later = host.users.by_password(
        ANA, "another password long enough" if change == "password" else PASSWORD
    )
    assert (
        later is not None
        and _bearer(client, _issue(host, later, "password")["access_token"]) == 200
    )


def _console_login(client: TestClient, name: str, password: str) -> Any:
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"name": name, "password": password, "csrf": token, "next": "/console/jobs"}
    return client.post("/console/login", data=form, follow_redirects=False)


def test_a_password_change_ends_the_other_sessions_and_every_token(host: Host, app: Any) -> None:
    with (
        _from(app, "10.0.0.1") as mine,
        _from(app, "10.0.0.2") as other,
        _from(app, "10.0.0.3") as api,
    ):
        for browser in (mine, other):
            assert _console_login(browser, ANA, PASSWORD).status_code == 303
        token = api.post(
            "/api/token", json={"grant_type": "password", "email": ANA, "password": PASSWORD}
        ).json()
        # a new key ends the tokens, not the console sessions (they come from the password)
        host.users.new_key(ANA)
        assert other.get("/console/account", follow_redirects=False).status_code == 200
        assert _bearer(api, token["access_token"]) == 401
        token = api.post(
            "/api/token", json={"grant_type": "password", "email": ANA, "password": PASSWORD}
        ).json()

        csrf = re.search(r'name="csrf" value="([^"]+)"', mine.get("/console/account").text).group(1)  # type: ignore[union-attr]
        new = "another password long enough"
        changed = mine.post(
            "/console/account",
            data={"csrf": csrf, "current": PASSWORD, "new": new, "again": new},
            follow_redirects=False,
        )
        assert changed.status_code == 303, changed.text
        assert mine.get("/console/account", follow_redirects=False).status_code == 200
        assert other.get("/console/account", follow_redirects=False).status_code == 303
        assert _bearer(api, token["access_token"]) == 401
        again = api.post(
            "/api/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        )
        assert again.status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_lock_doubles_up_to_its_cap_and_a_success_resets_it() -> None:
    from tqops.server.throttle import Limits, Throttle, Throttled

    clock = Clock()
    throttle = Throttle(
        Limits(free_failures=2, max_lock=10, address_failures=1000, window=60), clock
    )
    locks = []
    for _ in range(7):
        throttle.before("ana", "10.0.0.1")  # never locked here: each waits its lock out
        throttle.failed("ana", "10.0.0.1")
        try:
            throttle.before("ana", "10.0.0.1")
            locks.append(0)
        except Throttled as refused:
            locks.append(refused.retry_after)
            assert refused.first and refused.headers == {"Retry-After": str(refused.retry_after)}
            clock.now += refused.retry_after
    assert locks == [0, 0, 1, 2, 4, 8, 10]
    throttle.before("ANA", "10.0.0.2")  # the same account from elsewhere: not locked
    throttle.passed("ana", "10.0.0.1")
    throttle.failed("ana", "10.0.0.1")
    throttle.before("ana", "10.0.0.1")  # afresh: one failure is free again


def test_an_address_has_a_budget_whatever_the_accounts_and_ipv6_counts_by_64() -> None:
    from tqops.server.throttle import Limits, Throttle, Throttled

    clock = Clock()
    throttle = Throttle(
        Limits(free_failures=100, max_lock=10, address_failures=3, window=60), clock
    )
    for n, address in enumerate(("2001:db8::1", "2001:db8::2", "2001:db8::3:4")):
        throttle.failed(f"user{n}", address)
    with pytest.raises(Throttled) as refused:
        throttle.before("someone-else", "2001:db8::99")
    assert refused.value.retry_after == 60 and "from this address" in refused.value.message
    with pytest.raises(Throttled) as again:
        throttle.before(None, "2001:db8::1")
    assert not again.value.first  # one audit line per lock, not one per refusal
    throttle.before("someone-else", "2001:db8:0:1::1")  # another /64
    clock.now += 60
    throttle.before("someone-else", "2001:db8::99")  # the window has passed
    throttle.failed("another", "192.0.2.1")  # the emptied address is pruned, not a crash
    throttle.before("another", "192.0.2.1")


def test_an_attacker_elsewhere_cannot_lock_the_admin_out(host: Host, app: Any) -> None:
    from tqops.server.throttle import Limits, Throttle

    clock = Clock()
    host.users._throttle = Throttle(Limits(free_failures=3, max_lock=900), clock)
    wrong = {"grant_type": "password", "email": ROOT, "password": "guess"}
    with _from(app, "203.0.113.9") as attacker, _from(app, "10.0.0.1") as admin:
        answers = [attacker.post("/api/token", json=wrong) for _ in range(6)]
        assert [a.status_code for a in answers] == [401, 401, 401, 401, 429, 429]
        assert answers[-1].headers["Retry-After"] == "1"
        right = {**wrong, "password": PASSWORD}
        assert attacker.post("/api/token", json=right).status_code == 429
        assert admin.post("/api/token", json=right).status_code == 200
        assert _console_login(admin, ROOT, PASSWORD).status_code == 303
        # the console's password change checks the current password: throttled the same way
        csrf = re.search(r'name="csrf" value="([^"]+)"', admin.get("/console/account").text).group(
            1
        )  # type: ignore[union-attr]
        form = {"csrf": csrf, "current": "guess", "new": "x" * 12, "again": "x" * 12}
        tries = [admin.post("/console/account", data=form).status_code for _ in range(5)]
        assert tries == [400, 400, 400, 400, 429]
    log = host.store.audit_log(0, 100)
    assert sum(r["action"] == "login-failed" and r["target"] == "threatq-token" for r in log) == 4
    assert (
        sum(r["target"] == "console-password" and r["action"] == "login-failed" for r in log) == 4
    )
    assert any(r["action"] == "throttled" and "203.0.113.9" in r["detail"] for r in log)


def test_a_refresh_token_is_taken_once_and_wrong_ones_are_audited(
    host: Host, client: TestClient
) -> None:
    token = client.post(
        "/api/token", json={"grant_type": "password", "email": ANA, "password": PASSWORD}
    ).json()
    grant = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    assert client.post("/api/token", data=grant).status_code == 200
    assert client.post("/api/token", data=grant).status_code == 401
    wrong_key = client.get("/api/v1/me", headers={"Authorization": "Bearer tqk_not-a-key"})
    assert wrong_key.status_code == 401
    log = [(r["user"], r["action"], r["target"]) for r in host.store.audit_log(0, 50)]
    assert ("-", "login-failed", "threatq-token") in log
    assert ("-", "key-failed", "/api/v1/me") in log


# -- the password policy and credentials in the query string -------------------------------------

REFUSED = {
    "aaaaaaaaaaaa": "short pattern repeated",  # the issue's example
    "abcabcabcabc": "short pattern repeated",
    "abcdefghijkl": "a sequence",
    "123456789012": "a sequence",
    "qwertyuiopas": "a sequence",
    "password1234": "common or breached",
    "iloveyou2024!": "common or breached",
    "Baseball12345": "common or breached",
    "ana is my name, really": "the user name",
    "eleven char": "at least 12 characters",
    "y" * 1024 + "z": "at most 1024 characters",
}


@pytest.mark.parametrize("password", sorted(REFUSED))
def test_a_password_the_policy_refuses_says_what_to_change(host: Host, password: str) -> None:
    with pytest.raises(ConfigError) as refused:
        host.users.set_password(ANA, password)
    assert REFUSED[password] in str(refused.value) and "\n" not in str(refused.value)
    assert host.users.by_password(ANA, PASSWORD) is not None  # the old one still works


def test_long_passphrases_of_any_characters_are_accepted(host: Host) -> None:
    for password in (
        "correct horse battery staple",
        "Zürich tram at 7, then coffee",
        "s" + "an unusual phrase, made long " * 34,  # 1,000 characters
    ):
        host.users.set_password(ANA, password)
        assert host.users.by_password(ANA, password) is not None


def test_the_console_refuses_a_weak_new_password_in_one_line(client: TestClient) -> None:
    assert _console_login(client, ANA, PASSWORD).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/account").text).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf, "current": PASSWORD, "new": "aaaaaaaaaaaa", "again": "aaaaaaaaaaaa"}
    answer = client.post("/console/account", data=form, follow_redirects=False)
    assert answer.status_code == 400
    assert "must not be one character or a short pattern repeated" in answer.text
    assert _console_login(client, ANA, "aaaaaaaaaaaa").status_code == 401


def test_credentials_in_the_query_string_are_refused_and_audited(
    host: Host, client: TestClient
) -> None:
    query = {"grant_type": "password", "email": ANA, "password": PASSWORD}
    answer = client.post("/api/token", params=query)
    assert answer.status_code == 400
    (line,) = answer.json()["errors"]
    assert "password goes in the body" in line and PASSWORD not in line
    token = client.post("/api/token", json=query).json()
    sneaked = client.post(
        "/api/token",
        params={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert sneaked.status_code == 400 and "refresh_token goes in the body" in sneaked.text
    keyed = client.post(
        "/api/token", params={"grant_type": "client_credentials", "client_secret": "x"}
    )
    assert keyed.status_code == 400
    log = [(r["user"], r["action"], r["detail"]) for r in host.store.audit_log(0, 50)]
    assert (ANA, "credential-in-query", "from 10.0.0.1: password") in log
    assert ("-", "credential-in-query", "from 10.0.0.1: refresh_token") in log
    # no route takes an API key from the query string
    key = host.users.new_key(ANA).api_key
    for path in ("/api/v1/me", "/api/status"):
        for name in ("api_key", "apikey", "key", "token", "access_token"):
            assert client.get(path, params={name: key}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
