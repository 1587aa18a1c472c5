"""The ``tqops`` command line: its parser, which never echoes an argument it refuses."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, Optional

from tqops import __version__
from tqops.cli import commands, hosting
from tqops.cli.inputs import UsageError

__all__ = ["build_parser", "glue"]


#: a value argparse quotes in a message (``repr`` quotes with ' or ")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
#: an option written with its value (``--config=NAME=VALUE``, as :func:`glue` writes it)
_WITH_VALUE = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)=\S*")
NOT_SHOWN = "(value not shown)"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors get our one-line form; that
    takes no abbreviated option name (``--config-fil`` is not ``--config-file``); and whose
    errors never echo a value given (a secret may be one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Optional[argparse.Namespace] = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            # argparse would print them all: "unrecognized arguments: --config=token=S"
            names = sorted({w.split("=", 1)[0] for w in extras if w[:1] == "-" and len(w) > 1})
            others = sum(1 for w in extras if not (w[:1] == "-" and len(w) > 1))
            parts = [f"unrecognized option(s) {', '.join(names)}"] if names else []
            parts += [f"{others} unexpected argument(s)"] if others else []
            self.error(f"{' and '.join(parts)} {NOT_SHOWN}")
        return parsed

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{_without_values(message, self)} (see: {self.prog} --help)")


def _without_values(message: str, parser: argparse.ArgumentParser) -> str:
    """``message`` with every value a user gave taken out; the parser's own names (options,
    choices, commands) stay, so "invalid choice: 'x' (choose from 'json', ...)" still helps."""
    known = {repr(name) for action in parser._actions for name in action.option_strings}
    for action in parser._actions:
        known |= {repr(str(choice)) for choice in (action.choices or ())}
    message = _WITH_VALUE.sub(lambda m: f"{m.group(1)}={NOT_SHOWN}", message)
    return _QUOTED.sub(lambda m: m.group(0) if m.group(0) in known else NOT_SHOWN, message)


def _config_arguments(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("--config", action="append", metavar="NAME=VALUE", help=purpose)
    parser.add_argument("--config-file", metavar="FILE", help="YAML mapping of fields")


def _common(parser: argparse.ArgumentParser, *, config: bool, fmt: Sequence[str] = ()) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log to stderr (-v info, -vv debug)",
    )
    if config:
        _config_arguments(parser, "a configuration field (repeatable)")
        parser.add_argument(
            "--proxy", metavar="URL", help="the platform proxy (used only when use_proxy is on)"
        )
    if fmt:
        parser.add_argument("--format", choices=fmt, default=fmt[0])


def _all_attributes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--all-attributes",
        action="store_true",
        help="the table shows every attribute, per observation (default: the summary); "
        "JSON always has both",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tqops", description="Run threat-intelligence enrichment operations.")
    parser.add_argument("--version", action="version", version=f"tqops {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="run an action on selected indicators")
    run.add_argument("operation")
    run.add_argument("action")
    run.add_argument("--type", action="append", metavar="T", help="indicator type (repeatable)")
    run.add_argument("--value", action="append", metavar="V", help="indicator value (repeatable)")
    run.add_argument("--input", metavar="FILE", help="CSV with a header 'type,value' (- = stdin)")
    run.add_argument("--option", action="append", metavar="NAME=VALUE", help="action option")
    run.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="calls in flight at once (default 8)",
    )
    run.add_argument(
        "--max-tlp",
        default="AMBER",
        metavar="LEVEL",
        help="an --input row whose tlp column is above this level is skipped, never sent "
        "(CLEAR, GREEN, AMBER, AMBER+STRICT, RED; default AMBER, as the host's)",
    )
    run.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is shown only when stderr is a terminal)",
    )
    _all_attributes(run)
    # stix: a STIX 2.1 bundle, misp: a MISP event (JSON), for handing results on
    _common(run, config=True, fmt=("table", "json", "jsonl", "stix", "misp"))
    run.set_defaults(handler=commands.run)

    test = sub.add_parser("test-connection", help="check config, reachability, TLS and credential")
    test.add_argument("operation")
    test.add_argument("--steps", action="store_true", help="show every step, not just the verdict")
    _common(test, config=True, fmt=("text", "json"))
    test.set_defaults(handler=commands.test_connection)

    listing = sub.add_parser("list", help="installed operations")
    _common(listing, config=False, fmt=("table", "json"))
    listing.set_defaults(handler=commands.listing)

    describe = sub.add_parser("describe", help="an operation's fields, actions and mapping")
    describe.add_argument("operation")
    _common(describe, config=False, fmt=("table", "json"))
    describe.set_defaults(handler=commands.describe)

    validate = sub.add_parser("validate", help="validate manifests (default: every installed)")
    validate.add_argument("manifests", nargs="*", metavar="MANIFEST")
    _common(validate, config=False)
    validate.set_defaults(handler=commands.validate)

    mapper = sub.add_parser("map", help="map saved vendor responses offline")
    mapper.add_argument("operation")
    mapper.add_argument("action")
    mapper.add_argument("responses", nargs="+", metavar="RESPONSE.json")
    mapper.add_argument("--type", help="the selected indicator's type, if the mapping needs it")
    mapper.add_argument("--value", help="the selected indicator's value")
    _config_arguments(
        mapper, "a configuration field; its API version chooses the mapping table (repeatable)"
    )
    mapper.add_argument(
        "--coverage",
        action="store_true",
        help="per mapping row, the records it read, and the record keys no row reads",
    )
    _all_attributes(mapper)
    _common(mapper, config=False, fmt=("json", "table"))
    mapper.set_defaults(handler=commands.map_responses)

    docs = sub.add_parser("docs", help="the operation guide in Markdown, from the manifest")
    docs.add_argument("operation")
    docs.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    _common(docs, config=False)
    docs.set_defaults(handler=commands.docs)

    bundler = sub.add_parser("bundle", help="write an operation's uploadable integration file")
    bundler.add_argument("operation")
    bundler.add_argument("--out", required=True, metavar="DIR")
    _common(bundler, config=False)
    bundler.set_defaults(handler=commands.bundle)

    new = sub.add_parser("new", help="write the skeleton of a new operation (its own package)")
    new.add_argument("name", metavar="NAME", help="the operation's name: a lower-case identifier")
    new.add_argument(
        "--dir", metavar="DIR", help="the folder to write it in, missing or empty (default: ./NAME)"
    )
    _common(new, config=False)
    new.set_defaults(handler=commands.new)

    upgrade = sub.add_parser("upgrade-check", help="what an upgrade changes for an admin")
    upgrade.add_argument("old", metavar="OLD", help="old integration file (.whl) or manifest")
    upgrade.add_argument("new", metavar="NEW", help="new integration file (.whl) or manifest")
    upgrade.set_defaults(handler=commands.upgrade_check)

    demo = sub.add_parser("demo", help="how to run the demo (`make demo` in a checkout)")
    demo.set_defaults(handler=commands.demo)
    hosting.add_parsers(sub, _common)
    return parser


TAKES_ANY_TEXT = ("--value", "--option", "--config")


def glue(argv: Sequence[str]) -> list[str]:
    """``--value -x.exe`` -> ``--value=-x.exe``: an indicator may start with '-' (a Filename),
    which argparse would otherwise take for an option."""
    glued: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return glued + list(argv[index:])
        if word in TAKES_ANY_TEXT and index + 1 < len(argv):
            glued.append(f"{word}={argv[index + 1]}")
            index += 2
        else:
            glued.append(word)
            index += 1
    return glued
