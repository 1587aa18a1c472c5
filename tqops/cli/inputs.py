"""What the command line gives a command: configuration values, options and the selected
indicators (``--type``/``--value`` pairs and a ``type,value`` CSV, read as it is consumed)."""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import yaml

from tqops.config.files import FileRefused, read_regular_file
from tqops.errors import ConfigError, ManifestError
from tqops.manifest.document import _StrictLoader
from tqops.running.csvinput import selections_from_csv
from tqops.running.results import Selection

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
        if name.strip() in values:  # which one was meant? (the name is no secret; values are)
            raise UsageError(f"{flag} {name.strip()[:40]} is given twice; give it once")
        values[name.strip()] = value
    return values


#: the largest --config-file taken (a configuration is a few fields; YAML parsing is slow)
MAX_CONFIG_FILE_BYTES = 1024 * 1024


def raw_config(args: argparse.Namespace) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if args.config_file:
        # the path is never echoed: it is a value, and a misplaced secret can land there
        try:
            text = read_regular_file(args.config_file, MAX_CONFIG_FILE_BYTES).decode("utf-8-sig")
            loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except OSError as exc:
            raise ConfigError(f"cannot read the --config-file: {exc.strerror}") from None
        except FileRefused as exc:
            raise ConfigError(f"cannot read the --config-file: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"the --config-file is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8"
            ) from None
        except ManifestError as exc:  # the strict loader's duplicate key
            raise ConfigError(f"the --config-file has a {exc}") from None
        except yaml.YAMLError:
            raise ConfigError("the --config-file is not valid YAML") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError("the --config-file must hold a mapping of fields")
        raw.update({str(k): v for k, v in loaded.items()})
    raw.update(key_values(args.config or [], "--config"))
    return raw


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
        binary = getattr(sys.stdin, "buffer", None)
        if binary is None:  # a text stream put in place of stdin (tests, embedding)
            binary = io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))
        return itertools.chain(given, selections_from_csv(binary, "-"))
    try:
        handle = open(args.input, "rb")  # noqa: SIM115 - closed by the rows' iterator
    except OSError as exc:
        raise ConfigError(f"cannot read --input {args.input}: {exc.strerror}") from None
    return itertools.chain(given, selections_from_csv(handle, args.input))


def count_inputs(args: argparse.Namespace) -> Optional[int]:
    """How many inputs a run has, for the progress bar (None when it cannot know): the lines
    of a regular file, counted in chunks (never a line at a time: a line may be endless)."""
    total = len(args.type or [])
    if not args.input:
        return total
    if args.input == "-" or not os.path.isfile(args.input):
        return None
    lines = 0
    try:
        with open(args.input, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                lines += chunk.count(b"\n")
    except OSError:
        return None
    return total + max(0, lines - 1)
