"""What the command line gives a command: configuration values, options and the selected
indicators (``--type``/``--value`` pairs and a ``type,value`` CSV, read as it is consumed)."""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional, TextIO

import yaml

from ..errors import ConfigError
from ..results import Selection

__all__ = ["UsageError", "count_inputs", "key_values", "raw_config", "selections"]


class UsageError(ConfigError):
    """A command line that cannot be taken (exit 2, nothing sent)."""


def key_values(pairs: Sequence[str], flag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            # never echo the argument: a forgotten "name=" leaves a bare secret here
            raise UsageError(f"{flag} expects name=value; got an argument without a name=")
        values[name.strip()] = value
    return values


def raw_config(args: argparse.Namespace) -> dict[str, Any]:
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
    raw.update(key_values(args.config or [], "--config"))
    return raw


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


def selections(args: argparse.Namespace) -> Iterator[Selection]:
    types, values = args.type or [], args.value or []
    if len(types) != len(values):
        raise UsageError("give --type and --value in pairs, one --type before each --value")
    if not types and not args.input:
        raise UsageError("select indicators with --type T --value V or --input FILE.csv")
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


def count_inputs(args: argparse.Namespace) -> Optional[int]:
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
