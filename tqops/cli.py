"""The ``tqops`` command: the local stand-in for the platform.

Exit codes: 0 every input processed; 1 an input ended in ``error`` (all results still
printed) or a check failed; 2 a usage or configuration error (nothing sent).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional, TextIO

import attrs
import yaml
from urllib3.exceptions import InsecureRequestWarning

from . import __version__
from .config import Config, redact
from .docs import changelog_entries, render_guide, sample_documents
from .errors import ConfigError, ManifestError, OperationError
from .manifest import REPO_MANIFESTS, load_manifest
from .operation import Operation, Result, Selection, discover_operations, load_operation
from .progress import progress_for
from .render import iter_results_table, render_describe, render_results_table

log = logging.getLogger("tqops")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(ConfigError):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors get our one-line form."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message} (see: {self.prog} --help)")


class _RedactingFilter(logging.Filter):
    """Scrubs secret values from every log line (belt and braces: none should get there)."""

    secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = ()
            if record.exc_text:
                record.exc_text = redact(record.exc_text, self.secrets)
        return True


_FILTER = _RedactingFilter()


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            # never echo the argument: a forgotten "name=" leaves a bare secret here
            raise _UsageError(f"{flag} expects name=value; got an argument without a name=")
        values[name.strip()] = value
    return values


def _raw_config(args: argparse.Namespace) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if args.config_file:
        try:
            loaded = yaml.safe_load(Path(args.config_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"cannot read --config-file {args.config_file}: {exc.strerror}"
            ) from None
        except yaml.YAMLError:
            raise ConfigError(f"--config-file {args.config_file} is not valid YAML") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config-file {args.config_file} must hold a mapping of fields")
        raw.update({str(k): v for k, v in loaded.items()})
    raw.update(_key_values(args.config or [], "--config"))
    return raw


def _configure(operation: Operation, args: argparse.Namespace) -> Config:
    config = operation.configure(_raw_config(args))
    _FILTER.secrets = tuple(set(_FILTER.secrets) | set(config.secrets()))
    return config


def _csv_rows(handle: TextIO, name: str) -> Iterator[Selection]:
    """Rows of a ``type,value`` CSV; the header is checked now, before anything is sent."""
    reader = csv.DictReader(handle)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "type" not in header or "value" not in header:
        handle.close()
        raise ConfigError(f"--input {name} must be CSV with a header line 'type,value'")
    reader.fieldnames = header

    def rows() -> Iterator[Selection]:
        with handle:
            for row in reader:
                kind, value = (row.get("type") or "").strip(), row.get("value") or ""
                if kind or value.strip():
                    yield Selection(kind, value)

    return rows()


def _selections(args: argparse.Namespace) -> Iterator[Selection]:
    types, values = args.type or [], args.value or []
    if len(types) != len(values):
        raise _UsageError("give --type and --value in pairs, one --type before each --value")
    if not types and not args.input:
        raise _UsageError("select indicators with --type T --value V or --input FILE.csv")
    given = [Selection(kind, value) for kind, value in zip(types, values)]
    if not args.input:
        return iter(given)
    if args.input == "-":
        return itertools.chain(given, _csv_rows(sys.stdin, "-"))
    try:
        handle = open(args.input, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"cannot read --input {args.input}: {exc.strerror}") from None
    return itertools.chain(given, _csv_rows(handle, args.input))


def _print_json(document: Any, out: TextIO) -> None:
    out.write(json.dumps(document, ensure_ascii=False, indent=1) + "\n")


def _count_inputs(args: argparse.Namespace) -> Optional[int]:
    """How many inputs a run has, for the progress bar (None when it cannot know)."""
    total = len(args.type or [])
    if args.input and args.input != "-":
        try:
            with open(args.input, "rb") as handle:
                total += max(0, sum(1 for line in handle if line.strip()) - 1)
        except OSError:
            return None
    elif args.input == "-":
        return None
    return total


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    operation = load_operation(args.operation)
    spec = operation.manifest.action(args.action)
    config = _configure(operation, args)
    options = _key_values(args.option or [], "--option")
    selections = _selections(args)
    results = operation.run(
        spec.name,
        config,
        options,
        selections,
        concurrency=args.concurrency,
        proxy=args.proxy,
        ordered=args.format != "jsonl",
    )
    failed = False

    def tally(stream: Iterator[Result]) -> Iterator[Result]:
        nonlocal failed
        for result in stream:
            failed |= result.status == "error"
            yield result

    # Every format streams: memory is bounded by the in-flight window, not the input count.
    with progress_for(_count_inputs(args), enabled=not args.no_progress) as progress:
        counted = tally(progress.track(results))
        if args.format == "jsonl":
            for result in counted:
                line = {"operation": operation.name, "action": spec.name, **result.to_dict()}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
        elif args.format == "json":
            head = {"operation": operation.name, "action": spec.name}
            out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "results": [\n')
            for index, result in enumerate(counted):
                out.write(
                    ("" if index == 0 else ",\n") + json.dumps(result.to_dict(), ensure_ascii=False)
                )
            out.write("\n]}\n")
        else:
            for chunk in iter_results_table(operation.manifest.label, spec.label, counted):
                out.write(chunk)
                out.flush()
    return EXIT_FAILED if failed else EXIT_OK


def cmd_test_connection(args: argparse.Namespace, out: TextIO) -> int:
    from .diagnose import diagnose

    operation = load_operation(args.operation)
    config = _configure(operation, args)
    steps = list(diagnose(operation, config, proxy=args.proxy))
    failed = [s for s in steps if s.status == "failed"]
    if args.format == "json":
        _print_json(
            {
                "operation": operation.name,
                "ok": not failed,
                "steps": [attrs.asdict(s) for s in steps],
            },
            out,
        )
        return EXIT_FAILED if failed else EXIT_OK
    if args.steps:
        for step in steps:
            out.write(f"{step}\n")
    if failed:
        step = failed[0]
        hint = f"; {step.hint}" if step.hint else ""
        out.write(f"FAILED {operation.manifest.label} {step.name}: {step.detail}{hint}\n")
        return EXIT_FAILED
    out.write(f"OK {steps[-1].detail}\n")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    operations = discover_operations()
    if args.format == "json":
        _print_json(
            [
                {
                    "name": op.name,
                    "label": op.manifest.label,
                    "version": op.manifest.version,
                    "vendor": op.manifest.vendor,
                    "actions": [a.name for a in op.manifest.actions],
                }
                for op in operations.values()
            ],
            out,
        )
        return EXIT_OK
    for op in operations.values():
        actions = ", ".join(f"{a.name} ({a.label})" for a in op.manifest.actions)
        out.write(f"{op.name:<12} {op.manifest.version:<8} {op.manifest.label}: {actions}\n")
    return EXIT_OK


def cmd_describe(args: argparse.Namespace, out: TextIO) -> int:
    operation = load_operation(args.operation)
    out.write(render_describe(operation.manifest, as_json=args.format == "json"))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    failed = False
    if args.manifests:
        for path in args.manifests:
            try:
                manifest = load_manifest(path)
            except ManifestError as exc:
                failed = True
                out.write(f"INVALID {path}: {len(exc.problems)} problem(s)\n")
                for problem in exc.problems:
                    out.write(f"  - {problem}\n")
                continue
            out.write(f"OK {path}: {manifest.name} {manifest.version}\n")
        return EXIT_FAILED if failed else EXIT_OK
    for name, op in discover_operations().items():
        out.write(
            f"OK {name}: {op.manifest.origin} {op.manifest.version} "
            f"({len(op.manifest.actions)} action(s), code and mappings match)\n"
        )
    return EXIT_OK


def cmd_map(args: argparse.Namespace, out: TextIO) -> int:
    operation = load_operation(args.operation)
    spec = operation.manifest.action(args.action)
    documents = []
    for name in args.responses:
        try:
            documents.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read {name}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"{name} is not JSON: {exc}") from None
    selected = None
    if args.type and args.value:
        from .model import Indicator

        selected = Indicator(value=args.value, type=args.type)
    mapped = operation.map(spec.name, documents, selected)
    if args.format == "table":
        result = Result(
            Selection(args.type or "-", ", ".join(args.responses)),
            "ok" if mapped.indicators else "no_results",
            mapped.indicators,
            None,
            mapped.warnings,
        )
        out.write(render_results_table(operation.manifest.label, spec.label, [result]))
        return EXIT_OK
    _print_json(
        {
            "operation": operation.name,
            "action": spec.name,
            "records": mapped.records,
            "indicators": [i.to_dict() for i in mapped.indicators],
            "warnings": list(mapped.warnings),
            "missing": dict(mapped.missing),
        },
        out,
    )
    return EXIT_OK


def _changelog_text(operation: Operation) -> str:
    candidates = [REPO_MANIFESTS.parent / "CHANGELOG.md"]
    if operation.package_dir is not None:
        candidates.insert(0, operation.package_dir / "CHANGELOG.md")
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


def guide_for(operation: Operation) -> str:
    """The operation's guide, rendered now from its manifest, samples and change log."""
    samples = sample_documents(operation.package_dir, operation.name)
    entries = changelog_entries(_changelog_text(operation), operation.name)
    return render_guide(operation.manifest, samples, entries)


def cmd_docs(args: argparse.Namespace, out: TextIO) -> int:
    guide = guide_for(load_operation(args.operation))
    if args.out:
        Path(args.out).write_text(guide, encoding="utf-8")
    else:
        out.write(guide)
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace, out: TextIO) -> int:
    from .bundle import bundle

    operation = load_operation(args.operation)
    written = bundle(operation, Path(args.out), guide_for(operation), _changelog_text(operation))
    for path in written:
        out.write(f"wrote {path}\n")
    return EXIT_OK


def cmd_upgrade_check(args: argparse.Namespace, out: TextIO) -> int:
    from .upgrade import compare, manifest_from

    old, new = manifest_from(args.old), manifest_from(args.new)
    changes = compare(old, new)
    needs = [c for c in changes if c.needs_action]
    for change in changes:
        out.write(f"{change}\n")
    verdict = f"{len(needs)} change(s) need an admin's action" if needs else "nothing to act on"
    out.write(f"{old.name} {old.version} -> {new.name} {new.version}: {verdict}\n")
    return EXIT_FAILED if needs else EXIT_OK


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from simulators.demo import run_demo
    except ImportError:
        raise ConfigError(
            "the demo needs the simulators from a checkout: run `make demo` there"
        ) from None
    return run_demo(out)


def _common(parser: argparse.ArgumentParser, *, config: bool, fmt: Sequence[str] = ()) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log to stderr (-v info, -vv debug)",
    )
    if config:
        parser.add_argument(
            "--config",
            action="append",
            metavar="NAME=VALUE",
            help="a configuration field (repeatable)",
        )
        parser.add_argument("--config-file", metavar="FILE", help="YAML mapping of fields")
        parser.add_argument(
            "--proxy", metavar="URL", help="the platform proxy (used only when use_proxy is on)"
        )
    if fmt:
        parser.add_argument("--format", choices=fmt, default=fmt[0])


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
        "--no-progress",
        action="store_true",
        help="no progress bar (it is shown only when stderr is a terminal)",
    )
    _common(run, config=True, fmt=("table", "json", "jsonl"))
    run.set_defaults(handler=cmd_run)

    test = sub.add_parser("test-connection", help="check config, reachability, TLS and credential")
    test.add_argument("operation")
    test.add_argument("--steps", action="store_true", help="show every step, not just the verdict")
    _common(test, config=True, fmt=("text", "json"))
    test.set_defaults(handler=cmd_test_connection)

    listing = sub.add_parser("list", help="installed operations")
    _common(listing, config=False, fmt=("table", "json"))
    listing.set_defaults(handler=cmd_list)

    describe = sub.add_parser("describe", help="an operation's fields, actions and mapping")
    describe.add_argument("operation")
    _common(describe, config=False, fmt=("table", "json"))
    describe.set_defaults(handler=cmd_describe)

    validate = sub.add_parser("validate", help="validate manifests (default: every installed)")
    validate.add_argument("manifests", nargs="*", metavar="MANIFEST")
    _common(validate, config=False)
    validate.set_defaults(handler=cmd_validate)

    mapper = sub.add_parser("map", help="map saved vendor responses offline")
    mapper.add_argument("operation")
    mapper.add_argument("action")
    mapper.add_argument("responses", nargs="+", metavar="RESPONSE.json")
    mapper.add_argument("--type", help="the selected indicator's type, if the mapping needs it")
    mapper.add_argument("--value", help="the selected indicator's value")
    _common(mapper, config=False, fmt=("json", "table"))
    mapper.set_defaults(handler=cmd_map)

    docs = sub.add_parser("docs", help="the operation guide in Markdown, from the manifest")
    docs.add_argument("operation")
    docs.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    _common(docs, config=False)
    docs.set_defaults(handler=cmd_docs)

    bundler = sub.add_parser("bundle", help="write an operation's uploadable integration file")
    bundler.add_argument("operation")
    bundler.add_argument("--out", required=True, metavar="DIR")
    _common(bundler, config=False)
    bundler.set_defaults(handler=cmd_bundle)

    upgrade = sub.add_parser("upgrade-check", help="what an upgrade changes for an admin")
    upgrade.add_argument("old", metavar="OLD", help="old integration file (.whl) or manifest")
    upgrade.add_argument("new", metavar="NEW", help="new integration file (.whl) or manifest")
    upgrade.set_defaults(handler=cmd_upgrade_check)

    demo = sub.add_parser("demo", help="both operations against the bundled simulators")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_FILTER)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.set_name("tqops-cli")
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "tqops-cli"] + [handler]
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))


_TAKES_ANY_TEXT = ("--value", "--option", "--config")


def _glue(argv: Sequence[str]) -> list[str]:
    """``--value -x.exe`` -> ``--value=-x.exe``: an indicator may start with '-' (a Filename),
    which argparse would otherwise take for an option."""
    glued: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return glued + list(argv[index:])
        if word in _TAKES_ANY_TEXT and index + 1 < len(argv):
            glued.append(f"{word}={argv[index + 1]}")
            index += 2
        else:
            glued.append(word)
            index += 1
    return glued


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Run the command line; return the exit code (never raises for user errors)."""
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(_glue(sys.argv[1:] if argv is None else argv))
    except _UsageError as exc:
        sys.stderr.write(f"tqops: error: {exc}\n")
        return EXIT_USAGE
    _setup_logging(args.verbose)
    # The client logs one explicit line when verify_ssl is off; urllib3's per-request warning
    # would only repeat it (the command, as the application, may decide that; a library not).
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    try:
        return int(args.handler(args, out))
    except OperationError as exc:
        message = " ".join(redact(str(exc), _FILTER.secrets).split())
        sys.stderr.write(f"tqops: error: {message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("tqops: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
