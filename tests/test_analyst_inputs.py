"""What an analyst really feeds the CLI (issue 12): bad input files, secrets in the wrong
place, odd secret files, broken proxy URLs and config files, defanged and IPv4-mapped
indicators. Each gives a one-line error or a per-input result, never a traceback, and valid
JSON wherever ``--format json`` was asked for."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from simulators import TieSimulator
from tests.support.cli import cli, flags, one_input
from tests.support.vendors import TIE_TOKEN, tie_config
from tqops import Indicator, IndicatorType
from tqops.running.inputs import checked_indicator

CANARY = "CANARY-b81e55d0c4a9"


def config(sim: Any, token: str = TIE_TOKEN) -> list[str]:
    return flags("--config", tie_config(sim, token))


def run(sim: Any, capsys: Any, *args: str, token: str = TIE_TOKEN) -> tuple[int, str, str]:
    return cli("run", "dcso_tie", "search", *args, *config(sim, token), capsys=capsys)


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


# --- 1. input files are data -----------------------------------------------------------------


def test_a_row_that_is_not_utf8_late_in_the_file_is_its_own_error(sim, capsys, tmp_path):
    rows = b"".join(b"FQDN,host%d.evil-cdn.com\n" % i for i in range(300))
    path = tmp_path / "in.csv"
    path.write_bytes(b"type,value\n" + rows + b"FQDN,caf\xe9.com\nFQDN,last.evil-cdn.com\n")
    code, out, err = run(sim, capsys, "--input", str(path), "--format", "json")
    results = json.loads(out)["results"]
    assert code == 1 and "Traceback" not in err
    assert len(results) == 302
    bad = results[300]
    assert bad["status"] == "error" and "line 302 is not UTF-8 text (byte 0xe9" in bad["error"]
    assert results[301]["status"] != "error"
    assert len(sim.requests) == 301  # every good row, not the bad one


def test_a_utf16_file_is_refused_before_anything_is_sent(sim, capsys, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("type,value\nFQDN,www.microsoft.com\n".encode("utf-16"))
    code, _out, err = run(sim, capsys, "--input", str(path), "--format", "json")
    assert code == 2 and one_line(err) and "is UTF-16 text; save it as UTF-8" in err
    assert sim.requests == []


def test_a_field_over_the_csv_limit_is_that_rows_error(sim, capsys, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "type,value\nFQDN,a.evil-cdn.com\nFilename," + "x" * 200_000 + "\nFQDN,b.evil-cdn.com\n"
    )
    code, out, err = run(sim, capsys, "--input", str(path), "--format", "json")
    results = json.loads(out)["results"]
    assert code == 1 and "Traceback" not in err and len(results) == 3
    assert "line 3 is longer than 16384 bytes" in results[1]["error"]
    assert len(results[1]["input"]["value"]) <= 80
    assert len(sim.requests) == 2


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_not_a_text_file(sim, capsys):
    code, _out, err = run(sim, capsys, "--input", "/dev/zero", "--format", "json")
    assert code == 2 and one_line(err) and "is not a text file" in err
    assert sim.requests == []


def test_input_dash_reads_stdin_as_bytes(sim, capsys, monkeypatch):
    data = b"type,value\nFQDN,www.microsoft.com\nFQDN,caf\xe9.com\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    _code, out, err = run(sim, capsys, "--input", "-", "--format", "json")
    results = json.loads(out)["results"]
    assert [r["status"] for r in results] == ["ok", "error"] and "Traceback" not in err


# --- 2. argument errors never echo a value ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["describe", "dcso_tie", "--config", f"access_token={CANARY}"],
        ["docs", "dcso_tie", "--config", f"access_token={CANARY}"],
        ["list", "--config", f"access_token={CANARY}"],
        ["bundle", "dcso_tie", "--out", "x", "--config", f"access_token={CANARY}"],
        ["map", "dcso_tie", "search", "r.json", "--config", f"access_token={CANARY}"],
        ["run", "dcso_tie", "search", "--confg", f"access_token={CANARY}"],
        ["run", "dcso_tie", "search", "--config-fil", f"access_token={CANARY}"],
        [
            *one_input("dcso_tie", "FQDN", "a.com"),
            "--config-file",
            CANARY,
        ],
        ["run", "dcso_tie", "search", "--concurrency", CANARY],
        ["run", "dcso_tie", "search", "--format", CANARY],
        ["run", "dcso_tie", "search", f"--no-progress={CANARY}"],
        ["describe", "dcso_tie", CANARY],
        [CANARY],
    ],
    ids=lambda args: " ".join(args[:4]).replace(CANARY, "S"),
)
def test_argument_errors_never_echo_a_value(capsys, args):
    code, out, err = cli(*args, capsys=capsys)
    assert code == 2 and one_line(err)
    assert CANARY not in out + err


def test_option_names_are_not_abbreviated(capsys):
    code, _, err = cli("run", "dcso_tie", "search", "--config-fil", "x.yaml", capsys=capsys)
    assert code == 2 and "unrecognized option(s) --config-fil" in err
    assert "cannot read" not in err


# --- 3 and 4. secrets by file: regular files, bounded, BOM, header-safe -----------------------


def _in_time(seconds: float, *args: str) -> tuple[int, str]:
    """Run the CLI in a thread; fail if it does not end within ``seconds`` (a hang)."""
    done: dict[str, Any] = {}

    def target() -> None:
        out = io.StringIO()
        from tqops.cli import main

        done["code"] = main(list(args), out=out)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert "code" in done, f"the command did not end within {seconds} s"
    return done["code"], ""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_file_reference_to_a_fifo_is_refused_not_waited_on(sim, capsys, tmp_path):
    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo)
    args = ["--type", "FQDN", "--value", "a.com"]
    code, _ = _in_time(10, "run", "dcso_tie", "search", *args, *config(sim, f"file:{fifo}"))
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and "it is not a regular file" in err
    assert sim.requests == []


@pytest.mark.parametrize("source", ["/dev/zero", "big"])
def test_a_file_reference_is_read_no_further_than_the_field_takes(sim, capsys, tmp_path, source):
    if source == "big":
        big = tmp_path / "big.txt"
        big.write_bytes(b"a" * (5 * 2**20))
        source = str(big)
    elif not os.path.exists(source):
        pytest.skip("needs /dev/zero")
    code, _out, err = run(sim, capsys, "--type", "FQDN", "--value", "a.com", token=f"file:{source}")
    assert code == 2 and one_line(err) and "@ $.config.access_token" in err
    assert "not a regular file" in err or "larger than" in err
    assert sim.requests == []


def test_a_token_file_with_a_byte_order_mark_and_a_newline_works(sim, capsys, tmp_path):
    token = tmp_path / "token.txt"
    token.write_bytes(b"\xef\xbb\xbf" + TIE_TOKEN.encode() + b"\r\n")
    args = ("--type", "FQDN", "--value", "www.microsoft.com", "--format", "json")
    code, _out, err = run(sim, capsys, *args, token=f"file:{token}")
    assert code == 0, err
    assert sim.requests[0].headers["authorization"] == f"Bearer {TIE_TOKEN}"


@pytest.mark.parametrize("token", ["tök€n-value", "file"])
def test_a_token_a_header_cannot_carry_is_a_configuration_error(sim, capsys, tmp_path, token):
    if token == "file":
        path = tmp_path / "token.txt"
        path.write_text("tok\u2013en\n", encoding="utf-8")  # an en dash from a word processor
        token = f"file:{path}"
    code, _out, err = run(sim, capsys, "--type", "FQDN", "--value", "a.com", token=token)
    assert code == 2 and one_line(err)
    assert "cannot carry" in err and "@ $.config.access_token" in err
    assert "UnicodeEncodeError" not in err and sim.requests == []


# --- 5. a malformed proxy URL ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "test-connection"])
@pytest.mark.parametrize("where", ["--proxy", "HTTPS_PROXY"])
def test_a_malformed_proxy_url_is_a_configuration_error(sim, capsys, monkeypatch, command, where):
    url = f"http://user:{CANARY}@[::1"
    extra = ["--proxy", url] if where == "--proxy" else []
    if where == "HTTPS_PROXY":
        monkeypatch.setenv("HTTPS_PROXY", url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
    head = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "a.com"]
    if command == "test-connection":
        head = ["test-connection", "dcso_tie"]
    code, out, err = cli(*head, *config(sim), "--config", "use_proxy=true", *extra, capsys=capsys)
    assert code == 2 and one_line(err) and f"proxy URL is malformed @ {where}" in err
    assert CANARY not in out + err and sim.requests == []


# --- 6. config files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"# caf\xe9\nhostname: tie.dcso.de\n", "is not UTF-8 text"),
        (b"hostname: a.example\nhostname: tie.dcso.de\n", "duplicate key 'hostname' at line 2"),
        (b"# padding\n" * (6 * 2**20), "larger than"),
    ],
    ids=["latin-1", "duplicate", "50MB"],
)
def test_a_bad_config_file_is_one_line(capsys, tmp_path, content, expected):
    path = tmp_path / "tie.yaml"
    path.write_bytes(content)
    args = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "a.com"]
    code, _out, err = cli(*args, "--config-file", str(path), capsys=capsys)
    assert code == 2 and one_line(err) and expected in err


def test_a_config_value_given_twice_is_refused(capsys):
    args = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "a.com"]
    code, _, err = cli(*args, "--config", "timeout=5", "--config", "timeout=9", capsys=capsys)
    assert code == 2 and "--config timeout is given twice" in err


# --- 13 and 14. one form for IPv4-mapped addresses; defanged values refanged ------------------


def test_an_ipv4_mapped_address_is_searched_as_its_ipv4_on_every_python(sim, capsys):
    args = ("--type", "IPv6 Address", "--value", "::ffff:203.0.113.7", "--format", "json")
    _code, out, _err = run(sim, capsys, *args)
    (result,) = json.loads(out)["results"]
    (request,) = sim.requests
    assert request.query["value"] == ["203.0.113.7"] and request.query["data_type"] == ["IPv4"]
    assert result["status"] == "ok"
    assert "IPv4-mapped IPv6 address: searched as IP Address 203.0.113.7" in result["warnings"]


@pytest.mark.parametrize(
    ("kind", "given", "sent"),
    [
        (
            "URL",
            "hxxp://paypa1-secure[.]com/login.php?id=1",
            "http://paypa1-secure.com/login.php?id=1",
        ),
        ("IP Address", "203.0.113[.]7", "203.0.113.7"),
        ("FQDN", "www.microsoft[dot]com", "www.microsoft.com"),
        ("Email Address", "billing[@]paypa1-secure[.]com", "billing@paypa1-secure.com"),
    ],
)
def test_a_defanged_indicator_is_refanged_sent_whole_and_noted(sim, capsys, kind, given, sent):
    _code, out, _err = run(sim, capsys, "--type", kind, "--value", given, "--format", "json")
    (result,) = json.loads(out)["results"]
    (request,) = sim.requests
    assert request.query["value"] == [sent]
    assert result["input"]["value"] == given and result["status"] == "ok", result
    assert any("defanged value refanged" in w for w in result["warnings"])


def test_a_url_is_sent_without_its_credentials_and_with_a_warning(sim, capsys):
    given = f"http://admin:{CANARY}@paypa1-secure.com/login.php?id=1"
    _code, out, _err = run(sim, capsys, "--type", "URL", "--value", given, "--format", "json")
    (result,) = json.loads(out)["results"]
    (request,) = sim.requests
    assert request.query["value"] == ["http://paypa1-secure.com/login.php?id=1"]
    assert any("credentials" in w for w in result["warnings"])
    assert not any(CANARY in w for w in result["warnings"])


def test_checked_indicator_is_a_pure_function_returning_the_value_and_its_notes():
    checked = checked_indicator(Indicator(value=" evil[.]com ", type=IndicatorType.FQDN))
    assert checked.indicator == Indicator(value="evil.com", type=IndicatorType.FQDN)
    assert checked.notes == ("defanged value refanged: searched as 'evil.com'",)
    plain = checked_indicator(Indicator(value="evil.com", type=IndicatorType.FQDN))
    assert plain.notes == ()
    with_brackets = checked_indicator(Indicator(value="a[.]b.exe", type=IndicatorType.FILENAME))
    assert with_brackets.indicator.value == "a[.]b.exe"  # a file name is taken as given


def test_the_first_readme_example_finds_results_against_the_simulator(capsys, monkeypatch):
    """The README's first `tqops run` example, as written, against the simulator it starts."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    block = next(b for b in readme.split("```sh")[1:] if "tqops run" in b).split("```")[0]
    command = " ".join(block.replace("\\\n", " ").splitlines())
    import shlex

    words = shlex.split(command[command.index(".venv/bin/tqops run") :].split(" #")[0])
    assert "--config" in words and any(w.startswith("ca_bundle=") for w in words)
    monkeypatch.setenv("DCSO_TOKEN", "demo-token")
    with TieSimulator(token="demo-token") as readme_sim:
        words = [
            w.replace("127.0.0.1:8443", readme_sim.hostname).replace(
                "tie-ca.pem", readme_sim.ca_pem_path
            )
            for w in words[1:]
        ]
        code, out, err = cli(*words, capsys=capsys)
    (result,) = json.loads(out)["results"]
    assert code == 0 and result["status"] == "ok" and result["indicators"], err
