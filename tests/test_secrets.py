"""A canary secret through the whole CLI surface: success, every failure path, debug logging,
written files. Any trace of it anywhere fails the test."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from simulators import TegoSimulator, TieSimulator
from tests.support.cli import one_input
from tqops import BasicAuth, Secret, validate_config
from tqops.cli import main

CANARY = "CANARY-7f3a9c1e5b2d4086"
FORMS = (CANARY, CANARY.lower(), base64.b64encode(CANARY.encode()).decode(), CANARY[4:])


@pytest.fixture(scope="module")
def servers():
    with TieSimulator(token=CANARY) as tie, TegoSimulator(token=CANARY) as tego:
        yield tie, tego


@pytest.fixture()
def log_file(tmp_path):
    path = tmp_path / "tqops.log"
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield path
    logging.getLogger().removeHandler(handler)
    handler.close()


def traces(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def surface(tie: Any, tego: Any, tmp_path: Path) -> list[list[str]]:
    token_file = tmp_path / "token.txt"
    token_file.write_text(CANARY + "\n")
    os.environ["CANARY_TOKEN"] = CANARY
    tie_cfg = ["--config", f"hostname={tie.hostname}", "--config", f"ca_bundle={tie.ca_pem_path}"]
    tego_cfg = [
        "--config",
        f"hostname={tego.hostname}",
        "--config",
        f"ca_bundle={tego.ca_pem_path}",
    ]
    good = [*tie_cfg, "--config", f"access_token={CANARY}"]
    config_file = tmp_path / "tie.yaml"
    config_file.write_text(
        f"hostname: {tie.hostname}\naccess_token: {CANARY}\nca_bundle: {tie.ca_pem_path}\n"
    )
    search = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "www.microsoft.com"]
    return [
        ["-vv", *search, *good, "--format", "json"],
        ["-vv", *search, *good, "--format", "jsonl"],
        ["-vv", *search, *good],
        [*search, "--config-file", str(config_file), "--format", "json", "-vv"],
        [*search, *tie_cfg, "--config", "access_token=env:CANARY_TOKEN", "-vv"],
        [*search, *tie_cfg, "--config", f"access_token=file:{token_file}", "-vv"],
        [*search, *tie_cfg, "--config", f"access_token={CANARY}x", "-vv"],  # rejected
        [*search, *tie_cfg, "--config", f"access_token={CANARY}", "--option", "severity=9"],
        [*search, *tie_cfg, "--config", f"access_token={CANARY}", "--config", "timeout=0"],
        [*search, "--config", "hostname=https://bad", "--config", f"access_token={CANARY}"],
        [
            *search,
            "--config",
            f"hostname={tie.hostname}",
            "--config",
            f"access_token={CANARY}",
            "-vv",
        ],  # TLS failure: no ca_bundle
        [
            *search,
            "--config",
            "hostname=127.0.0.1:1",
            "--config",
            f"access_token={CANARY}",
            "--config",
            "timeout=1",
            "-vv",
        ],  # refused
        [*search, *good, "--config", "use_proxy=true", "--proxy", "http://127.0.0.1:1", "-vv"],
        ["-vv", "test-connection", "dcso_tie", *good, "--steps"],
        [
            "test-connection",
            "dcso_tie",
            *tie_cfg,
            "--config",
            f"access_token={CANARY}0",
            "--format",
            "json",
        ],
        ["-vv", "test-connection", "tego", *tego_cfg, "--config", f"license_key={CANARY}"],
        [
            "-vv",
            *one_input("tego", "IP Address", "8.8.8.8"),
            *tego_cfg,
            "--config",
            f"license_key={CANARY}",
            "--format",
            "json",
        ],
        [
            *one_input("tego", "IP Address", "10.0.0.1"),
            *tego_cfg,
            "--config",
            f"license_key={CANARY}",
        ],
        [
            *one_input("tego", "IP Address", "8.8.8.8"),
            *tego_cfg,
            "--config",
            "license_key=wrong-license",
            "-vv",
        ],
        [*search, *tie_cfg, "--config", CANARY],  # forgot "access_token="
        [*search, *good, "--option", CANARY],
        ["describe", "dcso_tie"],
        ["describe", "tego", "--format", "json"],
        ["list"],
        ["validate"],
        ["docs", "dcso_tie"],
        ["bundle", "dcso_tie", "--out", str(tmp_path / "dist")],
        ["docs", "tego", "--out", str(tmp_path / "tego.md")],
    ]


def test_canary_secret_never_appears_anywhere(servers, tmp_path, capsys, log_file):
    tie, tego = servers
    commands = surface(tie, tego, tmp_path)
    for args in commands:
        if "json" in args and args[:2] == ["-vv", "run"] and args[2] == "dcso_tie":
            # the vendor echoes the token in an error body: it must be redacted
            tie.enqueue_faults(
                (
                    400,
                    {"Content-Type": "application/json"},
                    f'{{"message": "token {CANARY} is not allowed here"}}',
                )
            )
        out = io.StringIO()
        main(args, out=out)
        captured = capsys.readouterr()
        for stream, text in (
            ("stdout", out.getvalue()),
            ("captured stdout", captured.out),
            ("stderr", captured.err),
        ):
            assert traces(text) == [], f"{stream} of {args[:4]} shows the secret: {text[:400]}"
    written = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and p.name != "token.txt" and p.name != "tie.yaml"
    ]
    assert any(p.suffix == ".whl" for p in written)
    for path in written:
        assert not traces(path.read_bytes().decode("latin-1")), f"{path.name} holds the secret"
    assert log_file.read_text() and traces(log_file.read_text()) == []


def test_secret_reprs_are_masked():
    from dcso_tie_operation import OPERATION

    config = validate_config(OPERATION.manifest, {"access_token": CANARY})
    for text in (repr(config), str(config), repr(config["access_token"]), str(Secret(CANARY))):
        assert not traces(text)
    configured = OPERATION.configure(config)
    client = configured.client
    assert not traces(repr(client)) and not traces(repr(client.http.session.auth))
    assert not traces(repr(client.http.settings)) and not traces(repr(configured))
    stored = OPERATION.check_config({"access_token": CANARY})
    for text in (repr(stored), str(stored.masked()), json.dumps(stored.masked())):
        assert not traces(text)
    basic = BasicAuth("client-id", CANARY)
    assert not traces(repr(basic)) and "client-id" in repr(basic)
    configured.close()
