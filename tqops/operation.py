"""Operations: one per vendor, found through the ``tqops.operations`` entry points.

An :class:`Operation` binds a manifest to code: a client factory, one function per manifest
action (checked both ways when the operation is defined), extra transforms and a connection
test. :meth:`Operation.run` runs an action over selected indicators, each with its own
:class:`Result`: one bad value or failed call never stops the others.
"""

from __future__ import annotations

import concurrent.futures as futures
import importlib
import logging
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional, Union

import attrs

from .config import Config, redact, validate_config, validate_options
from .errors import ConfigError, InputError, ManifestError, OperationError
from .http import HttpSettings
from .indicators import check_indicator
from .manifest import ActionSpec, Manifest
from .mapping import Mapper
from .model import Indicator, IndicatorType
from .transforms import Transform

__all__ = [
    "ActionFunction",
    "Notice",
    "Operation",
    "Result",
    "Selection",
    "discover_operations",
    "load_operation",
]

log = logging.getLogger("tqops.operation")

#: ``action(client, indicator, options) -> responses`` (each response is parsed JSON)
ActionFunction = Callable[[Any, Indicator, Mapping[str, Any]], Iterable[Any]]
ClientFactory = Callable[[Config, HttpSettings], Any]
ConnectionTest = Callable[[Any], str]

ENTRY_POINT_GROUP = "tqops.operations"


@attrs.frozen
class Notice:
    """Something an action tells the user about a result (e.g. a page cap reached).

    Action functions may yield notices among their responses; they become the result's
    warnings.
    """

    message: str


@attrs.frozen
class Selection:
    """A selected indicator as given (type name and value), before any check."""

    type: str
    value: str

    @classmethod
    def of(cls, item: Union[Selection, Indicator, tuple[str, str]]) -> Selection:
        if isinstance(item, Selection):
            return item
        if isinstance(item, Indicator):
            return cls(item.type.value, item.value)
        return cls(str(item[0]), str(item[1]))


@attrs.frozen
class Result:
    """The outcome for one selected indicator: ``ok``, ``no_results`` or ``error``."""

    input: Selection
    status: str
    indicators: tuple[Indicator, ...] = ()
    error: Optional[str] = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": {"type": self.input.type, "value": self.input.value},
            "status": self.status,
            "error": self.error,
            "warnings": list(self.warnings),
            "indicators": [i.to_dict() for i in self.indicators],
        }


@attrs.frozen
class Operation:
    """A vendor's operation: its manifest and the code behind it."""

    manifest: Manifest
    client_factory: ClientFactory
    actions: Mapping[str, ActionFunction]
    test_connection: ConnectionTest
    transforms: Mapping[str, Transform] = attrs.field(factory=dict)
    mappers: Mapping[str, Mapper] = attrs.field(factory=dict)
    #: the import name of the package that defines the operation
    package: Optional[str] = None

    @classmethod
    def define(
        cls,
        manifest: Manifest,
        client_factory: ClientFactory,
        actions: Mapping[str, ActionFunction],
        test_connection: ConnectionTest,
        transforms: Optional[Mapping[str, Transform]] = None,
        package: Optional[str] = None,
    ) -> Operation:
        """Bind code to a manifest, checking both directions and compiling every mapping."""
        declared = {a.name for a in manifest.actions}
        problems = [
            f"action {name!r} is in the manifest but has no function"
            for name in sorted(declared - set(actions))
        ] + [
            f"function for action {name!r} is not in the manifest"
            for name in sorted(set(actions) - declared)
        ]
        mappers = {}
        for action in manifest.actions:
            try:
                mappers[action.name] = Mapper.compile(action.mapping, transforms)
            except ManifestError as exc:
                problems += [f"{p} @ action {action.name!r}" for p in exc.problems]
        if problems:
            raise ManifestError(
                f"operation {manifest.name!r} does not match its manifest", tuple(problems)
            )
        return cls(
            manifest,
            client_factory,
            dict(actions),
            test_connection,
            dict(transforms or {}),
            mappers,
            package,
        )

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def package_dir(self) -> Optional[Path]:
        """Where the operation's package lives (for its samples and bundling)."""
        if not self.package:
            return None
        module = sys.modules.get(self.package) or importlib.import_module(self.package)
        return Path(module.__file__).parent if module.__file__ else None

    def configure(self, raw: Mapping[str, Any]) -> Config:
        return validate_config(self.manifest, raw)

    def client(self, config: Config, proxy: Optional[str] = None, pool_size: int = 8) -> Any:
        """A vendor client for this configuration (one pooled session)."""
        settings = HttpSettings.from_config(config, proxy=proxy, pool_size=pool_size)
        return self.client_factory(config, settings)

    def check_connection(self, config: Config, proxy: Optional[str] = None) -> str:
        """Run the operation's connection test; raise the error that explains a failure."""
        client = self.client(config, proxy, pool_size=1)
        try:
            return self.test_connection(client)
        finally:
            _close(client)

    def map(
        self, action: str, documents: Iterable[Any], selected: Optional[Indicator] = None
    ) -> Any:
        """Map saved vendor responses offline with an action's mapping table."""
        self.manifest.action(action)
        return self.mappers[action].map_all(documents, selected)

    def run(
        self,
        action: str,
        config: Config,
        options: Mapping[str, Any],
        inputs: Iterable[Union[Selection, Indicator, tuple[str, str]]],
        *,
        concurrency: int = 8,
        proxy: Optional[str] = None,
        ordered: bool = True,
    ) -> Iterator[Result]:
        """Run ``action`` over ``inputs``; yield one :class:`Result` per input.

        Options are checked first (an :class:`InputError` before anything is sent). With
        ``ordered`` the results come in input order, else as they complete. At most
        ``concurrency`` calls are in flight, and only a window of inputs is held in memory.
        """
        spec = self.manifest.action(action)
        checked = validate_options(spec.options, options, spec.label)  # now, not lazily
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        client = self.client(config, proxy, pool_size=concurrency)
        secrets = config.secrets()

        def one(item: Any) -> Result:
            return self._run_one(spec, client, Selection.of(item), checked, secrets)

        def results() -> Iterator[Result]:
            try:
                if concurrency == 1:
                    for indicator in inputs:
                        yield one(indicator)
                    return
                yield from _pooled(one, inputs, concurrency, ordered)
            finally:
                _close(client)

        return results()

    def _run_one(
        self,
        spec: ActionSpec,
        client: Any,
        selection: Selection,
        options: Mapping[str, Any],
        secrets: tuple[str, ...],
    ) -> Result:
        try:
            indicator = Indicator(
                value=selection.value, type=IndicatorType.from_name(selection.type)
            )
            if indicator.type not in spec.indicator_types:
                accepted = ", ".join(t.value for t in spec.indicator_types)
                raise InputError(
                    f"{spec.label} does not take {indicator.type.value} indicators; "
                    f"it takes: {accepted}"
                )
            selected = check_indicator(indicator)
            notices: list[str] = []
            responses = _documents(self.actions[spec.name](client, selected, options), notices)
            mapped = self.mappers[spec.name].map_all(responses, selected)
        except OperationError as exc:
            return Result(selection, "error", error=_one_line(redact(str(exc), secrets)))
        except Exception as exc:  # a bug: report it on this input, keep the others going
            log.error("internal error on %s %r", selection.type, selection.value, exc_info=True)
            message = redact(f"internal error (a bug): {type(exc).__name__}: {exc}", secrets)
            return Result(selection, "error", error=_one_line(message))
        status = "ok" if mapped.indicators else "no_results"
        warnings = tuple(redact(w, secrets) for w in (*notices, *mapped.warnings))
        return Result(selection, status, mapped.indicators, None, warnings)


def _documents(items: Iterable[Any], notices: list[str]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, Notice):
            notices.append(item.message)
        else:
            yield item


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        close()


def _pooled(
    work: Callable[[Any], Result],
    inputs: Iterable[Any],
    concurrency: int,
    ordered: bool,
) -> Iterator[Result]:
    window = concurrency * 2
    source = iter(inputs)
    with futures.ThreadPoolExecutor(concurrency, thread_name_prefix="tqops") as pool:
        pending: deque[futures.Future[Result]] = deque()

        def fill() -> None:
            while len(pending) < window:
                try:
                    indicator = next(source)
                except StopIteration:
                    return
                pending.append(pool.submit(work, indicator))

        fill()
        while pending:
            if ordered:
                yield pending.popleft().result()
            else:
                done, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for future in [f for f in pending if f in done]:
                    pending.remove(future)
                    yield future.result()
            fill()


# --- discovery ---------------------------------------------------------------------------------


def _entry_points() -> Sequence[Any]:
    from importlib import metadata

    if sys.version_info >= (3, 10):
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    return list(metadata.entry_points().get(ENTRY_POINT_GROUP, ()))  # pragma: no cover


def discover_operations() -> dict[str, Operation]:
    """Every installed operation by name; a broken plugin is an error that names it."""
    found: dict[str, Operation] = {}
    for entry in sorted(_entry_points(), key=lambda e: e.name):
        if entry.name in found:
            continue
        try:
            operation = entry.load()
        except OperationError as exc:
            raise ManifestError(f"operation plugin {entry.name!r} failed to load: {exc}") from None
        except Exception as exc:
            raise ManifestError(
                f"operation plugin {entry.name!r} ({entry.value}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(operation, Operation):
            raise ManifestError(
                f"operation plugin {entry.name!r} ({entry.value}) is a "
                f"{type(operation).__name__}, not an Operation"
            )
        if operation.name != entry.name:
            raise ManifestError(
                f"operation plugin {entry.name!r} carries a manifest named {operation.name!r}"
            )
        found[entry.name] = operation
    return found


def load_operation(name: str) -> Operation:
    """The installed operation ``name``; a :class:`ConfigError` lists the installed ones."""
    operations = discover_operations()
    if name not in operations:
        known = ", ".join(operations) or "none"
        raise ConfigError(f"no operation named {name[:40]!r} is installed; installed: {known}")
    return operations[name]
