"""`tqops users password NAME`: a new password for a user, asked twice on a terminal or read
from standard input, under the password policy `users add` applies to a chosen one; the
change ends every session and token the user had, and is audited."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.hosting import ROOT, add_user
from tqops.cli import main
from tqops.server.app import create_app
from tqops.server.host import Host

pytestmark = pytest.mark.slow  # `tqops` processes, and Argon2 at each check

NEW = "a brand new passphrase of hers"


def _password(data: Path, name: str, given: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tqops.cli", "users", "password", name, "--data", str(data)],
        input=given, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.fixture()
def made(tmp_path: Path) -> dict[str, Any]:
    data = tmp_path / "data"
    return {**add_user(data, "ana@example.com", "analyst"), "data": data}


@pytest.fixture()
def client(made: dict[str, Any]) -> Iterator[TestClient]:
    host = Host(made["data"])
    with TestClient(create_app(host), base_url="http://127.0.0.1") as running:
        yield running


def _token(client: TestClient, name: str, password: str) -> Any:
    return client.post(
        "/api/token?grant_type=password&client_id=tests",
        json={"email": name, "password": password},
    )


def test_a_password_from_stdin_replaces_the_old_one_and_ends_its_tokens(made, client):
    name, old = made["name"], made["password"]
    granted = _token(client, name, old)
    assert granted.status_code == 200
    token = granted.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/plugins", headers=headers).status_code == 200

    done = _password(made["data"], name, NEW + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"user {name}: password changed; their sessions and tokens ended\n"
    assert NEW not in done.stdout + done.stderr
    assert _token(client, name, NEW).status_code == 200
    assert _token(client, name, old).status_code == 401
    assert client.get("/api/plugins", headers=headers).status_code == 401  # the token ended
    log = Host(made["data"]).store.audit_log(0, 20)
    assert ("cli", "user-password", name) in [(r["user"], r["action"], r["target"]) for r in log]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("short one\n", "at least 12 characters"),
        ("ana@example.com and more\n", "must not contain the user name"),
        ("password1234!\n", "common or breached"),
        ("", "give the new password on standard input"),
        ("\n", "give the new password on standard input"),
    ],
)
def test_a_password_the_policy_refuses_changes_nothing(made, client, given, said):
    done = _password(made["data"], made["name"], given)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert said in line and "Traceback" not in line
    if given.strip():
        assert given.strip() not in line  # the refused password is not echoed
    assert _token(client, made["name"], made["password"]).status_code == 200


def test_an_unknown_user_is_named_before_any_password_is_read(tmp_path):
    done = _password(tmp_path / "data", "nobody", NEW + "\n")
    assert done.returncode == 2
    assert done.stderr == "tqops: error: no user named 'nobody'\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("again", [NEW, NEW + " but not quite"])
def test_on_a_terminal_the_password_is_asked_twice(made, client, monkeypatch, again):
    answers = iter([NEW, again])
    asked: list[str] = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", _Terminal())
    out = io.StringIO()
    code = main(["users", "password", made["name"], "--data", str(made["data"])], out=out)
    assert asked == ["new password: ", "new password again: "]
    if again == NEW:
        assert code == 0
        assert _token(client, made["name"], NEW).status_code == 200
    else:  # two different passwords: nothing changes
        assert code == 2 and out.getvalue() == ""
        assert _token(client, made["name"], made["password"]).status_code == 200
