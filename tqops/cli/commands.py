"""The commands: each asks the service and renders what it returns.

Exit codes: 0 every input processed (``skipped`` inputs included: policy kept them from the
vendor, which is no failure); 1 an input ended in ``error`` (all results still printed) or a
check failed; 2 a usage or configuration error (nothing sent); 130 a run
stopped by Ctrl-C (the results so far printed, the JSON document and the table closed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional, TextIO

import attrs

from tqops.cli.inputs import count_inputs, key_values, raw_config, selections
from tqops.cli.logs import RedactingFilter
from tqops.cli.progress import progress_for
from tqops.cli.render import (
    describe_dict,
    iter_results_table,
    render_coverage,
    render_describe,
    render_results_table,
    stream_json_document,
)
from tqops.config.values import Config
from tqops.errors import ConfigError
from tqops.exports.misp import misp_event
from tqops.exports.stix import check_stix, stix_bundle
from tqops.exports.values import ExportHead, exported
from tqops.model import Indicator
from tqops.running.results import Result, Selection, Status
from tqops.service import Reader, Service
from tqops.tlp import Tlp

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@attrs.define
class Context:
    """What every command is given: the service, stdout, and the log filter that learns the
    secrets of the configuration the command resolves."""

    service: Service
    out: TextIO
    redactor: RedactingFilter

    def resolve(self, operation: str, args: argparse.Namespace) -> Config:
        config = self.service.resolve_config(operation, raw_config(args))
        self.redactor.learn(config.secrets())
        return config


def _print_json(document: Any, out: TextIO) -> None:
    out.write(json.dumps(document, ensure_ascii=False, indent=1) + "\n")


def run(args: argparse.Namespace, ctx: Context) -> int:
    operation = ctx.service.operation(args.operation)
    spec = operation.manifest.action(args.action)
    config = ctx.resolve(operation.name, args)
    options = key_values(args.option or [], "--option")
    max_tlp = Tlp.parse(args.max_tlp)
    selected = selections(args)
    if args.format == "stix":
        check_stix()  # refused before anything is sent, not after the run
    out = ctx.out
    job = ctx.service.run(
        operation.name,
        spec.name,
        config,
        options,
        selected,
        concurrency=args.concurrency,
        proxy=args.proxy,
        ordered=args.format != "jsonl",
        max_tlp=max_tlp,
    )
    failed = interrupted = False
    reader = ctx.service.reader(operation.name, spec.name, config)

    def tally(stream: Iterable[Result]) -> Iterator[Result]:
        nonlocal failed, interrupted
        results = iter(stream)
        while not interrupted:
            try:
                result = next(results)
            except StopIteration:
                return
            except KeyboardInterrupt:  # Ctrl-C while waiting for results: stop sending
                interrupted = True
                job.cancel()
                return
            failed |= result.status is Status.ERROR
            yield result

    # Every format streams: memory is bounded by the in-flight window, not the input count.
    with job, progress_for(count_inputs(args), enabled=not args.no_progress) as progress:
        chunks = _rendered(
            args.format,
            operation,
            spec,
            tally(progress.track(job)),
            out,
            reader,
            args,
            config.secrets(),
        )
        try:
            for chunk in chunks:
                out.write(chunk)
                out.flush()
        except KeyboardInterrupt:  # Ctrl-C while writing: the results stop, the rest is closed
            interrupted = True
            job.cancel()
            for chunk in chunks:
                out.write(chunk)
            out.flush()
    if interrupted:
        sys.stderr.write(
            "tqops: interrupted: nothing more was sent; the results so far are written\n"
        )
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


def _rendered(
    fmt: str,
    operation: Any,
    spec: Any,
    results: Iterator[Result],
    out: TextIO,
    reader: Reader,
    args: argparse.Namespace,
    secrets: Sequence[str] = (),
) -> Iterator[str]:
    """The run's output in ``fmt``, chunk by chunk; the JSON document and the table's summary
    are closed even when the results stop early. Found indicators carry their ``summary`` in
    JSON; the table shows it instead of every attribute (``--all-attributes``: each group)."""
    if fmt == "jsonl":
        for result in results:
            line = {
                "operation": operation.name,
                "action": spec.name,
                **result.to_dict(reader.summary),
            }
            yield json.dumps(line, ensure_ascii=False) + "\n"
    elif fmt in ("stix", "misp"):
        about = ExportHead(operation.name, operation.manifest.label, spec.name)
        items = (exported(r.to_dict(), r.input.tlp, secrets) for r in results)
        yield from (stix_bundle if fmt == "stix" else misp_event)(about, items)
    elif fmt == "json":
        head = {"operation": operation.name, "action": spec.name}
        documents = (r.to_dict(reader.summary) for r in results)
        yield from stream_json_document(head, "results", documents)
    else:
        label = operation.manifest.label
        width = terminal_width(out)
        yield from iter_results_table(
            label, spec.label, results, width, reader, args.all_attributes
        )


def terminal_width(out: TextIO) -> Optional[int]:
    """The terminal's width when ``out`` is one, else None (a pipe or file: tables as ever)."""
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return shutil.get_terminal_size().columns
    return None


def test_connection(args: argparse.Namespace, ctx: Context) -> int:
    operation = ctx.service.operation(args.operation)
    config = ctx.resolve(operation.name, args)
    report = ctx.service.test_connection(operation.name, config, proxy=args.proxy)
    out = ctx.out
    if args.format == "json":
        _print_json(report.to_dict(), out)
        return EXIT_OK if report.ok else EXIT_FAILED
    if args.steps:
        for step in report.steps:
            out.write(f"{step}\n")
    step = report.failed
    if step is not None:
        hint = f"; {step.hint}" if step.hint else ""
        out.write(f"FAILED {operation.manifest.label} {step.name}: {step.detail}{hint}\n")
        return EXIT_FAILED
    out.write(f"OK {report.steps[-1].detail}\n")
    return EXIT_OK


def listing(args: argparse.Namespace, ctx: Context) -> int:
    found = ctx.service.operations()
    broken = [info for info in found if info.error]
    if args.format == "json":
        _print_json([info.to_dict() for info in found], ctx.out)
        return EXIT_FAILED if broken else EXIT_OK
    for info in found:
        if info.error:
            ctx.out.write(f"{info.name:<12} BROKEN   {info.error}\n")
            continue
        actions = ", ".join(f"{name} ({label})" for name, label in info.actions)
        ctx.out.write(f"{info.name:<12} {info.version:<8} {info.label}: {actions}\n")
    return EXIT_FAILED if broken else EXIT_OK


def describe(args: argparse.Namespace, ctx: Context) -> int:
    manifest = ctx.service.describe(args.operation)
    if args.format == "json":
        _print_json(describe_dict(manifest), ctx.out)
    else:
        ctx.out.write(render_describe(manifest, terminal_width(ctx.out)))
    return EXIT_OK


def validate(args: argparse.Namespace, ctx: Context) -> int:
    checked = ctx.service.validate(args.manifests)
    for item in checked:
        if args.manifests and not item.ok:
            ctx.out.write(f"INVALID {item.source}: {len(item.problems)} problem(s)\n")
            ctx.out.writelines(f"  - {problem}\n" for problem in item.problems)
        elif args.manifests:
            ctx.out.write(f"OK {item.source}: {item.name} {item.version}\n")
        elif not item.ok:
            ctx.out.write(f"BROKEN {item.name}: {item.problems[0]}\n")
        else:
            ctx.out.write(
                f"OK {item.name}: {item.source} {item.version} "
                f"({item.actions} action(s), code and mappings match)\n"
            )
    # an invalid manifest is a usage error, as a bad configuration is: exit 2
    return EXIT_OK if all(item.ok for item in checked) else EXIT_USAGE


def _read_json(name: str) -> Any:
    try:
        return json.loads(Path(name).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{name} is not JSON: {exc}") from None


def map_responses(args: argparse.Namespace, ctx: Context) -> int:
    operation = ctx.service.operation(args.operation)
    spec = operation.manifest.action(args.action)
    documents = [_read_json(name) for name in args.responses]
    selected: Optional[Indicator] = None
    if args.type and args.value:
        selected = Indicator(value=args.value, type=args.type)
    report = ctx.service.map(
        operation.name,
        spec.name,
        documents,
        selected,
        config=raw_config(args),
        coverage=args.coverage,
    )
    if args.format == "table":
        result = Result(
            Selection(args.type or "-", ", ".join(args.responses)),
            Status.OK if report.mapped.indicators else Status.NO_RESULTS,
            report.mapped.indicators,
            None,
            report.mapped.warnings,
        )
        width = terminal_width(ctx.out)
        ctx.out.write(
            render_results_table(
                operation.manifest.label,
                spec.label,
                [result],
                width=width,
                reader=report.reader,
                every=args.all_attributes,
            )
        )
        if report.coverage is not None:
            ctx.out.write(render_coverage(report.coverage))
        return EXIT_OK
    _print_json(report.to_dict(), ctx.out)
    return EXIT_OK


def docs(args: argparse.Namespace, ctx: Context) -> int:
    guide = ctx.service.docs(args.operation)
    if args.out:
        Path(args.out).write_text(guide, encoding="utf-8")
    else:
        ctx.out.write(guide)
    return EXIT_OK


def bundle(args: argparse.Namespace, ctx: Context) -> int:
    for path in ctx.service.bundle(args.operation, Path(args.out)):
        ctx.out.write(f"wrote {path}\n")
    return EXIT_OK


def new(args: argparse.Namespace, ctx: Context) -> int:
    written = ctx.service.new_operation(args.name, args.dir)
    root = Path(os.path.commonpath([str(p) for p in written]))
    shown = str(root) if root.is_absolute() else f"./{root}"  # pip reads `name[test]` as a name
    package = f"{args.name}_operation"
    ctx.out.write(f"wrote {len(written)} files in {root}\n")
    ctx.out.writelines(f"  {p.relative_to(root)}\n" for p in written)
    ctx.out.write(
        "next (docs/adding-an-operation.md in tqops walks through each step):\n"
        f"  pip install -e '{shown}[test]'\n"
        f"  tqops validate {root / package / (args.name + '.yaml')}\n"
        f"  pytest {root / 'tests'}\n"
        f"  tqops bundle {args.name} --out dist/\n"
    )
    return EXIT_OK


def upgrade_check(args: argparse.Namespace, ctx: Context) -> int:
    report = ctx.service.upgrade_check(args.old, args.new)
    for change in report.changes:
        ctx.out.write(f"{change}\n")
    needs = report.needs_action
    verdict = f"{len(needs)} change(s) need an admin's action" if needs else "nothing to act on"
    old, new = report.old, report.new
    ctx.out.write(f"{old.name} {old.version} -> {new.name} {new.version}: {verdict}\n")
    return EXIT_FAILED if needs else EXIT_OK


def demo(args: argparse.Namespace, ctx: Context) -> int:
    # The simulators live in the checkout only (they import tqops, never the reverse).
    raise ConfigError("the demo runs from a checkout of tqops: run `make demo` there")
